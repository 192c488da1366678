// A view's stalled state (SPEC §5: lag above 0 and no progress for 30 s) counts the time
// without progress from when there was something to apply: a view idle for longer than the
// bound whose topic just got an event is behind, not stalled; one that then makes no progress
// for the bound is stalled.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>

#include "engine/view.h"
#include "tests/engine/file_view.h"
#include "tests/unit_dir.h"

namespace {

using projd::Message;
using projd::TopicPartition;

// One partition of topic "t" whose log end the test sets; it delivers nothing past
// `deliver_up_to` (a consumer that does not get the events the log holds).
struct Script {
  std::mutex mu;
  int64_t log_end = 0;
  int64_t deliver_up_to = 0;
};

class ScriptedSource final : public projd::Source {
 public:
  explicit ScriptedSource(Script* script) : script_(script) {}
  bool Start(const std::vector<std::string>&, std::function<int64_t(const TopicPartition&)> start,
             std::string*) override {
    next_ = start(TopicPartition{"t", 0});
    return true;
  }
  bool Poll(std::vector<Message>* out, size_t max, std::chrono::milliseconds timeout) override {
    out->clear();
    values_.clear();
    int64_t up_to;
    {
      std::lock_guard<std::mutex> lock(script_->mu);
      up_to = script_->deliver_up_to;
    }
    while (next_ < up_to && out->size() < max) {
      values_.push_back("{\"k\":\"a\",\"n\":1}");
      Message m;
      m.topic = "t";
      m.offset = next_++;
      out->push_back(m);
    }
    for (size_t i = 0; i < out->size(); ++i) (*out)[i].value = values_[i];
    if (out->empty()) std::this_thread::sleep_for(std::min(timeout, std::chrono::milliseconds(5)));
    return true;
  }
  void Seek(const TopicPartition&, int64_t offset) override { next_ = offset; }
  projd::SourceStatus Status() const override {
    projd::SourceStatus s;
    std::lock_guard<std::mutex> lock(script_->mu);
    s.partitions[TopicPartition{"t", 0}] = projd::PartitionInfo{0, script_->log_end};
    return s;
  }

 private:
  Script* script_;
  int64_t next_ = 0;
  std::vector<std::string> values_;
};

std::string StateName(projd::View& view) { return projd::ViewStateName(view.Status().state); }

}  // namespace

TEST_CASE("stalled: no progress for the bound while there is lag, not merely an idle view",
          "[engine]") {
  auto dir = projd_test::FreshUnitDir("view_stall");
  auto projection = projd_test::CompileFirst(R"(
projection p {
  from "t"
  key event.k
  on * { total += event.n }
}
)");
  std::string error;
  auto store = projd::ViewStore::Open((dir / "store").string(), projd::KvOptions(), &error);
  REQUIRE(store);
  projd::ViewOptions options;
  options.stall_after = std::chrono::seconds(1);
  Script script;
  script.log_end = script.deliver_up_to = 3;
  projd::View view(
      projection, std::move(store),
      [&script](const std::string&) { return std::make_unique<ScriptedSource>(&script); }, options,
      [](const std::string&, const std::string&, const std::string&) {});
  view.Start();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (view.Status().applied_total < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  REQUIRE(view.Status().applied_total == 3);
  CHECK(StateName(view) == "live");
  // Idle for longer than the bound (no progress: nothing to apply).
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  CHECK(StateName(view) == "live");
  // The log grows, and the consumer does not get the events: behind at once, not stalled...
  {
    std::lock_guard<std::mutex> lock(script.mu);
    script.log_end = 5;
  }
  CHECK(StateName(view) != "stalled");
  // ...stalled once the bound passed without progress...
  std::this_thread::sleep_for(std::chrono::milliseconds(1300));
  CHECK(StateName(view) == "stalled");
  // ...and live again once the events come.
  {
    std::lock_guard<std::mutex> lock(script.mu);
    script.deliver_up_to = 5;
  }
  while (view.Status().applied_total < 5 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK(StateName(view) == "live");
  view.Stop();
}
