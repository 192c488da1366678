// projctl's offline commands, on files and events without a projd: check, test (a file with
// its events, or a folder of golden cases), diff and explain --events (see projctl_common.h).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cmd/projctl_common.h"
#include "dsl/compiler.h"
#include "dsl/time.h"
#include "dsl/value.h"
#include "engine/replay.h"
#include "store/row_digest.h"

namespace projctl {
namespace {

using projd::Value;
namespace fs = std::filesystem;

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
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
    // A file written by `projctl check FILE 2> NAME.errors` ends with check's count ("3
    // errors"), which is no diagnostic.
    {
      std::string trimmed = TrimEnd(expected_text);
      const size_t nl = trimmed.rfind('\n');
      const std::string last = trimmed.substr(nl == std::string::npos ? 0 : nl + 1);
      const size_t n = compiled.diagnostics.size();
      if (last == std::to_string(n) + (n == 1 ? " error" : " errors")) {
        expected_text = nl == std::string::npos ? "" : trimmed.substr(0, nl);
      }
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

// The canonical digest of replayed rows (the digest of GET /v1/views/{view}/checksum).
std::string DigestOf(const std::map<std::string, projd::RowRecord>& rows) {
  projd::RowDigest digest;
  for (const auto& [key, rec] : rows) digest.Add(key, Value::MakeObject(rec.fields));
  return digest.HexDigest();
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

}  // namespace

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

// Reads the writer schema file of format avro events (none when `path` is empty).
bool ReadSchemaFile(const std::string& path, std::string* schema) {
  if (path.empty() || ReadFile(path, schema)) return true;
  std::cerr << path << ": cannot read file\n";
  return false;
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

// projctl diff OLD.proj NEW.proj --events EVENTS.jsonl [--view NAME]
int Diff(const std::string& old_path, const std::string& new_path, const std::string& events,
         const std::string& view, const std::string& schema_file) {
  projd::CompiledFile a, b;
  if (!CompileOne(old_path, &a) || !CompileOne(new_path, &b)) return 1;
  auto pa = Pick(a, view, old_path);
  auto pb = Pick(b, view.empty() ? (pa ? pa->name() : "") : view, new_path);
  if (!pb && view.empty() && !b.projections.empty()) pb = b.projections[0];
  if (!pa || !pb) return 1;
  std::string schema;
  if (!ReadSchemaFile(schema_file, &schema)) return 1;
  const std::string* avro = schema_file.empty() ? nullptr : &schema;
  // The two replays are independent: run them side by side.
  projd::ReplayResult ra, rb;
  std::string error, error_b;
  bool ok_b = false;
  std::thread second(
      [&] { ok_b = projd::Replay(pb, events, &rb, &error_b, 65536, nullptr, avro); });
  bool ok_a = projd::Replay(pa, events, &ra, &error, 65536, nullptr, avro);
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
                   const std::string& file, const std::string& schema_file) {
  projd::CompiledFile f;
  if (!CompileOne(file, &f)) return 1;
  auto p = Pick(f, view, file);
  if (!p) return 1;
  std::string schema;
  if (!ReadSchemaFile(schema_file, &schema)) return 1;
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
      },
      schema_file.empty() ? nullptr : &schema);
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

}  // namespace projctl
