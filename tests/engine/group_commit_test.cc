// A view with a backlog (polls that come back full) lets it join the batch in hand, up to
// max_grown_batch events per commit: fewer, larger commits, and the same rows. Every commit is
// fsynced and takes 5 ms more in the commit callback, as a view bound by its writes.
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "engine/view.h"
#include "tests/engine/file_view.h"
#include "tests/unit_dir.h"

namespace {

namespace fs = std::filesystem;

constexpr int kEvents = 7000;  // a multiple of 7: each row gets kEvents / 7

struct Run {
  int commits = 0;
  int64_t applied = 0;
  std::string total;  // of row k3
  bool failed = false;
  int64_t failed_offset = -1;
};

// With stop_at >= 0 (a multiple of 7), the event at that offset has no number and the view
// has `errors stop`.
Run RunView(const std::string& name, size_t max_batch, size_t max_grown_batch, int stop_at = -1) {
  fs::path dir = projd_test::FreshUnitDir(name);
  std::string events = (dir / "events.jsonl").string();
  {
    std::ofstream out(events);
    for (int i = 0; i < kEvents; ++i) {
      out << "{\"k\":\"k" << i % 7 << "\",\"id\":\"e" << i
          << "\",\"n\":" << (i == stop_at ? "\"x\"" : "1") << "}\n";
    }
  }
  auto projection = projd_test::CompileFirst(std::string(R"(
projection g {
  from "t"
  key event.k
  id event.id
  dedupe
  history all
  on * { total += event.n }
)") + (stop_at >= 0 ? "  errors stop\n}\n" : "}\n"));
  std::string error;
  projd::KvOptions kv;
  kv.sync = projd::SyncMode::kFull;  // an fsync per commit
  auto store = projd::ViewStore::Open((dir / "store").string(), kv, &error);
  REQUIRE(store);
  projd::ViewOptions options;
  options.max_batch = max_batch;
  options.max_grown_batch = max_grown_batch;
  auto commits = std::make_shared<std::atomic<int>>(0);
  // Called on the committer's thread after each commit, before the next batch may be handed
  // over: 5 ms here make the writer reliably slower than applying a poll, in any build.
  options.on_published = [commits] {
    ++*commits;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  };
  auto view_owner = projd_test::FileView(projection, std::move(store), events, options);
  projd::View& view = *view_owner;
  view.Start();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  const int64_t expect = stop_at >= 0 ? stop_at : kEvents;
  while (std::chrono::steady_clock::now() < deadline) {
    projd::ViewStatus st = view.Status();
    if (st.applied_total >= expect && (stop_at < 0 || st.failed)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  view.Stop();
  Run run;
  run.commits = commits->load();
  projd::ViewStatus st = view.Status();
  run.applied = st.applied_total;
  run.failed = st.failed;
  if (st.failed) run.failed_offset = st.failed_offset;
  projd::RowRecord row;
  uint64_t dead = 0;
  if (view.store().GetRow("k3", &row, &dead)) run.total = projd::ToJson(*row.fields.Find("total"));
  std::vector<std::pair<uint64_t, projd::RowRecord>> versions;
  bool more = false;
  REQUIRE(view.store().History("k3", 0, kEvents, &versions, &more));
  CHECK(versions.size() == static_cast<size_t>(expect / 7));
  return run;
}

}  // namespace

TEST_CASE("a view bound by its writes commits fewer, larger batches with the same rows",
          "[engine]") {
  // Without growth: one commit per poll of 20 events.
  Run fixed = RunView("group-fixed", 20, 20);
  CHECK(fixed.applied == kEvents);
  CHECK(fixed.commits >= kEvents / 20);
  // With growth up to 160 events: while one commit is fsynced, the next batch takes more.
  Run grown = RunView("group-grown", 20, 160);
  CHECK(grown.applied == kEvents);
  CHECK(grown.commits < fixed.commits * 3 / 4);
  CHECK(grown.commits >= kEvents / 160);
  CHECK(grown.total == fixed.total);
  CHECK(grown.total == std::to_string(kEvents / 7));
}

TEST_CASE("a grown batch that reaches an errors stop event keeps every event before it",
          "[engine]") {
  // The failing event comes in a later poll of a grown batch: the events of the earlier polls
  // and of its own poll before it are written, it and the rest wait, and the view is failed
  // there.
  Run run = RunView("group-stop", 20, 160, 3514);  // 14 events into a poll
  CHECK(run.failed);
  CHECK(run.failed_offset == 3514);
  CHECK(run.applied == 3514);
  CHECK(run.total == "502");
}

TEST_CASE("polls read ahead give the same rows, and an errors stop in one keeps what is before",
          "[engine]") {
  // Polls of 1,000 events are read ahead on the view's poll reader.
  Run ahead = RunView("group-ahead", 1000, 4000);
  CHECK(ahead.applied == kEvents);
  CHECK(ahead.total == std::to_string(kEvents / 7));
  Run stopped = RunView("group-ahead-stop", 1000, 1000, 3514);  // 514 events into a poll
  CHECK(stopped.failed);
  CHECK(stopped.failed_offset == 3514);
  CHECK(stopped.applied == 3514);
  CHECK(stopped.total == "502");
}
