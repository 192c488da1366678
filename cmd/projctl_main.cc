// projctl: the command-line client and local test runner (SPEC §7).
#include <fcntl.h>
#include <netdb.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
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

#include "api/http_server.h"
#include "cmd/projctl_watch.h"
#include "dsl/compiler.h"
#include "dsl/time.h"
#include "dsl/value.h"
#include "engine/replay.h"
#include "store/data_lock.h"
#include "store/row_digest.h"
#include "store/view_store.h"

namespace {

using projd::Value;

// Reports a usage error of `command` (e.g. "projctl test") on stderr; returns exit code 2.
int UsageError(const std::string& command, const std::string& message) {
  std::cerr << command << ": " << message << "\nRun '" << command << " --help' for the usage.\n";
  return 2;
}

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

int Check(const std::vector<std::string>& files) {
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

// The arguments of projctl test.
struct TestArgs {
  std::string path;       // a .proj file, or a folder of golden cases
  std::string events;     // EVENTS.jsonl (FILE only)
  std::string view;       // only this projection of FILE
  std::string expect;     // compare with this view instead of printing it
  std::string schema;     // the writer schema of format avro events given as JSON
  bool checksum = false;  // print the rows' canonical digest instead of the view
};

// The canonical digest of replayed rows (the digest of GET /v1/views/{view}/checksum).
std::string DigestOf(const std::map<std::string, projd::RowRecord>& rows) {
  projd::RowDigest digest;
  for (const auto& [key, rec] : rows) digest.Add(key, Value::MakeObject(rec.fields));
  return digest.HexDigest();
}

int Test(const TestArgs& args) {
  const std::string& file = args.path;
  const std::string& events = args.events;
  const std::string& view = args.view;
  const std::string& expect = args.expect;
  const std::string& schema_file = args.schema;
  if (fs::is_directory(file)) {
    if (!events.empty() || !view.empty() || !expect.empty() || !schema_file.empty() ||
        args.checksum) {
      return UsageError("projctl test", "a folder of cases (" + file + ") takes no other flags");
    }
    return TestDir(file);
  }
  if (events.empty()) return UsageError("projctl test", "FILE needs --events EVENTS.jsonl");
  if (args.checksum && !expect.empty()) {
    return UsageError("projctl test", "--checksum and --expect do not go together");
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
    all.Set(p->name(), args.checksum ? Value::String(DigestOf(r.rows)) : projd::ViewToJson(r.rows));
  }
  if (args.checksum) {
    // One digest per line: alone for one projection, after its name for several.
    for (const auto& [name, digest] : all.members()) {
      std::cout << (selected.size() == 1 ? "" : name + " ") << digest.as_string() << "\n";
    }
    return 0;
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
int Diff(const std::string& old_path, const std::string& new_path, const std::string& events,
         const std::string& view) {
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
                  << (after.updated_by.has_id ? "  id " + after.updated_by.id : "")
                  << (after.updated_by.has_correlation
                          ? "  correlation " + after.updated_by.correlation
                          : "")
                  << (after.updated_by.audit.empty()
                          ? ""
                          : "  audit " + projd::ToJson(Value::MakeObject(after.updated_by.audit)))
                  << "\n";
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

void PrintJson(const Value& v) {
  std::string out;
  projd::WritePrettyJson(v, &out);
  std::cout << out << "\n";
}

// The views table, or with `json` the answer of GET /v1/views.
int Status(const Server& s, bool json) {
  Value body;
  int st = Call(s, "GET", "/v1/views", &body);
  if (st != 200) return 1;
  if (json) {
    PrintJson(body);
    return 0;
  }
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
  PrintJson(body);
  return 0;
}

// The paging flags of history, dead-letters and query.
struct Paging {
  int limit = 0;       // rows per page; 0: the command's default
  std::string cursor;  // start after this next_cursor of an earlier answer
  bool all = false;    // follow next_cursor until the end
};

// Calls `target` for one page, from paging.cursor when given; with paging.all, for every
// following page as well, each page's `items` array appended to the first answer's (whose
// next_cursor then is null) and its `sum` number, when named, added up. The answer is in
// *answer. Returns the HTTP status of the failed call (0: unreachable), else 200.
int FetchPages(const Server& s, const std::string& method, const std::string& target,
               const std::string& payload, const char* items, const char* sum, const Paging& paging,
               Value* answer) {
  std::string cursor = paging.cursor;
  bool first = true;
  while (true) {
    std::string page_target = target;
    if (!cursor.empty()) {
      page_target += (target.find('?') == std::string::npos ? "?cursor=" : "&cursor=") +
                     projd::PercentEncode(cursor);
    }
    Value page;
    int st = Call(s, method, page_target, &page, payload);
    if (st != 200 || !page.is_object()) {
      *answer = std::move(page);
      return st;
    }
    if (first) {
      *answer = std::move(page);
      first = false;
    } else {
      projd::Object& whole = answer->as_object();
      projd::Object& part = page.as_object();
      Value* from = part.Find(items);
      Value* to = whole.Find(items);
      if (from && to && from->is_array() && to->is_array()) {
        for (auto& v : from->as_array()) to->as_array().push_back(std::move(v));
      }
      if (sum) {
        const Value* a = whole.Find(sum);
        const Value* b = part.Find(sum);
        projd::Decimal total;
        if (a && b && a->is_number() && b->is_number() &&
            projd::Decimal::Add(a->as_number(), b->as_number(), &total)) {
          whole.Set(sum, Value::Number(total));
        }
      }
      const Value* next = part.Find("next_cursor");
      whole.Set("next_cursor", next ? *next : Value());
    }
    const Value* next = answer->as_object().Find("next_cursor");
    if (!paging.all || !next || !next->is_string()) return 200;
    if (next->as_string() == cursor) {
      std::cerr << "projctl: the server answered the same next_cursor twice; stopping\n";
      return 0;
    }
    cursor = next->as_string();
  }
}

// history and dead-letters: the pages as JSON. `default_limit` is the page size without
// --limit (0: the server's default).
int PagedCommand(const Server& s, const std::string& path, const char* items, int default_limit,
                 const Paging& paging) {
  int limit = paging.limit > 0 ? paging.limit : default_limit;
  std::string target = path + (limit > 0 ? "?limit=" + std::to_string(limit) : "");
  Value answer;
  if (FetchPages(s, "GET", target, "", items, nullptr, paging, &answer) != 200) return 1;
  PrintJson(answer);
  return 0;
}

// Prints query answers as a table: one column per field (whole rows: key, then the row's
// fields; select items in the order of the answer's "columns" when it lists them), cells in
// JSON form, strings bare. --limit is sent as a limit clause on a line after the query's text.
int QueryCommand(const Server& s, const std::string& query, bool json, const Paging& paging) {
  std::string text = query;
  if (paging.limit > 0) text += "\nlimit " + std::to_string(paging.limit);
  Value body;
  int st = FetchPages(s, "POST", "/v1/query", text, "rows", "scanned", paging, &body);
  if (st != 200) {
    const Value* d = body.is_object() ? body.as_object().Find("detail") : nullptr;
    if (st < 400 || !d || !d->is_object()) return 1;
    const Value* line = d->as_object().Find("line");
    int64_t query_lines = std::count(query.begin(), query.end(), '\n') + 1;
    if (paging.limit > 0 && line && line->is_number() &&
        line->as_number().ToString() == std::to_string(query_lines + 1)) {
      // The error is about the clause --limit added: the query has a limit clause of its own.
      return UsageError("projctl query",
                        "--limit and the query's limit clause both set the "
                        "page size; give one of them");
    }
    if (const Value* t = d->as_object().Find("text"); t && t->is_string()) {
      std::cerr << t->as_string();
    }
    return 1;
  }
  if (json) {
    PrintJson(body);
    return 0;
  }
  std::vector<std::string> columns;
  if (const Value* c = body.as_object().Find("columns"); c && c->is_array()) {
    for (const auto& name : c->as_array()) {
      if (name.is_string()) columns.push_back(name.as_string());
    }
  }
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
    std::cout << "more rows: --cursor " << nc->as_string() << " for the next page, --all for all\n";
  }
  return 0;
}

// projctl explain VIEW KEY against a running projd: the row's kept versions (needs history),
// projctl trace ID: every change events of one command made, across the views, as a table
// (or the JSON answers' changes with --json), following next_cursor to the end.
int TraceCommand(const Server& s, const std::string& id, bool json) {
  Paging every;
  every.all = true;
  Value answer;
  if (FetchPages(s, "GET", "/v1/correlations/" + projd::PercentEncode(id) + "?limit=1000", "",
                 "changes", nullptr, every, &answer) != 200) {
    return 1;
  }
  projd::Array all = std::move(answer.as_object().Find("changes")->as_array());
  if (json) {
    PrintJson(Value::MakeArray(std::move(all)));
    return 0;
  }
  if (all.empty()) {
    std::cout << "no change was made by correlation " << id << "\n";
    return 0;
  }
  printf("%-20s %-24s %7s  %-24s %-28s %s\n", "VIEW", "KEY", "VERSION", "EVENT TIME", "EVENT",
         "EVENT ID");
  for (const auto& c : all) {
    const projd::Object& o = c.as_object();
    const projd::Object& by = o.Find("updated_by")->as_object();
    std::string event = by.Find("topic")->as_string() + ":" + projd::ToJson(*by.Find("partition")) +
                        ":" + projd::ToJson(*by.Find("offset"));
    std::string version =
        o.Find("deleted")->as_bool() ? "deleted" : projd::ToJson(*o.Find("version"));
    const Value* eid = by.Find("event_id");
    printf("%-20s %-24s %7s  %-24s %-28s %s\n", o.Find("view")->as_string().c_str(),
           o.Find("key")->as_string().c_str(), version.c_str(),
           by.Find("event_time")->as_string().c_str(), event.c_str(),
           eid && eid->is_string() ? eid->as_string().c_str() : "-");
  }
  return 0;
}

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
    std::cout
        << by.Find("topic")->as_string() << ":" << projd::ToJson(*by.Find("partition")) << ":"
        << projd::ToJson(*by.Find("offset")) << "  event time "
        << by.Find("event_time")->as_string()
        << (by.Find("event_id")->is_string() ? "  id " + by.Find("event_id")->as_string() : "")
        << (by.Find("correlation") ? "  correlation " + by.Find("correlation")->as_string() : "")
        << (by.Find("audit") ? "  audit " + projd::ToJson(*by.Find("audit")) : "")
        << "\n    row after: "
        << (o.Find("deleted")->as_bool() ? std::string("(deleted)") : projd::ToJson(*o.Find("row")))
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

// projctl checksum VIEW: a line with the digest, position and rows, or the JSON answer.
int ChecksumCommand(const Server& s, const std::string& view, bool json) {
  Value body;
  int st = Call(s, "GET", "/v1/views/" + projd::PercentEncode(view) + "/checksum", &body);
  if (st != 200 || !body.is_object()) return 1;
  if (json) {
    PrintJson(body);
    return 0;
  }
  std::cout << Field(body, "digest") << "  position " << Field(body, "position") << "  rows "
            << Field(body, "rows") << "\n";
  return 0;
}

// Sends a GET and writes the answer's body to `fd` as it arrives (a body that may not fit in
// memory). Returns the status (0 when the exchange failed, *error says why); *headers get the
// answer's fields (names lower-cased), and an error answer's body goes to *error_body instead.
int Download(const Server& s, const std::string& target, int fd,
             std::vector<std::pair<std::string, std::string>>* headers, std::string* error_body,
             std::string* error) {
  struct addrinfo hints = {}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(s.host.c_str(), std::to_string(s.port).c_str(), &hints, &res) != 0 || !res) {
    *error = "cannot resolve " + s.host;
    return 0;
  }
  int sock = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
  bool connected = sock >= 0 && connect(sock, res->ai_addr, res->ai_addrlen) == 0;
  freeaddrinfo(res);
  auto fail = [&](const std::string& why) {
    if (sock >= 0) close(sock);
    *error = why;
    return 0;
  };
  if (!connected) return fail(std::string("cannot connect: ") + strerror(errno));
  std::string request = "GET " + target + " HTTP/1.1\r\nHost: " + s.host + ":" +
                        std::to_string(s.port) + "\r\nConnection: close\r\n";
  if (!s.token.empty()) request += "Authorization: Bearer " + s.token + "\r\n";
  request += "\r\n";
  if (send(sock, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    return fail("cannot send the request");
  }
  std::string head;
  std::vector<char> buf(1 << 20);
  size_t head_end = std::string::npos;
  while (head_end == std::string::npos) {
    ssize_t n = recv(sock, buf.data(), buf.size(), 0);
    if (n <= 0) return fail("the connection closed before the answer's head");
    head.append(buf.data(), static_cast<size_t>(n));
    head_end = head.find("\r\n\r\n");
    if (head_end == std::string::npos && head.size() > (1 << 20))
      return fail("answer head too long");
  }
  std::string rest = head.substr(head_end + 4);
  head.resize(head_end);
  int status = head.size() > 12 ? std::atoi(head.c_str() + 9) : 0;
  uint64_t length = 0;
  bool has_length = false;
  std::istringstream lines(head);
  std::string line;
  std::getline(lines, line);  // the status line
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon), value = line.substr(colon + 1);
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    value.erase(0, value.find_first_not_of(' '));
    if (name == "content-length") {
      length = std::strtoull(value.c_str(), nullptr, 10);
      has_length = true;
    }
    headers->emplace_back(name, value);
  }
  uint64_t got = 0;
  auto take = [&](const char* data, size_t n) {
    got += n;
    if (status >= 400) {
      error_body->append(data, n);
      return true;
    }
    for (size_t done = 0; done < n;) {
      ssize_t w = write(fd, data + done, n - done);
      if (w <= 0) return false;
      done += static_cast<size_t>(w);
    }
    return true;
  };
  if (!take(rest.data(), rest.size())) return fail(std::string("cannot write: ") + strerror(errno));
  while (!has_length || got < length) {
    ssize_t n = recv(sock, buf.data(), buf.size(), 0);
    if (n < 0) return fail(std::string("reading the answer: ") + strerror(errno));
    if (n == 0) break;
    if (!take(buf.data(), static_cast<size_t>(n))) {
      return fail(std::string("cannot write: ") + strerror(errno));
    }
  }
  close(sock);
  if (has_length && got != length) {
    *error = "the answer ended after " + std::to_string(got) + " of " + std::to_string(length) +
             " bytes";
    return 0;
  }
  return status;
}

std::string HeaderOf(const std::vector<std::pair<std::string, std::string>>& headers,
                     const std::string& name) {
  for (const auto& [n, v] : headers) {
    if (n == name) return v;
  }
  return "";
}

// projctl history VIEW KEY --csv: the CSV projd writes (?format=csv), as it comes, on stdout.
int HistoryCsvCommand(const Server& s, const std::string& path, int limit) {
  std::string target = path + "?format=csv" + (limit > 0 ? "&limit=" + std::to_string(limit) : "");
  std::vector<std::pair<std::string, std::string>> headers;
  std::string error_body, error;
  int st = Download(s, target, STDOUT_FILENO, &headers, &error_body, &error);
  if (st == 0) {
    std::cerr << "projctl: cannot get the CSV from projd at " << s.host << ":" << s.port << ": "
              << error << "\n";
  } else if (st != 200) {
    Value body;
    std::string perr, detail;
    const Value* e = nullptr;
    if (projd::ParseJson(error_body, &body, &perr) && body.is_object()) {
      e = body.as_object().Find("error");
      const Value* d = body.as_object().Find("detail");
      if (d && !d->is_null()) detail = d->is_string() ? d->as_string() : projd::ToJson(*d);
    }
    std::cerr << "projctl: " << st << " " << (e && e->is_string() ? e->as_string() : error_body)
              << (detail.empty() ? "" : ": " + detail) << "\n";
  }
  return st == 200 ? 0 : 1;
}

// projctl snapshot VIEW -o FILE: the view's store, as projd streams it, into FILE.
int SnapshotCommand(const Server& s, const std::string& view, const std::string& out) {
  std::string tmp = out + ".part";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) {
    std::cerr << "projctl snapshot: cannot write " << tmp << ": " << strerror(errno) << "\n";
    return 1;
  }
  std::vector<std::pair<std::string, std::string>> headers;
  std::string error_body, error;
  int st = Download(s, "/v1/views/" + projd::PercentEncode(view) + "/snapshot", fd, &headers,
                    &error_body, &error);
  bool synced = fsync(fd) == 0;
  close(fd);
  if (st != 200 || !synced) {
    unlink(tmp.c_str());
    if (st == 0) {
      std::cerr << "projctl: cannot reach projd at " << s.host << ":" << s.port << ": " << error
                << "\n";
    } else if (st != 200) {
      std::cerr << "projctl: " << st << " " << error_body << "\n";
    } else {
      std::cerr << "projctl snapshot: cannot write " << tmp << ": " << strerror(errno) << "\n";
    }
    return 1;
  }
  if (rename(tmp.c_str(), out.c_str()) != 0) {
    std::cerr << "projctl snapshot: cannot write " << out << ": " << strerror(errno) << "\n";
    return 1;
  }
  std::cout << "snapshot of " << view << " written to " << out << "\n"
            << "position " << HeaderOf(headers, "x-projd-position") << "\n"
            << "definition_hash " << HeaderOf(headers, "x-projd-definition-hash") << "\n";
  return 0;
}

// Takes the data folder's lock as projd does (flock LOCK_EX|LOCK_NB on DATA/LOCK). Returns the
// descriptor that holds it, or -1 after printing why (naming the running projd's pid).
int TakeRestoreLock(const std::string& data) {
  bool held;
  std::string pid, error;
  int fd = projd::LockDataFolder(data, &held, &pid, &error);
  if (fd >= 0) return fd;
  if (held) {
    std::cerr << "projctl restore: " << data << " is in use by a running projd"
              << (pid.empty() ? "" : " (pid " + pid + ")") << ", which holds " << data
              << "/LOCK; stop it first\n";
  } else {
    std::cerr << "projctl restore: " << error << "\n";
  }
  return -1;
}

// The highest gen-N folder of a view's folder (0 when there is none).
int HighestGeneration(const std::string& view_dir) {
  int highest = 0;
  std::error_code ec;
  for (auto it = fs::directory_iterator(view_dir, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.rfind("gen-", 0) == 0 && name.size() > 4 && name.size() < 12 &&
        name.find_first_not_of("0123456789", 4) == std::string::npos) {
      highest = std::max(highest, std::stoi(name.substr(4)));
    }
  }
  return highest;
}

// Opens the copied store, marks it as restored and reads its position and definition hash.
bool MarkRestored(const std::string& gen_dir, const std::string& file, std::string* position,
                  std::string* hash, std::string* error) {
  auto store = projd::ViewStore::Open(gen_dir, projd::KvOptions(), error);
  if (!store) return false;
  *hash = store->GetMeta("definition_hash");
  if (hash->empty()) {
    *error = file + " is not a snapshot of a projd view (it has no definition hash)";
    return false;
  }
  *position = store->Positions().ToString();
  // projd checks the mark at its next start: a snapshot of another definition is refused.
  return store->PutMeta("restored_from_snapshot", fs::absolute(file).string(), error);
}

// projctl restore --data DIR VIEW FILE: installs a snapshot as the view's next generation in
// the data folder of a stopped projd, which then resumes from the snapshot's offsets.
int Restore(const std::string& data, const std::string& view, const std::string& file) {
  bool identifier = !view.empty() && !(view[0] >= '0' && view[0] <= '9') &&
                    view.find_first_not_of(
                        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789_") == std::string::npos;
  if (!identifier) return UsageError("projctl restore", "'" + view + "' is not a view name");
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) {
    std::cerr << file << ": cannot read file\n";
    return 1;
  }
  std::string view_dir = data + "/views/" + view;
  fs::create_directories(view_dir, ec);
  if (ec) {
    std::cerr << "projctl restore: cannot create " << view_dir << ": " << ec.message() << "\n";
    return 1;
  }
  int lock = TakeRestoreLock(data);
  if (lock < 0) return 1;
  int gen = HighestGeneration(view_dir) + 1;
  std::string gen_dir = view_dir + "/gen-" + std::to_string(gen);
  std::string position, hash, error;
  fs::create_directories(gen_dir, ec);
  if (!ec) fs::copy_file(file, gen_dir + "/data.mdb", fs::copy_options::overwrite_existing, ec);
  if (ec) error = "cannot copy " + file + " into " + gen_dir + ": " + ec.message();
  if (!ec && MarkRestored(gen_dir, file, &position, &hash, &error)) {
    // CURRENT names the new generation (write, then rename), as projd swaps generations.
    std::string tmp = view_dir + "/CURRENT.tmp";
    std::ofstream(tmp, std::ios::trunc) << "gen-" << gen << "\n";
    fs::rename(tmp, view_dir + "/CURRENT", ec);
    if (ec) error = "cannot write " + view_dir + "/CURRENT: " + ec.message();
  } else if (error.empty()) {
    error = "cannot open " + gen_dir;
  }
  if (!ec && error.empty()) {
    // The older generations and a pending rebuild belonged to the replaced view.
    fs::remove(view_dir + "/REBUILD", ec);
    for (int g = 1; g < gen; ++g) fs::remove_all(view_dir + "/gen-" + std::to_string(g), ec);
  } else {
    fs::remove_all(gen_dir, ec);
  }
  close(lock);
  if (!error.empty()) {
    std::cerr << "projctl restore: " << error << "\n";
    return 1;
  }
  std::cout << "restored " << view << " into " << gen_dir << "\nposition " << position
            << "\ndefinition_hash " << hash << "\n";
  return 0;
}

// The failure message of a parse error: the command it is about, the error, where the usage is.
std::string FailureMessage(const CLI::App* app, const CLI::Error& e) {
  std::string command = app->get_name();
  for (const CLI::App* sub = app; !sub->get_subcommands().empty();) {
    sub = sub->get_subcommands().front();
    command += " " + sub->get_name();
  }
  return command + ": " + e.what() + "\nRun '" + command + " --help' for the usage.\n";
}

// A required positional argument shown as NAME in the usage.
CLI::Option* Positional(CLI::App* cmd, const std::string& name, std::string* out,
                        const std::string& help) {
  return cmd->add_option(name, *out, help)->required()->type_name("");
}

void AddJsonFlag(CLI::App* cmd, bool* json, const std::string& help) {
  cmd->add_flag("--json", *json, help);
}

void AddPagingFlags(CLI::App* cmd, Paging* paging, const std::string& limit_help) {
  cmd->add_option("--limit", paging->limit, limit_help)
      ->type_name("N")
      ->check(CLI::Range(1, 999999999).description(""));
  cmd->add_option("--cursor", paging->cursor, "start after this next_cursor of an earlier answer")
      ->type_name("C");
  cmd->add_flag("--all", paging->all,
                "follow next_cursor to the end: every page, printed as one answer");
}

// The command line, parsed: the subcommands, and a member per flag and argument.
struct CommandLine {
  std::string server_url;  // --server
  std::string token;       // --token
  CLI::Option* server_flag = nullptr;
  CLI::Option* token_flag = nullptr;

  CLI::App* check = nullptr;
  std::vector<std::string> check_files;
  CLI::App* test = nullptr;
  TestArgs test_args;
  CLI::App* diff = nullptr;
  std::string diff_old, diff_new, diff_events, diff_view;
  CLI::App* explain = nullptr;
  std::string explain_view, explain_key, explain_events, explain_file;

  CLI::App* status = nullptr;
  bool status_json = false;
  CLI::App* get = nullptr;
  std::string get_view, get_key, get_as_of;
  bool get_json = false;
  CLI::App* history = nullptr;
  std::string history_view, history_key;
  bool history_json = false;
  bool history_csv = false;  // --csv
  Paging history_paging;
  CLI::App* query = nullptr;
  std::vector<std::string> query_words;
  bool query_json = false;
  Paging query_paging;
  CLI::App* rebuild = nullptr;
  std::string rebuild_view;
  bool rebuild_wait = false;
  CLI::App* dead = nullptr;
  std::string dead_view;
  bool dead_json = false;
  Paging dead_paging;
  CLI::App* skip = nullptr;
  std::string skip_view;
  CLI::App* drop = nullptr;
  std::string drop_view;
  CLI::App* checksum = nullptr;
  std::string checksum_view;
  bool checksum_json = false;
  CLI::App* snapshot = nullptr;
  std::string snapshot_view, snapshot_out;
  CLI::App* watch = nullptr;
  std::string watch_view, watch_from, watch_where, watch_key;
  CLI::App* trace = nullptr;
  std::string trace_id;
  bool trace_json = false;
  CLI::App* restore = nullptr;
  std::string restore_data, restore_view, restore_file;

  CLI::App* help = nullptr;
  std::string help_topic;
};

// The global flags.
void AddServerFlags(CLI::App* app, CommandLine* c) {
  c->server_flag =
      app->add_option("--server", c->server_url,
                      "projd's address, http://HOST:PORT (default: $PROJD_SERVER,\n"
                      "else http://127.0.0.1:8080)")
          ->type_name("URL")
          ->check(CLI::Validator(
              [](const std::string& url) {
                Server s;
                return ParseServer(url, &s) ? std::string() : "not an http://HOST:PORT address";
              },
              "", ""));
  c->token_flag = app->add_option("--token", c->token,
                                  "bearer token for a projd with --auth (default:\n"
                                  "$PROJD_TOKEN)")
                      ->type_name("T");
}

// check, test, diff and explain: files and events, offline (explain also online).
void AddOfflineCommands(CLI::App* app, CommandLine* c) {
  c->check = app->add_subcommand("check", "parse and type-check .proj files");
  c->check->add_option("FILE", c->check_files, ".proj files (several: one set of projections)")
      ->required()
      ->type_name("");
  c->check->footer(
      "Prints each projection found; on errors prints FILE:LINE:COL: message, the line and a\n"
      "caret, and exits 1.");

  TestArgs& t = c->test_args;
  c->test =
      app->add_subcommand("test", "replay events locally and print the view, or run golden cases");
  Positional(c->test, "FILE", &t.path, "a .proj file, or a folder of golden cases (DIR)");
  c->test
      ->add_option("--events", t.events,
                   "the events, one per line: a bare event, or {topic, partition,\n"
                   "timestamp, key, value}")
      ->type_name("EVENTS.jsonl");
  c->test->add_option("--view", t.view, "only the projection of this name")->type_name("NAME");
  c->test
      ->add_option("--expect", t.expect,
                   "print the differences from this view instead; exit 1 if any")
      ->type_name("EXPECTED.json");
  c->test
      ->add_option("--schema", t.schema,
                   "format avro: the writer schema of the events (given as JSON)")
      ->type_name("WRITER.avsc");
  c->test->add_flag("--checksum", t.checksum,
                    "print the canonical digest of the rows (what projd's checksum of the\n"
                    "view gives after the same events) instead of the view");
  c->test->footer(
      "FILE (needs --events) prints the view as JSON, keys sorted: {key: row}, or\n"
      "{view: {key: row}} for several projections; dead letters go to stderr. A DIR holds cases\n"
      "NAME.proj + NAME.jsonl + NAME.expected.json [+ NAME.dead], or NAME.proj + NAME.errors;\n"
      "it prints PASS or FAIL per case and exits 0 only when every case passes.");

  c->diff = app->add_subcommand(
      "diff", "replay events through two definitions and print the rows that differ");
  Positional(c->diff, "OLD.proj", &c->diff_old, "the current definition");
  Positional(c->diff, "NEW.proj", &c->diff_new, "the changed definition");
  c->diff->add_option("--events", c->diff_events, "the events to replay")
      ->required()
      ->type_name("EVENTS.jsonl");
  c->diff->add_option("--view", c->diff_view, "the projection to compare (default: the first)")
      ->type_name("NAME");
  c->diff->footer(
      "Prints added (+), removed (-) and changed (~ key.field: old -> new) rows and a summary;\n"
      "exits 1 when any row or the number of dead letters differs.");

  c->explain = app->add_subcommand("explain", "the events that made a row, and what each one did");
  Positional(c->explain, "VIEW", &c->explain_view, "the view (offline: the projection's name)");
  Positional(c->explain, "KEY", &c->explain_key, "the row's key");
  CLI::Option* events =
      c->explain->add_option("--events", c->explain_events, "replay these events offline")
          ->type_name("EVENTS.jsonl");
  CLI::Option* file =
      c->explain
          ->add_option("--file", c->explain_file, "offline: the definition to replay them with")
          ->type_name("F.proj");
  events->needs(file);
  file->needs(events);
  c->explain->footer(
      "Offline, each event that changed the row: its position, time and id, every statement it\n"
      "ran with its result, and the row after it. Without --events and --file, the row's kept\n"
      "versions from projd at --server (the view needs history).");
}

// The subcommands that talk to a running projd.
void AddServerCommands(CLI::App* app, CommandLine* c) {
  c->status = app->add_subcommand("status", "the views: state, rows, lag, events/s");
  AddJsonFlag(c->status, &c->status_json, "print the JSON answer (GET /v1/views), not a table");

  c->get = app->add_subcommand("get", "a row, as JSON");
  Positional(c->get, "VIEW", &c->get_view, "the view");
  Positional(c->get, "KEY", &c->get_key, "the row's key");
  c->get
      ->add_option("--as-of", c->get_as_of,
                   "the row as it was at this event time, RFC 3339 (the view must keep\n"
                   "history)")
      ->type_name("T");
  AddJsonFlag(c->get, &c->get_json, "print the JSON answer (what get prints)");

  c->history = app->add_subcommand(
      "history", "a row's kept versions, oldest first, as JSON (or CSV with --csv)");
  Positional(c->history, "VIEW", &c->history_view, "the view (it must keep history)");
  Positional(c->history, "KEY", &c->history_key, "the row's key");
  AddPagingFlags(c->history, &c->history_paging,
                 "versions per page (default 1000, the most projd gives)");
  AddJsonFlag(c->history, &c->history_json, "print the JSON answer (what history prints)");
  c->history
      ->add_flag("--csv", c->history_csv,
                 "print every version as CSV for auditors (what projd answers to\n"
                 "?format=csv; --limit caps the versions)")
      ->excludes("--json")
      ->excludes("--cursor")
      ->excludes("--all");

  c->query = app->add_subcommand("query", "run a query: a table, or the JSON answer");
  c->query
      ->add_option("QUERY", c->query_words,
                   "'from VIEW [where ...] [select ...] [order by ...] [limit N]'; several\n"
                   "words are joined with spaces")
      ->required()
      ->type_name("");
  AddJsonFlag(c->query, &c->query_json, "print the JSON answer instead of a table");
  AddPagingFlags(c->query, &c->query_paging,
                 "rows per page, as a limit clause after the query (which then must\n"
                 "have none; default 100)");

  c->rebuild =
      app->add_subcommand("rebuild", "rebuild a view from offset 0 while it serves, then swap");
  Positional(c->rebuild, "VIEW", &c->rebuild_view, "the view");
  c->rebuild->add_flag("--wait", c->rebuild_wait,
                       "show the progress until the rebuilt view serves");

  c->dead = app->add_subcommand("dead-letters", "a view's dead letters, as JSON");
  Positional(c->dead, "VIEW", &c->dead_view, "the view");
  AddPagingFlags(c->dead, &c->dead_paging, "dead letters per page (default 100, at most 1000)");
  AddJsonFlag(c->dead, &c->dead_json, "print the JSON answer (what dead-letters prints)");

  c->skip = app->add_subcommand("skip",
                                "move a view stopped by 'errors stop' past the event it failed on");
  Positional(c->skip, "VIEW", &c->skip_view, "the view");

  c->drop =
      app->add_subcommand("drop", "delete the kept data of a view whose projection was removed");
  Positional(c->drop, "VIEW", &c->drop_view, "the view");

  c->checksum = app->add_subcommand(
      "checksum", "a digest of the view's rows with the position it was taken at");
  Positional(c->checksum, "VIEW", &c->checksum_view, "the view");
  AddJsonFlag(c->checksum, &c->checksum_json,
              "print the JSON answer, not a line with digest, position and rows");

  c->snapshot = app->add_subcommand(
      "snapshot", "write a consistent copy of the view's store to a file (admin)");
  Positional(c->snapshot, "VIEW", &c->snapshot_view, "the view");
  c->snapshot->add_option("-o,--output", c->snapshot_out, "the file to write")
      ->required()
      ->type_name("FILE");

  for (CLI::App* sub : {c->status, c->get, c->history, c->query, c->rebuild, c->dead, c->skip,
                        c->drop, c->checksum, c->snapshot}) {
    sub->footer(
        "Talks to projd at --server (see projctl --help); the global flags may come\n"
        "before or after the subcommand.");
  }
}

// watch: a view's changes, followed (cmd/projctl_watch.cc); trace: one command's changes.
void AddWatchCommand(CLI::App* app, CommandLine* c) {
  c->trace = app->add_subcommand(
      "trace", "every change that events of one command made, across the views, in apply order");
  Positional(c->trace, "ID", &c->trace_id,
             "the correlation id (what the projections' correlation clause computes)");
  AddJsonFlag(c->trace, &c->trace_json, "print the changes as a JSON array");
  c->watch = app->add_subcommand("watch", "follow a view's changes: NDJSON lines on stdout");
  Positional(c->watch, "VIEW", &c->watch_view, "the view");
  c->watch
      ->add_option("--from", c->watch_from,
                   "start after this position (a change's or heartbeat's), or now\n"
                   "(default) or earliest")
      ->type_name("P");
  c->watch->add_option("--where", c->watch_where, "only changes whose row matches this expression")
      ->type_name("EXPR");
  c->watch->add_option("--key", c->watch_key, "only the changes of this row")->type_name("K");
  c->watch->footer(
      "Prints each change as projd sends it, one JSON line (key, position, row: null when\n"
      "deleted, updated_by, version), until Ctrl-C or SIGTERM (exit 0). After a dropped\n"
      "connection, a projd restart or a slow-consumer cut-off it reconnects from the last\n"
      "position seen (0.2 s doubling to 5 s; a line on stderr each time): each change once.\n"
      "Exit 1: an error from projd (bad --from or --where, unknown view, 410: the changes are\n"
      "no longer kept) or no projd to reach at the start; exit 3: the view was rebuilt with a\n"
      "changed definition (the rebuilt line on stderr). Talks to projd at --server.");
}

// restore: offline, on the data folder of a stopped projd.
void AddRestoreCommand(CLI::App* app, CommandLine* c) {
  c->restore = app->add_subcommand(
      "restore", "install a snapshot as a view's store in a stopped projd's data folder");
  c->restore->add_option("--data", c->restore_data, "projd's data folder (projd must be stopped)")
      ->required()
      ->type_name("DIR");
  Positional(c->restore, "VIEW", &c->restore_view, "the view");
  Positional(c->restore, "FILE", &c->restore_file, "a file written by projctl snapshot");
  c->restore->footer(
      "Writes DIR/views/VIEW/gen-N (the next generation) and points CURRENT at it; projd then\n"
      "resumes the view from the snapshot's offsets. Refused while a projd holds DIR/LOCK. At\n"
      "its next start projd refuses (exit 1) a snapshot of another definition than the .proj's.");
}

// projctl help [SUBCOMMAND]: the usage on stdout.
int Help(const CLI::App& app, const std::string& topic) {
  if (topic.empty()) {
    std::cout << app.help();
    return 0;
  }
  for (const CLI::App* sub : app.get_subcommands({})) {
    if (sub->get_name() == topic) {
      std::cout << sub->help("projctl");
      return 0;
    }
  }
  return UsageError("projctl help", "no subcommand '" + topic + "'");
}

// Runs the subcommand that talks to projd: the server is --server, else $PROJD_SERVER, else the
// default; the token likewise.
int RunServerCommand(const CommandLine& c) {
  Server server;
  if (c.server_flag->count() > 0) {
    ParseServer(c.server_url, &server);
  } else if (const char* env = std::getenv("PROJD_SERVER"); env && *env) {
    if (!ParseServer(env, &server)) {
      return UsageError(
          "projctl", std::string("$PROJD_SERVER '") + env + "' is not an http://HOST:PORT address");
    }
  }
  if (c.token_flag->count() > 0) {
    server.token = c.token;
  } else if (const char* env = std::getenv("PROJD_TOKEN")) {
    server.token = env;
  }
  auto view_path = [](const std::string& view) {
    return "/v1/views/" + projd::PercentEncode(view);
  };
  auto row_path = [&](const std::string& view, const std::string& key) {
    return view_path(view) + "/rows/" + projd::PercentEncode(key);
  };
  if (c.explain->parsed()) return ExplainOnline(server, c.explain_view, c.explain_key);
  if (c.status->parsed()) return Status(server, c.status_json);
  if (c.get->parsed()) {
    std::string target = row_path(c.get_view, c.get_key);
    if (c.get->count("--as-of") > 0) target += "?as_of=" + projd::PercentEncode(c.get_as_of);
    return PrintCall(server, "GET", target);
  }
  if (c.history->parsed() && c.history_csv) {
    return HistoryCsvCommand(server, row_path(c.history_view, c.history_key) + "/history",
                             c.history_paging.limit);
  }
  if (c.history->parsed()) {
    return PagedCommand(server, row_path(c.history_view, c.history_key) + "/history", "versions",
                        1000, c.history_paging);
  }
  if (c.query->parsed()) {
    std::string text;
    for (const auto& w : c.query_words) text += (text.empty() ? "" : " ") + w;
    return QueryCommand(server, text, c.query_json, c.query_paging);
  }
  if (c.rebuild->parsed()) return Rebuild(server, c.rebuild_view, c.rebuild_wait);
  if (c.dead->parsed()) {
    return PagedCommand(server, view_path(c.dead_view) + "/dead-letters", "dead_letters",
                        c.dead_paging.all ? 1000 : 0, c.dead_paging);
  }
  if (c.skip->parsed()) return PrintCall(server, "POST", view_path(c.skip_view) + "/skip");
  if (c.drop->parsed()) return PrintCall(server, "DELETE", view_path(c.drop_view));
  if (c.checksum->parsed()) return ChecksumCommand(server, c.checksum_view, c.checksum_json);
  if (c.snapshot->parsed()) return SnapshotCommand(server, c.snapshot_view, c.snapshot_out);
  if (c.trace->parsed()) return TraceCommand(server, c.trace_id, c.trace_json);
  if (c.watch->parsed()) {
    std::vector<std::pair<std::string, std::string>> filters;
    if (c.watch->count("--where") > 0) filters.emplace_back("where", c.watch_where);
    if (c.watch->count("--key") > 0) filters.emplace_back("key", c.watch_key);
    return projctl::Watch(server.host, server.port, server.token, c.watch_view, c.watch_from,
                          filters);
  }
  return UsageError("projctl", "no subcommand");
}

int Main(int argc, char** argv) {
  CLI::App app("projctl " PROJD_VERSION
               ": checks and tests projections locally, and operates a running projd.",
               "projctl");
  app.get_formatter()->column_width(26);
  app.set_help_flag("-h,--help", "print this help and exit");
  app.set_version_flag("--version", "projctl " PROJD_VERSION, "print the version and exit");
  app.require_subcommand(1);
  app.fallthrough();  // global flags may also follow the subcommand
  app.failure_message(FailureMessage);
  app.footer(
      "Exit codes: 0 done, 1 a failure (an error in a file, a difference, an error from projd),\n"
      "2 a usage error. 'projctl SUBCOMMAND --help' describes each subcommand.");
  CommandLine c;
  AddServerFlags(&app, &c);
  AddOfflineCommands(&app, &c);
  AddServerCommands(&app, &c);
  AddWatchCommand(&app, &c);
  AddRestoreCommand(&app, &c);
  c.help = app.add_subcommand("help", "print this help, or a subcommand's");
  c.help->add_option("SUBCOMMAND", c.help_topic, "the subcommand")->type_name("");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Without a subcommand CLI11 says only that one is required: name what stood there.
    std::vector<std::string> rest = app.remaining();
    if (e.get_exit_code() != 0 && app.get_subcommands().empty() && !rest.empty()) {
      bool flag = rest.front().rfind('-', 0) == 0;
      return UsageError("projctl",
                        (flag ? "unknown flag '" : "unknown subcommand '") + rest.front() + "'");
    }
    // Help and version exit 0 (on stdout); any other parse error is a usage error.
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (c.help->parsed()) return Help(app, c.help_topic);
  if (c.check->parsed()) return Check(c.check_files);
  if (c.test->parsed()) return Test(c.test_args);
  if (c.restore->parsed()) return Restore(c.restore_data, c.restore_view, c.restore_file);
  if (c.diff->parsed()) return Diff(c.diff_old, c.diff_new, c.diff_events, c.diff_view);
  if (c.explain->parsed() && !c.explain_events.empty()) {
    return ExplainOffline(c.explain_view, c.explain_key, c.explain_events, c.explain_file);
  }
  return RunServerCommand(c);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "projctl: " << e.what() << "\n";
    return 1;
  }
}
