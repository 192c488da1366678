// Change feeds send a change only once the view has published it (View::published_change_seq),
// not as soon as its store has it: a batch is committed first and published a moment later
// (the position, X-Projd-Position), and no change may go out ahead of that position. The
// moment in between is made here by writing a batch into a view's store by hand.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "api/change_feed.h"
#include "engine/projector.h"
#include "engine/view.h"
#include "tests/engine/file_view.h"
#include "tests/unit_dir.h"

namespace {

namespace fs = std::filesystem;

std::string AddEvent(const std::string& k, int n) {
  return R"({"type":"Add","k":")" + k + R"(","n":)" + std::to_string(n) + "}";
}

// What the stream has sent within `wait`.
std::string TakeFor(projd::HttpStream* stream, std::chrono::milliseconds wait) {
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < deadline) {
    stream->Take(&out);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return out;
}

}  // namespace

TEST_CASE("change feeds send what the view has published, not what its store has", "[engine]") {
  fs::path dir = projd_test::FreshUnitDir("feed-published");
  auto projection = projd_test::CompileFirst(R"(
projection accounts {
  from "t"
  key event.k
  on Add { total += event.n }
}
)");
  std::string events = (dir / "events.jsonl").string();
  {
    std::ofstream out(events);
    out << AddEvent("a", 1) << "\n" << AddEvent("b", 2) << "\n";
  }
  std::string error;
  auto store = projd::ViewStore::Open((dir / "store").string(), projd::KvOptions(), &error);
  REQUIRE(store);
  store->SetChangeLog({"t"}, 1000);
  std::shared_ptr<projd::View> view =
      projd_test::FileView(projection, std::move(store), events, projd::ViewOptions());
  projd::ChangeFeeds feeds{projd::FeedOptions()};
  feeds.Start();
  feeds.Attach("accounts", view);
  projd::FeedRequest request;
  request.view = "accounts";
  auto answer = feeds.Subscribe(request);  // from now
  REQUIRE(answer.outcome == projd::ChangeFeeds::Outcome::kOk);
  answer.stream->Open([] {});

  // The first event committed to the view's store, as the committer does, and not published:
  // the view's position is still at offset 0.
  {
    projd::ViewStore& s = view->store();
    projd::Projector projector(projection);
    projd::Batch batch;
    batch.record_changes = s.records_changes();
    REQUIRE(s.BeginBatch(&error));
    std::string value = AddEvent("a", 1), reason;
    projd::Message m;
    m.topic = "t";
    m.partition = 0;
    m.offset = 0;
    m.value = value;
    REQUIRE(projector.Apply(m, &s, &batch, &reason) == projd::Projector::Outcome::kApplied);
    projd::StagedBatch staged;
    s.Stage(&batch, &staged);
    s.EndBatch();
    REQUIRE(s.Write(staged, &error));
    CHECK(s.next_change_seq() == view->published_change_seq() + 1);
  }
  feeds.Notify();
  CHECK(TakeFor(answer.stream.get(), std::chrono::milliseconds(300)).find("\"key\"") ==
        std::string::npos);

  // The view runs: it applies the second event and publishes; both changes go out, in order.
  view->Start();
  std::string sent;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (sent.find("\"key\":\"b\"") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    answer.stream->Take(&sent);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(view->PositionString() == "t:0:2");
  size_t a = sent.find("\"key\":\"a\""), b = sent.find("\"key\":\"b\"");
  CHECK(a != std::string::npos);
  CHECK(b != std::string::npos);
  CHECK(a < b);
  view->Stop();
  feeds.Stop();
  answer.stream->Closed();
}
