// Views for query tests: a projection's view in a fresh LMDB store (real files under the
// temporary folder), filled by replaying events through the projector as the daemon does.
#ifndef PROJD_TESTS_DSL_TEST_VIEWS_H_
#define PROJD_TESTS_DSL_TEST_VIEWS_H_

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "dsl/compiler.h"
#include "engine/projector.h"
#include "store/view_store.h"

namespace projd_test {

// Applies `events` (JSON values of topic "t", offsets from *offset on) to `store` in one batch,
// as the daemon does. With `require_applied` every event must apply: the test fails naming the
// event and the projector's reason otherwise.
inline void ApplyTestBatch(projd::Projector& projector, projd::ViewStore* store,
                           const std::vector<std::string>& events, int64_t* offset,
                           bool require_applied) {
  std::string error;
  projd::Batch batch;
  REQUIRE(store->BeginBatch(&error));
  for (const auto& e : events) {
    projd::Message m;
    m.topic = "t";
    m.offset = (*offset)++;
    m.value = e;
    std::string reason;
    auto outcome = projector.Apply(m, store, &batch, &reason);
    if (require_applied) {
      INFO(e << ": " << reason);
      REQUIRE(outcome == projd::Projector::Outcome::kApplied);
    }
  }
  INFO(error);
  REQUIRE(store->Commit(batch, &error));
}

struct TestView {
  std::shared_ptr<const projd::Projection> proj;
  std::unique_ptr<projd::ViewStore> store;
};

// The view of the one projection in `source`, in TMP/projd-GROUP-PID/NAME (emptied first), its
// indexes kept, with `events` (JSON values of topic "t", offsets from 0) applied in one batch.
inline TestView MakeTestView(const std::string& group, const std::string& name,
                             const std::string& source, const std::vector<std::string>& events) {
  projd::CompiledFile compiled = projd::CompileFile("t.proj", source);
  REQUIRE(compiled.ok());
  TestView view;
  view.proj = compiled.projections[0];
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("projd-" + group + "-" + std::to_string(getpid())) / name;
  std::filesystem::remove_all(dir);
  std::string error;
  view.store = projd::ViewStore::Open(dir.string(), projd::KvOptions(), &error);
  REQUIRE(view.store);
  view.store->UseIndexesOf(*view.proj);
  projd::Projector projector(view.proj);
  int64_t offset = 0;
  ApplyTestBatch(projector, view.store.get(), events, &offset, false);
  return view;
}

// A query over the view (every `from` names it); fails the test on a compile error.
inline std::unique_ptr<projd::Query> CompileTestQuery(const TestView& view,
                                                      const std::string& text) {
  projd::Diagnostic diag;
  auto q = projd::CompileQuery(
      text, [&](const std::string&) { return view.proj; }, &diag);
  INFO(text << ": " << diag.Format());
  REQUIRE(q);
  return q;
}

}  // namespace projd_test

#endif  // PROJD_TESTS_DSL_TEST_VIEWS_H_
