// projd --demo as a newcomer meets it: the example events, then a live stream that keeps the
// views moving, a view that keeps history, full-text search of the example events' memos, and
// an errors stop view held by a malformed event until it is skipped. A second demo on the same
// folder starts from empty views.
#include <catch2/catch.hpp>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "tests/integration/harness.h"

namespace {

using projd::Value;
using projd::testing::ProjdProcess;

int64_t Number(const Value& v, const std::string& field) {
  int64_t n = -1;
  const Value* f = v.is_object() ? v.as_object().Find(field) : nullptr;
  if (f && f->is_number()) f->as_number().ToInt64(&n);
  return n;
}

std::string State(ProjdProcess& p, const std::string& view) {
  Value v = p.GetJson("/v1/views/" + view);
  const Value* s = v.is_object() ? v.as_object().Find("state") : nullptr;
  return s && s->is_string() ? s->as_string() : "";
}

// Where a failed view stopped, "PARTITION:OFFSET" ("" when it is not failed). After a skip
// the view may stop again at a malformed event of another partition, at a lower offset.
std::string FailedAt(ProjdProcess& p, const std::string& view) {
  Value v = p.GetJson("/v1/views/" + view);
  const Value* f = v.is_object() ? v.as_object().Find("failed_at") : nullptr;
  if (!f || !f->is_object()) return "";
  return std::to_string(Number(*f, "partition")) + ":" + std::to_string(Number(*f, "offset"));
}

template <typename F>
bool Until(F done, std::chrono::seconds timeout = std::chrono::seconds(60)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

}  // namespace

TEST_CASE("--demo keeps a live stream going, with history and an errors stop view to skip",
          "[embedded]") {
  std::string dir = projd::testing::TempDir("demo");
  std::string src = PROJD_SOURCE_DIR;
  std::vector<std::string> args = {"--demo",
                                   "--projections",
                                   src + "/projections",
                                   "--demo-events",
                                   src + "/examples/banking-events.jsonl",
                                   "--data",
                                   dir + "/data",
                                   "--demo-rate",
                                   "100"};
  std::string error;
  auto p = ProjdProcess::Start(args, dir + "/projd.log", &error);
  REQUIRE(p);
  // The 3,000 example events, then more: the stream goes on.
  REQUIRE(Until([&] {
    return Number(p->GetJson("/v1/views/account_balance"), "events_applied") +
               Number(p->GetJson("/v1/views/account_balance"), "events_skipped") >
           3100;
  }));
  int64_t before = Number(p->GetJson("/v1/views/account_balance"), "events_applied");
  std::this_thread::sleep_for(std::chrono::seconds(2));
  int64_t after = Number(p->GetJson("/v1/views/account_balance"), "events_applied");
  INFO("applied " << before << " then " << after);
  CHECK(after > before + 50);
  CHECK(State(*p, "account_balance") == "live");

  // Its threads are named for what they do and their view (cut to 15 bytes), as top -H shows.
  std::set<std::string> threads;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/" + std::to_string(p->pid()) + "/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    if (std::getline(comm, name)) threads.insert(name);
  }
  // (fetch-waker: each Kafka consumer's, named by projd_connectors with the same helper.)
  for (const char* name : {"view/account_ba", "commit/account_", "view/card_trans", "http", "query",
                           "feeds", "monitor", "fetch-waker"}) {
    INFO("thread " << name);
    CHECK(threads.count(name) == 1);
  }

  // History: as-of reads and versions of a row.
  CHECK(p->Call("GET", "/v1/views/account_activity/rows/acc-00001/history?limit=5").status == 200);
  CHECK(p->Call("GET", "/v1/views/account_activity/rows/acc-00001?as_of=2025-07-01T12:00:00Z")
            .status == 200);

  // Full-text search of the example events' memos: every row found says coffee, in any case.
  REQUIRE(Until([&] {
    return Number(p->GetJson("/v1/views/card_transactions"), "events_applied") +
               Number(p->GetJson("/v1/views/card_transactions"), "events_skipped") >
           3000;
  }));
  auto r = p->Call("POST", "/v1/query",
                   "from card_transactions select key, memo where memo matches \"coffee\" limit 5");
  REQUIRE(r.status == 200);
  Value found;
  REQUIRE(projd::ParseJson(r.body, &found, &error));
  const Value* rows = found.as_object().Find("rows");
  REQUIRE((rows && rows->is_array()));
  CHECK(!rows->as_array().empty());
  CHECK(rows->as_array().size() <= 5);
  for (const Value& row : rows->as_array()) {
    const Value* memo = row.is_object() ? row.as_object().Find("memo") : nullptr;
    REQUIRE((memo && memo->is_string()));
    std::string lower = memo->as_string();
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    INFO(memo->as_string());
    CHECK(lower.find("coffee") != std::string::npos);
  }
  const Value* plan = found.as_object().Find("plan");
  CHECK((plan && plan->is_string() && plan->as_string() == "text memo"));

  // The errors stop view stops at a malformed event; skip moves it past, to the next one (or on).
  REQUIRE(Until([&] { return State(*p, "large_movements") == "failed"; }));
  std::string stopped = FailedAt(*p, "large_movements");
  CHECK(!stopped.empty());
  CHECK(p->Call("POST", "/v1/views/large_movements/skip").status == 202);
  REQUIRE(Until([&] {
    return State(*p, "large_movements") != "failed" || FailedAt(*p, "large_movements") != stopped;
  }));
  CHECK(Number(p->GetJson("/v1/views/large_movements"), "dead_letters") >= 1);
  CHECK(p->Terminate() == 0);

  // Again on the same folder: the embedded broker is new, so the views start over (never a
  // position beyond the new log's end).
  p = ProjdProcess::Start(args, dir + "/projd2.log", &error);
  REQUIRE(p);
  REQUIRE(Until(
      [&] { return Number(p->GetJson("/v1/views/account_balance"), "events_applied") > 3000; }));
  CHECK(State(*p, "account_balance") == "live");
  CHECK(p->Log().find("starting from empty views") != std::string::npos);
}

TEST_CASE("real Kafka: --demo --brokers creates the example topics and produces the events",
          "[kafka]") {
  std::string brokers = projd::testing::KafkaOrSkip();
  if (brokers.empty()) return;
  // A topic no one made (the test broker does not create topics on first use).
  std::string topic = projd::testing::UniqueTopic("demo");
  std::string dir = projd::testing::ProjectionFolder("demo-kafka", "d.proj", R"(
projection demo_counts {
  from ")" + topic + R"("
  key event.k
  on * { n += 1 }
}
)");
  std::string events;
  for (int i = 0; i < 30; ++i) {
    events += R"({"topic":")" + topic + R"(","key":"k)" + std::to_string(i % 3) +
              R"(","value":{"type":"E","k":"k)" + std::to_string(i % 3) + "\"}}\n";
  }
  projd::testing::WriteFile(dir + "/events.jsonl", events);
  std::string error;
  auto p = ProjdProcess::Start(
      {"--demo", "--brokers", brokers, "--projections", dir + "/projections", "--demo-events",
       dir + "/events.jsonl", "--demo-rate", "0", "--data", dir + "/data"},
      dir + "/projd.log", &error);
  REQUIRE(p);
  REQUIRE(p->WaitCaughtUp("demo_counts", 30, std::chrono::seconds(60)));
  CHECK(projd::ToJson(*p->GetJson("/v1/views/demo_counts/rows/k1").as_object().Find("row")) ==
        R"({"n":10})");
  CHECK(p->Log().find("--demo: produced 30 example events") != std::string::npos);
  CHECK(p->Terminate() == 0);
}
