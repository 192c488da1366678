// projctl: the command-line client and local test runner (SPEC §7).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "dsl/compiler.h"
#include "dsl/time.h"
#include "dsl/value.h"
#include "engine/http_server.h"
#include "engine/replay.h"

namespace {

using projd::Value;

const char kUsage[] =
    "usage:\n"
    "  projctl check FILE...\n"
    "  projctl test FILE --events EVENTS.jsonl [--view NAME] [--expect EXPECTED.json]\n"
    "               [--schema WRITER.avsc]   (format avro: events given as JSON)\n"
    "  projctl test DIR\n"
    "  projctl diff OLD.proj NEW.proj --events EVENTS.jsonl [--view NAME]\n"
    "  projctl explain VIEW KEY [--events EVENTS.jsonl --file F.proj]\n"
    "  projctl [--server URL] [--token T] status\n"
    "  projctl [--server URL] [--token T] get VIEW KEY [--as-of T]\n"
    "  projctl [--server URL] [--token T] history VIEW KEY\n"
    "  projctl [--server URL] [--token T] dead-letters VIEW\n"
    "  projctl [--server URL] [--token T] skip VIEW\n"
    "  projctl [--server URL] [--token T] rebuild VIEW [--wait]\n"
    "  projctl [--server URL] [--token T] query 'from VIEW ...' [--json]\n"
    "  projctl [--server URL] [--token T] drop VIEW\n"
    "The server defaults to $PROJD_SERVER or http://127.0.0.1:8080.\n";

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

int Check(const std::vector<std::string>& files) {
  if (files.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  std::vector<std::pair<std::string, std::string>> sources;
  for (const auto& f : files) {
    std::string text;
    if (!ReadFile(f, &text)) {
      std::cerr << f << ": cannot read file\n";
      return 1;
    }
    sources.emplace_back(f, text);
  }
  projd::CompiledFile result = projd::CompileFiles(sources);
  for (const auto& d : result.diagnostics) std::cerr << d.Format();
  if (!result.ok()) {
    std::cerr << result.diagnostics.size()
              << (result.diagnostics.size() == 1 ? " error" : " errors") << "\n";
    return 1;
  }
  for (const auto& p : result.projections) {
    std::cout << p->file() << ": projection " << p->name() << " ok\n";
  }
  return 0;
}

// Prints the differences between two views to `out`; returns their count.
int DiffViews(const Value& want, const Value& got, const std::string& prefix,
              std::ostream& out = std::cout) {
  int n = 0;
  const projd::Object& w = want.as_object();
  const projd::Object& g = got.as_object();
  for (const auto& [k, v] : w.members()) {
    const Value* gv = g.Find(k);
    if (!gv) {
      out << "- " << prefix << k << ": " << projd::ToJson(v) << "  (expected, missing)\n";
      ++n;
    } else if (!(*gv == v)) {
      if (v.is_object() && gv->is_object()) {
        for (const auto& [f, fv] : v.as_object().members()) {
          const Value* gf = gv->as_object().Find(f);
          if (!gf) {
            out << "~ " << prefix << k << "." << f << ": " << projd::ToJson(fv)
                << " -> (missing)\n";
          } else if (!(*gf == fv)) {
            out << "~ " << prefix << k << "." << f << ": " << projd::ToJson(fv) << " -> "
                << projd::ToJson(*gf) << "\n";
          }
        }
        for (const auto& [f, gf] : gv->as_object().members()) {
          if (!v.as_object().Find(f)) {
            out << "~ " << prefix << k << "." << f << ": (missing) -> " << projd::ToJson(gf)
                << "\n";
          }
        }
      } else {
        out << "~ " << prefix << k << ": " << projd::ToJson(v) << " -> " << projd::ToJson(*gv)
            << "\n";
      }
      ++n;
    }
  }
  for (const auto& [k, v] : g.members()) {
    if (!w.Find(k)) {
      out << "+ " << prefix << k << ": " << projd::ToJson(v) << "  (unexpected)\n";
      ++n;
    }
  }
  return n;
}

// projctl test DIR: every DIR/NAME.proj is a golden case, laid out as in tests/golden:
//   NAME.jsonl + NAME.expected.json  the events, and the view they must give ({key: row}, or
//                                    {view: {key: row}} when the file holds several projections)
//   NAME.dead (optional)             the dead letters, one per line "TOPIC:PARTITION:OFFSET:
//   reason"
//                                    (several projections: "VIEW TOPIC:..."); none when absent
//   NAME.errors                      instead: the file must not compile, and its diagnostics
//                                    must read exactly so
// Prints a PASS or FAIL line per case (with the differences under a FAIL) and a summary line;
// exit 0 only when every case passes.
namespace fs = std::filesystem;

std::string TrimEnd(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// Runs one case; on failure returns false with the differences in *report.
bool RunGoldenCase(const fs::path& proj, std::ostream& report) {
  fs::path base = proj;
  base.replace_extension();
  std::string name = base.filename().string();
  std::string text, expected_text;
  if (!ReadFile(proj.string(), &text)) {
    report << "cannot read " << proj.filename().string() << "\n";
    return false;
  }
  projd::CompiledFile compiled = projd::CompileFile(proj.filename().string(), text);
  std::string diagnostics;
  for (const auto& d : compiled.diagnostics) diagnostics += d.Format();
  if (ReadFile(base.string() + ".errors", &expected_text)) {
    if (compiled.ok()) {
      report << "expected errors (" << name << ".errors), but the file compiles\n";
      return false;
    }
    if (TrimEnd(diagnostics) == TrimEnd(expected_text)) return true;
    report << "diagnostics differ from " << name << ".errors\nexpected:\n";
    for (const auto& l : Lines(TrimEnd(expected_text))) report << "  " << l << "\n";
    report << "got:\n";
    for (const auto& l : Lines(TrimEnd(diagnostics))) report << "  " << l << "\n";
    return false;
  }
  if (!compiled.ok()) {
    report << diagnostics;
    return false;
  }
  std::string events = base.string() + ".jsonl";
  if (!fs::exists(events)) {
    report << "missing " << name << ".jsonl (the events) or " << name << ".errors\n";
    return false;
  }
  if (!ReadFile(base.string() + ".expected.json", &expected_text)) {
    report << "missing " << name << ".expected.json (the view the events must give)\n";
    return false;
  }
  Value expected;
  std::string error;
  if (!projd::ParseJson(expected_text, &expected, &error) || !expected.is_object()) {
    report << name << ".expected.json: not a JSON object: " << error << "\n";
    return false;
  }
  bool several = compiled.projections.size() > 1;
  projd::Object views;
  std::string dead;
  for (const auto& p : compiled.projections) {
    projd::ReplayResult r;
    if (!projd::Replay(p, events, &r, &error)) {
      report << error << "\n";
      return false;
    }
    std::string prefix = several ? p->name() + " " : "";
    for (const auto& d : r.dead_letters) {
      dead += prefix + d.topic + ":" + std::to_string(d.partition) + ":" +
              std::to_string(d.offset) + ": " + d.reason + "\n";
    }
    if (r.stopped) dead += prefix + "stopped at " + r.stop_at + ": " + r.stop_reason + "\n";
    views.Set(p->name(), projd::ViewToJson(r.rows));
  }
  int diffs = 0;
  if (!several) {
    diffs = DiffViews(expected, *views.Find(compiled.projections[0]->name()), "", report);
  } else {
    for (const auto& [view, got] : views.members()) {
      const Value* want = expected.as_object().Find(view);
      if (!want || !want->is_object()) {
        report << "view " << view << " is missing from " << name << ".expected.json\n";
        ++diffs;
        continue;
      }
      diffs += DiffViews(*want, got, view + " ", report);
    }
    for (const auto& [view, want] : expected.as_object().members()) {
      if (!views.Find(view)) {
        report << "- view " << view << ": no projection of that name\n";
        ++diffs;
      }
    }
  }
  std::string want_dead;
  ReadFile(base.string() + ".dead", &want_dead);  // absent: no dead letters expected
  std::vector<std::string> want_lines = Lines(TrimEnd(want_dead));
  std::vector<std::string> got_lines = Lines(TrimEnd(dead));
  if (want_lines != got_lines) {
    for (const auto& l : want_lines) {
      if (std::find(got_lines.begin(), got_lines.end(), l) == got_lines.end()) {
        report << "- dead letter " << l << "  (expected, missing)\n";
      }
    }
    for (const auto& l : got_lines) {
      if (std::find(want_lines.begin(), want_lines.end(), l) == want_lines.end()) {
        report << "+ dead letter " << l << "  (unexpected)\n";
      }
    }
    ++diffs;
  }
  return diffs == 0;
}

int TestDir(const std::string& dir) {
  std::vector<fs::path> cases;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".proj") cases.push_back(e.path());
  }
  if (ec) {
    std::cerr << dir << ": " << ec.message() << "\n";
    return 1;
  }
  if (cases.empty()) {
    std::cerr << "projctl test: no NAME.proj cases in " << dir << "\n";
    return 1;
  }
  std::sort(cases.begin(), cases.end());
  int failed = 0;
  for (const auto& c : cases) {
    std::ostringstream report;
    bool ok = RunGoldenCase(c, report);
    std::cout << (ok ? "PASS " : "FAIL ") << c.stem().string() << "\n";
    if (!ok) {
      ++failed;
      for (const auto& l : Lines(report.str())) std::cout << "    " << l << "\n";
    }
  }
  int total = static_cast<int>(cases.size());
  std::cout << total << (total == 1 ? " case: " : " cases: ") << total - failed << " passed, "
            << failed << " failed\n";
  return failed == 0 ? 0 : 1;
}

int Test(const std::vector<std::string>& args) {
  std::string file, events, view, expect, schema_file;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto next = [&](std::string* out) {
      if (i + 1 >= args.size()) return false;
      *out = args[++i];
      return true;
    };
    if (a == "--events") {
      if (!next(&events)) return 2;
    } else if (a == "--view") {
      if (!next(&view)) return 2;
    } else if (a == "--expect") {
      if (!next(&expect)) return 2;
    } else if (a == "--schema") {
      if (!next(&schema_file)) return 2;
    } else if (file.empty() && a.rfind("--", 0) != 0) {
      file = a;
    } else {
      std::cerr << "projctl test: unexpected argument '" << a << "'\n" << kUsage;
      return 2;
    }
  }
  if (!file.empty() && fs::is_directory(file)) {
    if (!events.empty() || !view.empty() || !expect.empty() || !schema_file.empty()) {
      std::cerr << "projctl test DIR takes no other arguments\n" << kUsage;
      return 2;
    }
    return TestDir(file);
  }
  if (file.empty() || events.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  std::string text;
  if (!ReadFile(file, &text)) {
    std::cerr << file << ": cannot read file\n";
    return 1;
  }
  projd::CompiledFile compiled = projd::CompileFile(file, text);
  for (const auto& d : compiled.diagnostics) std::cerr << d.Format();
  if (!compiled.ok()) return 1;
  std::vector<std::shared_ptr<const projd::Projection>> selected;
  for (const auto& p : compiled.projections) {
    if (view.empty() || p->name() == view) selected.push_back(p);
  }
  if (selected.empty()) {
    std::cerr << "projctl test: no projection named '" << view << "' in " << file << "\n";
    return 1;
  }
  // format avro: the writer schema the events (given as JSON) are encoded with.
  std::string schema;
  if (!schema_file.empty()) {
    if (!ReadFile(schema_file, &schema)) {
      std::cerr << schema_file << ": cannot read file\n";
      return 1;
    }
    bool any_avro = false;
    for (const auto& p : selected) {
      any_avro = any_avro || p->format() == projd::Projection::Format::kAvro;
    }
    if (!any_avro) {
      std::cerr << "projctl test: --schema is for format avro projections, and " << file
                << " has none" << (view.empty() ? "" : " named " + view) << "\n";
      return 2;
    }
  }
  projd::Object all;
  for (const auto& p : selected) {
    projd::ReplayResult r;
    std::string error;
    if (!projd::Replay(p, events, &r, &error, 65536, nullptr,
                       schema_file.empty() ? nullptr : &schema)) {
      std::cerr << "projctl test: " << error << "\n";
      return 1;
    }
    for (const auto& d : r.dead_letters) {
      std::cerr << p->name() << ": dead letter " << d.topic << ":" << d.partition << ":" << d.offset
                << ": " << d.reason << "\n";
    }
    if (r.stopped) {
      std::cerr << p->name() << ": stopped at " << r.stop_at << " (errors stop): " << r.stop_reason
                << "\n";
    }
    all.Set(p->name(), projd::ViewToJson(r.rows));
  }
  Value result =
      selected.size() == 1 ? *all.Find(selected[0]->name()) : Value::MakeObject(std::move(all));
  if (expect.empty()) {
    std::string out;
    projd::WritePrettyJson(result, &out);
    std::cout << out << "\n";
    return 0;
  }
  std::string expected_text, error;
  if (!ReadFile(expect, &expected_text)) {
    std::cerr << expect << ": cannot read file\n";
    return 1;
  }
  Value expected;
  if (!projd::ParseJson(expected_text, &expected, &error) || !expected.is_object()) {
    std::cerr << expect << ": not a JSON object: " << error << "\n";
    return 1;
  }
  int diffs = DiffViews(expected, result, "");
  if (diffs == 0) {
    std::cout << "ok: view matches " << expect << "\n";
    return 0;
  }
  std::cout << diffs << (diffs == 1 ? " difference" : " differences") << " from " << expect << "\n";
  return 1;
}

// Compiles one .proj file; prints diagnostics. nullptr-free result on success.
bool CompileOne(const std::string& path, projd::CompiledFile* out) {
  std::string text;
  if (!ReadFile(path, &text)) {
    std::cerr << path << ": cannot read file\n";
    return false;
  }
  *out = projd::CompileFile(path, text);
  for (const auto& d : out->diagnostics) std::cerr << d.Format();
  return out->ok();
}

std::shared_ptr<const projd::Projection> Pick(const projd::CompiledFile& f, const std::string& view,
                                              const std::string& path) {
  for (const auto& p : f.projections) {
    if (view.empty() || p->name() == view) return p;
  }
  std::cerr << "projctl: no projection named '" << view << "' in " << path << "\n";
  return nullptr;
}

// projctl diff OLD.proj NEW.proj --events EVENTS.jsonl [--view NAME]
int Diff(const std::vector<std::string>& args) {
  std::string old_path, new_path, events, view;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--events" && i + 1 < args.size()) {
      events = args[++i];
    } else if (args[i] == "--view" && i + 1 < args.size()) {
      view = args[++i];
    } else if (old_path.empty()) {
      old_path = args[i];
    } else if (new_path.empty()) {
      new_path = args[i];
    } else {
      std::cerr << kUsage;
      return 2;
    }
  }
  if (old_path.empty() || new_path.empty() || events.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  projd::CompiledFile a, b;
  if (!CompileOne(old_path, &a) || !CompileOne(new_path, &b)) return 1;
  auto pa = Pick(a, view, old_path);
  auto pb = Pick(b, view.empty() ? (pa ? pa->name() : "") : view, new_path);
  if (!pb && view.empty() && !b.projections.empty()) pb = b.projections[0];
  if (!pa || !pb) return 1;
  // The two replays are independent: run them side by side.
  projd::ReplayResult ra, rb;
  std::string error, error_b;
  bool ok_b = false;
  std::thread second([&] { ok_b = projd::Replay(pb, events, &rb, &error_b); });
  bool ok_a = projd::Replay(pa, events, &ra, &error);
  second.join();
  if (!ok_a || !ok_b) {
    std::cerr << "projctl diff: " << (ok_a ? error_b : error) << "\n";
    return 1;
  }
  int added = 0, removed = 0, changed = 0;
  auto ia = ra.rows.begin(), ib = rb.rows.begin();
  while (ia != ra.rows.end() || ib != rb.rows.end()) {
    if (ib == rb.rows.end() || (ia != ra.rows.end() && ia->first < ib->first)) {
      std::cout << "- " << ia->first << ": " << projd::ToJson(Value::MakeObject(ia->second.fields))
                << "\n";
      ++removed;
      ++ia;
    } else if (ia == ra.rows.end() || ib->first < ia->first) {
      std::cout << "+ " << ib->first << ": " << projd::ToJson(Value::MakeObject(ib->second.fields))
                << "\n";
      ++added;
      ++ib;
    } else {
      const projd::Object& fa = ia->second.fields;
      const projd::Object& fb = ib->second.fields;
      if (!(fa == fb)) {
        ++changed;
        for (const auto& [f, v] : fa.members()) {
          const Value* w = fb.Find(f);
          if (!w) {
            std::cout << "~ " << ia->first << "." << f << ": " << projd::ToJson(v)
                      << " -> (unset)\n";
          } else if (!(*w == v)) {
            std::cout << "~ " << ia->first << "." << f << ": " << projd::ToJson(v) << " -> "
                      << projd::ToJson(*w) << "\n";
          }
        }
        for (const auto& [f, w] : fb.members()) {
          if (!fa.Find(f)) {
            std::cout << "~ " << ia->first << "." << f << ": (unset) -> " << projd::ToJson(w)
                      << "\n";
          }
        }
      }
      ++ia;
      ++ib;
    }
  }
  int total = added + removed + changed;
  std::cout << total << (total == 1 ? " row differs" : " rows differ") << " (" << added
            << " added, " << removed << " removed, " << changed << " changed) of "
            << std::max(ra.rows.size(), rb.rows.size()) << "; " << ra.events << " events, "
            << ra.dead_letters.size() << " -> " << rb.dead_letters.size() << " dead letters\n";
  return total == 0 && ra.dead_letters.size() == rb.dead_letters.size() ? 0 : 1;
}

// projctl explain VIEW KEY --events EVENTS.jsonl --file F.proj (offline): each event that
// changed the row, the statements it ran, and the row after it.
int ExplainOffline(const std::string& view, const std::string& key, const std::string& events,
                   const std::string& file) {
  projd::CompiledFile f;
  if (!CompileOne(file, &f)) return 1;
  auto p = Pick(f, view, file);
  if (!p) return 1;
  projd::ReplayResult r;
  std::string error;
  int n = 0;
  bool ok = projd::Replay(
      p, events, &r, &error, 65536,
      [&](const projd::Message& m, const std::string& k, const std::vector<projd::TraceStep>& trace,
          const projd::RowRecord& after) {
        if (k != key) return;
        ++n;
        std::cout << m.topic << ":" << m.partition << ":" << m.offset << "  event time "
                  << projd::FormatRfc3339(after.updated_by.event_time_ms)
                  << (after.updated_by.has_id ? "  id " + after.updated_by.id : "") << "\n";
        for (const auto& t : trace) std::cout << "    line " << t.line << ": " << t.text << "\n";
        std::cout << "    row after: "
                  << (after.exists ? projd::ToJson(Value::MakeObject(after.fields))
                                   : std::string("(deleted)"))
                  << "\n";
      });
  if (!ok) {
    std::cerr << "projctl explain: " << error << "\n";
    return 1;
  }
  for (const auto& d : r.dead_letters) {
    if (d.has_key && d.key == key) {
      std::cout << d.topic << ":" << d.partition << ":" << d.offset << "  REJECTED: " << d.reason
                << "\n";
    }
  }
  if (n == 0) {
    std::cerr << "projctl explain: no event changed row " << key << " of " << p->name() << "\n";
    return 1;
  }
  return 0;
}

struct Server {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  std::string token;
};

bool ParseServer(const std::string& url, Server* s) {
  std::string rest = url;
  if (rest.rfind("http://", 0) == 0) rest = rest.substr(7);
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  size_t colon = rest.rfind(':');
  if (colon == std::string::npos) {
    s->host = rest;
    s->port = 80;
    return !rest.empty();
  }
  s->host = rest.substr(0, colon);
  std::string p = rest.substr(colon + 1);
  if (p.empty() || p.find_first_not_of("0123456789") != std::string::npos || p.size() > 5) {
    return false;
  }
  s->port = static_cast<uint16_t>(std::stoi(p));
  return true;
}

// Performs a request; prints errors. Returns the status (0 when the server is unreachable).
int Call(const Server& s, const std::string& method, const std::string& target, Value* body,
         const std::string& payload = "") {
  std::vector<std::pair<std::string, std::string>> headers;
  if (!s.token.empty()) headers.emplace_back("Authorization", "Bearer " + s.token);
  projd::HttpClientResult r;
  std::string error;
  if (!projd::HttpCall(s.host, s.port, method, target, headers, payload,
                       std::chrono::milliseconds(70000), &r, &error)) {
    std::cerr << "projctl: cannot reach projd at " << s.host << ":" << s.port << ": " << error
              << "\n";
    return 0;
  }
  std::string perr;
  if (!projd::ParseJson(r.body, body, &perr)) *body = Value::String(r.body);
  if (r.status >= 400) {
    std::string msg = body->is_object() && body->as_object().Find("error") &&
                              body->as_object().Find("error")->is_string()
                          ? body->as_object().Find("error")->as_string()
                          : r.body;
    std::string detail;
    if (body->is_object()) {
      const Value* d = body->as_object().Find("detail");
      // A detail with a formatted "text" (query errors) is printed by the caller instead.
      if (d && !d->is_null() && !(d->is_object() && d->as_object().Find("text"))) {
        detail = d->is_string() ? d->as_string() : projd::ToJson(*d);
      }
    }
    std::cerr << "projctl: " << r.status << " " << msg << (detail.empty() ? "" : ": " + detail)
              << "\n";
  }
  return r.status;
}

std::string Field(const Value& o, const char* name) {
  const Value* v = o.as_object().Find(name);
  if (!v || v->is_null()) return "-";
  if (v->is_string()) return v->as_string();
  return projd::ToJson(*v);
}

int Status(const Server& s) {
  Value body;
  int st = Call(s, "GET", "/v1/views", &body);
  if (st != 200) return 1;
  const Value* views = body.as_object().Find("views");
  printf("%-28s %-12s %12s %12s %10s %12s  %s\n", "VIEW", "STATE", "ROWS", "LAG", "LAG_S",
         "EVENTS/S", "REASON");
  for (const auto& v : views->as_array()) {
    printf("%-28s %-12s %12s %12s %10s %12s  %s\n", Field(v, "name").c_str(),
           Field(v, "state").c_str(), Field(v, "rows").c_str(), Field(v, "lag_events").c_str(),
           Field(v, "lag_seconds").c_str(), Field(v, "events_per_second").c_str(),
           Field(v, "reason") == "-" ? "" : Field(v, "reason").c_str());
  }
  return 0;
}

int PrintCall(const Server& s, const std::string& method, const std::string& target) {
  Value body;
  int st = Call(s, method, target, &body);
  if (st == 0 || st >= 400) return 1;
  std::string out;
  projd::WritePrettyJson(body, &out);
  std::cout << out << "\n";
  return 0;
}

// Prints query answers as a table: one column per field (whole rows: key, then the row's
// fields), cells in JSON form, strings bare.
int QueryCommand(const Server& s, const std::string& text, bool json) {
  Value body;
  int st = Call(s, "POST", "/v1/query", &body, text);
  if (st == 0) return 1;
  if (st >= 400) {
    if (body.is_object()) {
      if (const Value* d = body.as_object().Find("detail"); d && d->is_object()) {
        if (const Value* t = d->as_object().Find("text"); t && t->is_string()) {
          std::cerr << t->as_string();
        }
      }
    }
    return 1;
  }
  if (json) {
    std::string out;
    projd::WritePrettyJson(body, &out);
    std::cout << out << "\n";
    return 0;
  }
  std::vector<std::string> columns;
  std::vector<std::map<std::string, std::string>> table;
  auto cell = [](const Value& v) { return v.is_string() ? v.as_string() : projd::ToJson(v); };
  for (const auto& r : body.as_object().Find("rows")->as_array()) {
    std::map<std::string, std::string> line;
    auto add = [&](const std::string& col, const Value& v) {
      if (std::find(columns.begin(), columns.end(), col) == columns.end()) {
        columns.push_back(col);
      }
      line[col] = cell(v);
    };
    const projd::Object& o = r.as_object();
    const Value* row = o.Find("row");
    if (row && row->is_object() && o.Find("key") && o.size() == 2) {
      add("key", *o.Find("key"));
      for (const auto& [f, v] : row->as_object().members()) add(f, v);
    } else {
      for (const auto& [f, v] : o.members()) add(f, v);
    }
    table.push_back(std::move(line));
  }
  std::vector<size_t> width;
  for (const auto& c : columns) {
    size_t w = c.size();
    for (const auto& line : table) {
      auto it = line.find(c);
      if (it != line.end()) w = std::max(w, it->second.size());
    }
    width.push_back(std::min<size_t>(w, 40));
  }
  auto print_line = [&](const std::function<std::string(const std::string&)>& get) {
    std::string out;
    for (size_t i = 0; i < columns.size(); ++i) {
      std::string v = get(columns[i]);
      if (v.size() > width[i]) v = v.substr(0, width[i] - 1) + "~";
      out += v + std::string(width[i] - v.size() + 2, ' ');
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    std::cout << out << "\n";
  };
  print_line([](const std::string& c) { return c; });
  for (const auto& line : table) {
    print_line([&](const std::string& c) {
      auto it = line.find(c);
      return it == line.end() ? std::string() : it->second;
    });
  }
  std::cout << "(" << table.size() << (table.size() == 1 ? " row" : " rows") << ", scanned "
            << cell(*body.as_object().Find("scanned")) << ", plan "
            << cell(*body.as_object().Find("plan")) << ")\n";
  if (const Value* nc = body.as_object().Find("next_cursor"); nc && nc->is_string()) {
    std::cout << "more rows: POST /v1/query?cursor=" << nc->as_string() << "\n";
  }
  return 0;
}

// projctl explain VIEW KEY against a running projd: the row's kept versions (needs history),
// each with the event that made it and the row after it.
int ExplainOnline(const Server& s, const std::string& view, const std::string& key) {
  Value body;
  int st = Call(s, "GET",
                "/v1/views/" + projd::PercentEncode(view) + "/rows/" + projd::PercentEncode(key) +
                    "/history?limit=1000",
                &body);
  if (st != 200) return 1;
  for (const auto& v : body.as_object().Find("versions")->as_array()) {
    const projd::Object& o = v.as_object();
    const projd::Object& by = o.Find("updated_by")->as_object();
    std::cout << by.Find("topic")->as_string() << ":" << projd::ToJson(*by.Find("partition")) << ":"
              << projd::ToJson(*by.Find("offset")) << "  event time "
              << by.Find("event_time")->as_string()
              << (by.Find("event_id")->is_string() ? "  id " + by.Find("event_id")->as_string()
                                                   : "")
              << "\n    row after: "
              << (o.Find("deleted")->as_bool() ? std::string("(deleted)")
                                               : projd::ToJson(*o.Find("row")))
              << "\n";
  }
  std::cout << "(the statements each event ran: projctl explain " << view << " " << key
            << " --events EVENTS.jsonl --file F.proj)\n";
  return 0;
}

double NumberOf(const Value* v) {
  if (!v || !v->is_number()) return 0;
  return std::strtod(v->as_number().ToString().c_str(), nullptr);  // display only
}

int Rebuild(const Server& s, const std::string& view, bool wait) {
  Value body;
  int st = Call(s, "POST", "/v1/views/" + projd::PercentEncode(view) + "/rebuild", &body);
  if (st != 202) return 1;
  if (!wait) {
    std::cout << "rebuild of " << view << " started\n";
    return 0;
  }
  bool tty = isatty(fileno(stdout));
  double last_progress = -1;
  while (true) {
    Value v;
    st = Call(s, "GET", "/v1/views/" + projd::PercentEncode(view), &v);
    if (st != 200) return 1;
    const Value* rb = v.as_object().Find("rebuild");
    if (!rb || rb->is_null()) {
      std::cout << (tty ? "\r" : "") << "[" << std::string(30, '#') << "] 100.0%  rebuild of "
                << view << " done: the rebuilt view serves now\n";
      return 0;
    }
    double progress = NumberOf(rb->as_object().Find("progress"));
    double rate = NumberOf(rb->as_object().Find("events_per_second"));
    double remaining = NumberOf(rb->as_object().Find("remaining"));
    int filled = static_cast<int>(progress * 30);
    char line[200];
    if (rate > 0) {
      snprintf(line, sizeof(line), "[%s%s] %5.1f%%  %.0f events/s  ETA %.0fs",
               std::string(static_cast<size_t>(filled), '#').c_str(),
               std::string(static_cast<size_t>(30 - filled), '.').c_str(), progress * 100, rate,
               remaining / rate);
    } else {
      snprintf(line, sizeof(line), "[%s%s] %5.1f%%",
               std::string(static_cast<size_t>(filled), '#').c_str(),
               std::string(static_cast<size_t>(30 - filled), '.').c_str(), progress * 100);
    }
    if (tty) {
      std::cout << "\r" << line << "   " << std::flush;
    } else if (progress != last_progress) {
      std::cout << line << "\n" << std::flush;
    }
    last_progress = progress;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  Server server;
  if (const char* env = std::getenv("PROJD_SERVER")) ParseServer(env, &server);
  if (const char* env = std::getenv("PROJD_TOKEN")) server.token = env;
  size_t i = 0;
  for (; i < args.size(); ++i) {
    if (args[i] == "--server" && i + 1 < args.size()) {
      if (!ParseServer(args[++i], &server)) {
        std::cerr << "projctl: bad --server URL\n";
        return 2;
      }
    } else if (args[i] == "--token" && i + 1 < args.size()) {
      server.token = args[++i];
    } else {
      break;
    }
  }
  if (i >= args.size() || args[i] == "--help" || args[i] == "help") {
    std::cerr << kUsage;
    return i >= args.size() ? 2 : 0;
  }
  std::string cmd = args[i];
  std::vector<std::string> rest(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
  if (cmd == "check") return Check(rest);
  if (cmd == "diff") return Diff(rest);
  if (cmd == "explain") {
    std::string events, file;
    std::vector<std::string> pos;
    for (size_t k = 0; k < rest.size(); ++k) {
      if (rest[k] == "--events" && k + 1 < rest.size()) {
        events = rest[++k];
      } else if (rest[k] == "--file" && k + 1 < rest.size()) {
        file = rest[++k];
      } else {
        pos.push_back(rest[k]);
      }
    }
    if (pos.size() != 2 || events.empty() != file.empty()) {
      std::cerr << kUsage;
      return 2;
    }
    if (!events.empty()) return ExplainOffline(pos[0], pos[1], events, file);
    return ExplainOnline(server, pos[0], pos[1]);
  }
  if (cmd == "test") return Test(rest);
  if (cmd == "status") return Status(server);
  if (cmd == "get") {
    if (rest.size() < 2) {
      std::cerr << kUsage;
      return 2;
    }
    std::string target =
        "/v1/views/" + projd::PercentEncode(rest[0]) + "/rows/" + projd::PercentEncode(rest[1]);
    if (rest.size() == 4 && rest[2] == "--as-of") {
      target += "?as_of=" + projd::PercentEncode(rest[3]);
    } else if (rest.size() != 2) {
      std::cerr << kUsage;
      return 2;
    }
    return PrintCall(server, "GET", target);
  }
  if (cmd == "query" && !rest.empty()) {
    bool json = false;
    std::string text;
    for (const auto& a : rest) {
      if (a == "--json") {
        json = true;
      } else {
        text += (text.empty() ? "" : " ") + a;
      }
    }
    return QueryCommand(server, text, json);
  }
  if (cmd == "rebuild" && (rest.size() == 1 || rest.size() == 2)) {
    bool wait = rest.size() == 2 && rest[1] == "--wait";
    if (rest.size() == 2 && !wait) {
      std::cerr << kUsage;
      return 2;
    }
    return Rebuild(server, rest[0], wait);
  }
  if (cmd == "drop" && rest.size() == 1) {
    return PrintCall(server, "DELETE", "/v1/views/" + projd::PercentEncode(rest[0]));
  }
  if (cmd == "history" && rest.size() == 2) {
    return PrintCall(server, "GET",
                     "/v1/views/" + projd::PercentEncode(rest[0]) + "/rows/" +
                         projd::PercentEncode(rest[1]) + "/history?limit=1000");
  }
  if (cmd == "dead-letters" && rest.size() == 1) {
    return PrintCall(server, "GET", "/v1/views/" + projd::PercentEncode(rest[0]) + "/dead-letters");
  }
  if (cmd == "skip" && rest.size() == 1) {
    return PrintCall(server, "POST", "/v1/views/" + projd::PercentEncode(rest[0]) + "/skip");
  }
  std::cerr << "projctl: unknown command '" << cmd << "'\n" << kUsage;
  return 2;
}
