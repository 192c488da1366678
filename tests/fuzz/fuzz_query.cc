// Fuzz target: a query through the query parser and checker (dsl::CompileQuery), and when it
// compiles, through the planner and executor (engine::RunQuery) over real LMDB stores: the
// views of tests/golden_query (acct, bank, ledger, memo with its text indexes, nums), built
// once at start. A next page is fetched with the cursor of the first answer.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dsl/compiler.h"
#include "engine/projector.h"
#include "engine/query_exec.h"
#include "store/view_store.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

struct Views {
  std::map<std::string, std::shared_ptr<const projd::Projection>> projections;
  std::map<std::string, std::unique_ptr<projd::ViewStore>> stores;
};

Views* BuildViews() {
  auto* views = new Views;
  for (const char* name : {"acct", "bank", "ledger", "memo", "nums"}) {
    auto base = projd_fuzz::SourceDir() / "tests" / "golden_query" / name;
    projd::CompiledFile compiled =
        projd::CompileFile(std::string(name) + ".proj", projd_fuzz::Slurp(base.string() + ".proj"));
    FUZZ_CHECK(compiled.ok() && compiled.projections.size() == 1, name);
    auto proj = compiled.projections[0];
    std::string error;
    auto store =
        projd::ViewStore::Open(projd_fuzz::ScratchDir() + "/" + name, projd::KvOptions(), &error);
    FUZZ_CHECK(store != nullptr, error.c_str());
    store->UseIndexesOf(*proj);
    projd::Projector projector(proj);
    projd::Batch batch;
    FUZZ_CHECK(store->BeginBatch(&error), error.c_str());
    std::string events = projd_fuzz::Slurp(base.string() + ".jsonl");
    int64_t offset = 0;
    size_t start = 0;
    while (start < events.size()) {
      size_t end = events.find('\n', start);
      if (end == std::string::npos) end = events.size();
      std::string_view line(events.data() + start, end - start);
      start = end + 1;
      if (line.empty()) continue;
      projd::Message m;
      m.topic = proj->topics()[0];
      m.offset = offset++;
      m.timestamp_ms = 1751328000000 + m.offset * 60000;
      m.value = line;
      std::string reason;
      projector.Apply(m, store.get(), &batch, &reason);
    }
    FUZZ_CHECK(store->Commit(batch, &error), error.c_str());
    views->projections[proj->name()] = proj;
    views->stores[proj->name()] = std::move(store);
  }
  return views;
}

Views& TheViews() {
  static Views* views = BuildViews();  // lives until exit
  return *views;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  TheViews();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Views& views = TheViews();
  std::string_view text(reinterpret_cast<const char*>(data), size);
  projd::Diagnostic diag;
  auto query = projd::CompileQuery(
      text,
      [&views](const std::string& name) -> std::shared_ptr<const projd::Projection> {
        auto it = views.projections.find(name);
        return it == views.projections.end() ? nullptr : it->second;
      },
      &diag);
  if (!query) {
    FUZZ_CHECK(diag.line >= 1 && diag.column >= 1 && !diag.message.empty(), diag.Format().c_str());
    return 0;
  }
  FUZZ_CHECK(views.stores.count(query->view) == 1, query->view.c_str());
  projd::ViewStore* store = views.stores[query->view].get();
  projd::QueryLimits limits;
  limits.default_rows = 3;
  limits.max_rows = 50;
  limits.max_sorted = 1000;
  limits.budget = std::chrono::milliseconds(2000);
  projd::QueryAnswer answer;
  std::string error;
  if (!projd::RunQuery(*query, store, "", limits, &answer, &error)) {
    FUZZ_CHECK(!error.empty(), "a failed query says why");
    return 0;
  }
  std::string json;
  projd::WriteJson(projd::Value::MakeArray(answer.rows), &json);
  if (!answer.next_cursor.empty()) {
    projd::QueryAnswer next;
    // The next page may fail on a row it evaluates (division by zero, ...), not on the cursor.
    bool ok = projd::RunQuery(*query, store, answer.next_cursor, limits, &next, &error);
    FUZZ_CHECK(ok || error.find("cursor") == std::string::npos,
               ("the cursor of an answer is good: " + error).c_str());
  }
  return 0;
}
