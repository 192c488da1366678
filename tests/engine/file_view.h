// Engine tests' views over files: a projection compiled from its text, and a View of it fed by
// a JSONL file (NewFileSource, topic "t"), as the daemon builds one over Kafka.
#ifndef PROJD_TESTS_ENGINE_FILE_VIEW_H_
#define PROJD_TESTS_ENGINE_FILE_VIEW_H_

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <utility>

#include "connectors/source.h"
#include "dsl/compiler.h"
#include "engine/view.h"
#include "store/view_store.h"

namespace projd_test {

// The first projection of `text`; the test fails on a compile error.
inline std::shared_ptr<const projd::Projection> CompileFirst(const std::string& text) {
  auto compiled = projd::CompileFile("test.proj", text);
  REQUIRE(compiled.ok());
  REQUIRE(!compiled.projections.empty());
  return compiled.projections[0];
}

// A View of `projection` in `store`, reading the events of the JSONL file `events` as topic
// "t" (a new file source each time the view starts); its log messages are dropped.
inline std::unique_ptr<projd::View> FileView(std::shared_ptr<const projd::Projection> projection,
                                             std::unique_ptr<projd::ViewStore> store,
                                             const std::string& events,
                                             const projd::ViewOptions& options) {
  return std::make_unique<projd::View>(
      std::move(projection), std::move(store),
      [events](const std::string&) {
        std::string error;
        return projd::NewFileSource(events, "t", &error);
      },
      options, [](const std::string&, const std::string&, const std::string&) {});
}

}  // namespace projd_test

#endif  // PROJD_TESTS_ENGINE_FILE_VIEW_H_
