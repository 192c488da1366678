// The query language as data: every tests/golden_query/NAME.query is a case.
//   NAME.proj + NAME.jsonl   the view: the projection and the events replayed into a real
//                            LMDB store (with its indexes and history)
//   NAME.query               the query text
//   NAME.expected.json       the answer: {"rows", "next_cursor" (true when a next page is
//                            expected), "scanned", "plan"}, and "columns" (the select items'
//                            labels in order, as POST /v1/query answers them) when the file
//                            has that member
//   NAME.error               instead: the exact error (a compile diagnostic, formatted, or the
//                            executor's message)
// Several cases may share one view: NAME.proj/NAME.jsonl are looked up as the longest prefix
// of the case name ending before a '.'-free "__" part, e.g. bank__by_owner uses bank.proj.
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "dsl/compiler.h"
#include "engine/projector.h"
#include "engine/query_exec.h"
#include "store/view_store.h"
#include "tests/dsl/golden_files.h"

namespace {

namespace fs = std::filesystem;

using projd_test::Slurp;

std::string Trim(std::string s) { return projd_test::TrimTrailing(std::move(s)); }

// Builds the view of NAME.proj + NAME.jsonl in a fresh LMDB store.
std::unique_ptr<projd::ViewStore> BuildView(const fs::path& base,
                                            std::shared_ptr<const projd::Projection>* proj) {
  projd::CompiledFile compiled =
      projd::CompileFile(base.filename().string() + ".proj", Slurp(base.string() + ".proj"));
  std::string diags;
  for (const auto& d : compiled.diagnostics) diags += d.Format();
  INFO(diags);
  REQUIRE(compiled.ok());
  *proj = compiled.projections[0];
  fs::path dir = fs::temp_directory_path() / ("projd-query-golden-" + std::to_string(getpid())) /
                 base.filename();
  fs::remove_all(dir);
  std::string error;
  auto store = projd::ViewStore::Open(dir.string(), projd::KvOptions(), &error);
  REQUIRE(store);
  store->UseIndexesOf(**proj);
  projd::Projector projector(*proj);
  std::ifstream in(base.string() + ".jsonl");
  std::string line;
  int64_t offset = 0;
  projd::Batch batch;
  std::vector<std::string> lines;
  while (std::getline(in, line)) {
    if (!line.empty()) lines.push_back(line);
  }
  // Batches of 2, so index entries are replaced across batches too.
  for (size_t i = 0; i < lines.size(); i += 2) {
    batch.Clear();
    REQUIRE(store->BeginBatch(&error));
    for (size_t j = i; j < std::min(lines.size(), i + 2); ++j) {
      projd::Message m;
      m.topic = (*proj)->topics()[0];
      m.offset = offset++;
      m.value = lines[j];
      std::string reason;
      projector.Apply(m, store.get(), &batch, &reason);
    }
    REQUIRE(store->Commit(batch, &error));
  }
  return store;
}

void RunCase(const fs::path& query_file) {
  fs::path base = query_file;
  base.replace_extension();
  std::string name = base.filename().string();
  fs::path view_base = base;
  size_t sep = name.find("__");
  if (sep != std::string::npos) view_base = base.parent_path() / name.substr(0, sep);
  INFO("case " << name);
  std::shared_ptr<const projd::Projection> proj;
  auto store = BuildView(view_base, &proj);
  std::string text = Trim(Slurp(query_file));
  projd::Diagnostic diag;
  auto q = projd::CompileQuery(
      text,
      [&](const std::string& v) -> std::shared_ptr<const projd::Projection> {
        return v == proj->name() ? proj : nullptr;
      },
      &diag);
  fs::path error_file = base.string() + ".error";
  if (!q) {
    INFO(diag.Format());
    REQUIRE(fs::exists(error_file));
    CHECK(Trim(diag.Format()) == Trim(Slurp(error_file)));
    return;
  }
  projd::QueryLimits limits;
  limits.default_rows = 5;  // small pages, so cursors show in the cases
  projd::QueryAnswer answer;
  std::string error;
  bool ok = projd::RunQuery(*q, store.get(), "", limits, &answer, &error);
  if (fs::exists(error_file)) {
    CHECK_FALSE(ok);
    CHECK(error == Trim(Slurp(error_file)));
    return;
  }
  INFO(error);
  REQUIRE(ok);
  projd::Object got;
  got.Set("rows", projd::Value::MakeArray(answer.rows));
  got.Set("next_cursor", projd::Value::Bool(!answer.next_cursor.empty()));
  got.Set("scanned",
          projd::Value::Number(projd::Decimal::FromInt(static_cast<int64_t>(answer.scanned))));
  got.Set("plan", projd::Value::String(answer.plan));
  projd::Value want;
  REQUIRE(projd::ParseJson(Slurp(base.string() + ".expected.json"), &want, &error));
  if (want.is_object() && want.as_object().Find("columns")) {
    projd::Array columns;
    for (const auto& item : q->select) columns.push_back(projd::Value::String(item.label));
    got.Set("columns", projd::Value::MakeArray(std::move(columns)));
  }
  std::string got_text, want_text;
  projd::WritePrettyJson(projd::Value::MakeObject(std::move(got)), &got_text);
  projd::WritePrettyJson(want, &want_text);
  CHECK(got_text == want_text);
}

}  // namespace

TEST_CASE("golden query cases", "[golden]") {
  std::vector<fs::path> cases = projd_test::GoldenCases("golden_query", ".query");
  REQUIRE(cases.size() >= 1);
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.filename().string()) { RunCase(c); }
  }
}
