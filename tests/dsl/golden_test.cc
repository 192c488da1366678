// Language behaviour as data: every tests/golden/NAME.proj is a case.
//   NAME.proj + NAME.jsonl + NAME.expected.json  the view after replaying the events
//                                                ({key: row}, or {view: {key: row}} when the
//                                                file holds several projections)
//   NAME.dead (optional)                         the dead letters, one per line:
//                                                "TOPIC:PARTITION:OFFSET: reason"
//   NAME.provenance.json (optional)              each row's audit values and correlation:
//                                                {key: {"audit": {...}, "correlation": ...}}
//   NAME.errors                                  instead: the file must not compile, and the
//                                                diagnostics must read exactly so
#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "dsl/compiler.h"
#include "engine/replay.h"
#include "tests/dsl/golden_files.h"

namespace {

namespace fs = std::filesystem;

using projd_test::Slurp;
using projd_test::TrimTrailing;

projd::Value ProvenanceOf(const std::map<std::string, projd::RowRecord>& rows);

void RunCase(const fs::path& proj) {
  fs::path base = proj;
  base.replace_extension();
  std::string name = base.filename().string();
  std::string text = Slurp(proj);
  projd::CompiledFile compiled = projd::CompileFile(proj.filename().string(), text);
  fs::path errors = base.string() + ".errors";
  if (fs::exists(errors)) {
    std::string got;
    for (const auto& d : compiled.diagnostics) got += d.Format();
    INFO("case " << name);
    CHECK_FALSE(compiled.ok());
    CHECK(TrimTrailing(got) == TrimTrailing(Slurp(errors)));
    return;
  }
  std::string diags;
  for (const auto& d : compiled.diagnostics) diags += d.Format();
  INFO("case " << name << "\n" << diags);
  REQUIRE(compiled.ok());
  projd::Object all;
  projd::Value provenance;
  std::string dead;
  for (const auto& p : compiled.projections) {
    projd::ReplayResult r;
    std::string error;
    // Small batches, so batch boundaries fall inside the cases too.
    REQUIRE(projd::Replay(p, base.string() + ".jsonl", &r, &error, 3));
    // Events read whole give the same view and dead letters as events read by member.
    projd::ReplayResult whole;
    REQUIRE(projd::Replay(p, base.string() + ".jsonl", &whole, &error, 3, nullptr, nullptr, true));
    CHECK(projd::ToJson(projd::ViewToJson(whole.rows)) == projd::ToJson(projd::ViewToJson(r.rows)));
    REQUIRE(whole.dead_letters.size() == r.dead_letters.size());
    for (size_t i = 0; i < r.dead_letters.size(); ++i) {
      CHECK(whole.dead_letters[i].reason == r.dead_letters[i].reason);
      CHECK(whole.dead_letters[i].offset == r.dead_letters[i].offset);
    }
    CHECK(whole.stop_reason == r.stop_reason);
    for (const auto& d : r.dead_letters) {
      dead += (compiled.projections.size() > 1 ? p->name() + " " : "") + d.topic + ":" +
              std::to_string(d.partition) + ":" + std::to_string(d.offset) + ": " + d.reason + "\n";
    }
    if (r.stopped) {
      dead += (compiled.projections.size() > 1 ? p->name() + " " : "") + "stopped at " + r.stop_at +
              ": " + r.stop_reason + "\n";
    }
    all.Set(p->name(), projd::ViewToJson(r.rows));
    provenance = ProvenanceOf(r.rows);
  }
  projd::Value got = compiled.projections.size() == 1 ? *all.Find(compiled.projections[0]->name())
                                                      : projd::Value::MakeObject(std::move(all));
  projd::Value want;
  std::string error;
  REQUIRE(projd::ParseJson(Slurp(base.string() + ".expected.json"), &want, &error));
  std::string got_text, want_text;
  projd::WritePrettyJson(got, &got_text);
  projd::WritePrettyJson(want, &want_text);
  CHECK(got_text == want_text);
  fs::path dead_file = base.string() + ".dead";
  CHECK(TrimTrailing(dead) == (fs::exists(dead_file) ? TrimTrailing(Slurp(dead_file)) : ""));
  fs::path provenance_file = base.string() + ".provenance.json";
  if (fs::exists(provenance_file)) {
    REQUIRE(compiled.projections.size() == 1);
    projd::Value want_provenance;
    REQUIRE(projd::ParseJson(Slurp(provenance_file), &want_provenance, &error));
    projd::WritePrettyJson(want_provenance, &want_text);
    projd::WritePrettyJson(provenance, &got_text);
    CHECK(got_text == want_text);
  }
}

// Each row's audit values and correlation (the last event's), as NAME.provenance.json holds them.
projd::Value ProvenanceOf(const std::map<std::string, projd::RowRecord>& rows) {
  projd::Object out;
  for (const auto& [key, row] : rows) {
    projd::Object o;
    if (!row.updated_by.audit.empty()) {
      o.Set("audit", projd::Value::MakeObject(row.updated_by.audit));
    }
    if (row.updated_by.has_correlation) {
      o.Set("correlation", projd::Value::String(row.updated_by.correlation));
    }
    out.Set(key, projd::Value::MakeObject(std::move(o)));
  }
  return projd::Value::MakeObject(std::move(out));
}

}  // namespace

TEST_CASE("golden language cases", "[golden]") {
  auto cases = projd_test::GoldenCases("golden", ".proj");
  REQUIRE(cases.size() >= 1);
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.filename().string()) { RunCase(c); }
  }
}
