// The query examples of docs/language.md run: each ```query block runs on the view of the
// ```proj example before it (built from that example's ```jsonl events) and must answer the
// rows and columns of the ```answer block after it, or be refused with the exact text of a
// ```query-error block. (tests/docs/check_docs.py checks the ```proj examples themselves.)
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <map>

#include "dsl/compiler.h"
#include "engine/projector.h"
#include "engine/query_exec.h"
#include "store/view_store.h"
#include "tests/dsl/golden_files.h"

namespace {

namespace fs = std::filesystem;

struct Block {
  int line = 0;
  std::string info, text;
};

std::vector<Block> Blocks(const std::string& doc) {
  std::vector<Block> out;
  std::istringstream in(doc);
  std::string line;
  int n = 0;
  Block* open = nullptr;
  while (std::getline(in, line)) {
    ++n;
    if (open) {
      if (line == "```") {
        open = nullptr;
      } else {
        open->text += line + "\n";
      }
    } else if (line.rfind("```", 0) == 0) {
      out.push_back({n + 1, line.substr(3), ""});
      open = &out.back();
    }
  }
  return out;
}

struct DocView {
  std::shared_ptr<const projd::Projection> proj;
  std::unique_ptr<projd::ViewStore> store;
};

// The view of a ```proj example and its ```jsonl events, in a fresh store.
std::unique_ptr<DocView> BuildView(const std::string& proj_text, const std::string& events,
                                   int line) {
  auto view = std::make_unique<DocView>();
  projd::CompiledFile compiled = projd::CompileFile("example.proj", proj_text);
  REQUIRE(compiled.ok());
  view->proj = compiled.projections[0];
  fs::path dir = fs::temp_directory_path() / ("projd-query-docs-" + std::to_string(getpid())) /
                 std::to_string(line);
  fs::remove_all(dir);
  std::string error;
  view->store = projd::ViewStore::Open(dir.string(), projd::KvOptions(), &error);
  REQUIRE(view->store);
  view->store->UseIndexesOf(*view->proj);
  projd::Projector projector(view->proj);
  projd::Batch batch;
  REQUIRE(view->store->BeginBatch(&error));
  std::istringstream in(events);
  std::string ev;
  int64_t offset = 0;
  while (std::getline(in, ev)) {
    if (ev.empty()) continue;
    projd::Message m;
    m.topic = view->proj->topics()[0];
    m.offset = offset++;
    m.value = ev;
    std::string reason;
    projector.Apply(m, view->store.get(), &batch, &reason);
  }
  REQUIRE(view->store->Commit(batch, &error));
  return view;
}

std::string Canonical(const std::string& json) {
  projd::Value v;
  std::string error;
  INFO(json);
  REQUIRE(projd::ParseJson(json, &v, &error));
  return projd::ToJson(v);
}

}  // namespace

TEST_CASE("the query examples of docs/language.md answer as shown", "[dsl]") {
  std::vector<Block> blocks =
      Blocks(projd_test::Slurp(fs::path(PROJD_SOURCE_DIR) / "docs" / "language.md"));
  std::string proj, events;
  int proj_line = 0;
  std::unique_ptr<DocView> view;
  int checked = 0;
  for (size_t i = 0; i < blocks.size(); ++i) {
    const Block& b = blocks[i];
    if (b.info == "proj") {
      proj = b.text;
      proj_line = b.line;
      events.clear();
      view.reset();
    } else if (b.info == "jsonl") {
      events = b.text;
    }
    if (b.info != "query") continue;
    INFO("docs/language.md:" << b.line);
    REQUIRE(!proj.empty());
    REQUIRE(i + 1 < blocks.size());
    const Block& want = blocks[i + 1];
    REQUIRE((want.info == "answer" || want.info == "query-error"));
    if (!view) view = BuildView(proj, events, proj_line);
    std::string text = projd_test::TrimTrailing(b.text);
    projd::Diagnostic diag;
    auto q = projd::CompileQuery(
        text, [&](const std::string&) { return view->proj; }, &diag);
    if (want.info == "query-error") {
      REQUIRE_FALSE(q);
      CHECK(projd_test::TrimTrailing(diag.Format()) == projd_test::TrimTrailing(want.text));
      ++checked;
      continue;
    }
    INFO(diag.Format());
    REQUIRE(q);
    projd::QueryAnswer answer;
    std::string error;
    INFO(error);
    REQUIRE(projd::RunQuery(*q, view->store.get(), "", projd::QueryLimits(), &answer, &error));
    projd::Array columns;
    for (const auto& item : q->select) columns.push_back(projd::Value::String(item.label));
    projd::Object got;
    got.Set("rows", projd::Value::MakeArray(answer.rows));
    got.Set("columns", projd::Value::MakeArray(std::move(columns)));
    CHECK(projd::ToJson(projd::Value::MakeObject(std::move(got))) == Canonical(want.text));
    ++checked;
  }
  CHECK(checked >= 5);
}
