// View::Pause and Resume (what a rebuild's swap holds the serving view with): a paused view
// applies nothing and its position stays put while reads go on; resumed, it applies the rest;
// Stop ends a paused view and calls the waits for positions it did not reach; a view whose
// loop does not run counts as held at once.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include "engine/view.h"
#include "tests/engine/file_view.h"
#include "tests/unit_dir.h"

namespace {

namespace fs = std::filesystem;

constexpr int kEvents = 4000;

std::unique_ptr<projd::View> MakeView(const std::string& name) {
  fs::path dir = projd_test::FreshUnitDir(name);
  std::string events = (dir / "events.jsonl").string();
  {
    std::ofstream out(events);
    for (int i = 0; i < kEvents; ++i) out << "{\"k\":\"k" << i % 5 << "\",\"n\":1}\n";
  }
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
  options.max_batch = options.max_grown_batch = 20;
  // A millisecond per commit: the 200 commits take long enough to pause in the middle.
  options.on_published = [] { std::this_thread::sleep_for(std::chrono::milliseconds(1)); };
  return projd_test::FileView(projection, std::move(store), events, options);
}

int64_t Applied(projd::View& view) { return view.Status().applied_total; }

bool WaitApplied(projd::View& view, int64_t n) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (Applied(view) < n) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

}  // namespace

TEST_CASE("a paused view applies nothing until resumed; its position stays put", "[engine]") {
  auto view = MakeView("view-pause");
  // Not running yet: nothing to hold.
  CHECK(view->Pause(std::chrono::milliseconds(0)));
  view->Resume();
  view->Start();
  REQUIRE(WaitApplied(*view, 200));
  REQUIRE(view->Pause(std::chrono::seconds(10)));
  const int64_t held_at = Applied(*view);
  const std::string position = view->PositionString();
  CHECK(held_at < kEvents);
  // Every applied event is published when the pause holds: the position names them all.
  CHECK(position == "t:0:" + std::to_string(held_at));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(Applied(*view) == held_at);
  CHECK(view->PositionString() == position);
  projd::RowRecord row;
  uint64_t dead = 0;
  CHECK(view->store().GetRow("k0", &row, &dead));  // reads go on
  view->Resume();
  REQUIRE(WaitApplied(*view, kEvents));
  CHECK(view->PositionString() == "t:0:" + std::to_string(kEvents));
  // A wait for a position the view has not reached is called when the view stops (its caller
  // then looks for the position elsewhere, e.g. on a rebuilt view), not left to time out.
  projd::Position beyond;
  std::string perr;
  REQUIRE(projd::Position::Parse("t:0:" + std::to_string(kEvents + 1), &beyond, &perr));
  std::atomic<int> called{0};
  view->WhenReached(beyond, [&called] { ++called; });
  CHECK(called == 0);
  // Paused again, then stopped: Stop does not wait for a Resume.
  REQUIRE(view->Pause(std::chrono::seconds(10)));
  auto t0 = std::chrono::steady_clock::now();
  view->Stop();
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
  CHECK(called == 1);
  // A wait asked of the stopped view (a request that found it just before a rebuild's swap)
  // is called at once, not kept where nothing will call it.
  view->WhenReached(beyond, [&called] { ++called; });
  CHECK(called == 2);
  // Stopped: held at once.
  CHECK(view->Pause(std::chrono::milliseconds(0)));
  view->Resume();
}
