// The LMDB view store: rows and offsets committed together, surviving kill -9.
#include "engine/view_store.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <random>
#include <thread>

#include "dsl/compiler.h"
#include "engine/projector.h"

namespace {

namespace fs = std::filesystem;

std::shared_ptr<const projd::Projection> Compile(const std::string& text) {
  auto r = projd::CompileFile("t.proj", text);
  std::string d;
  for (const auto& x : r.diagnostics) d += x.Format();
  INFO(d);
  REQUIRE(r.ok());
  return r.projections[0];
}

std::string TempDir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("projd-unit-" + std::to_string(getpid())) / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

const char kCounter[] = R"(
projection counter {
  from "t"
  key event.k
  on * { total += event.n  count += 1 }
}
)";

// The event at offset i: key k<i%7>, amount i/100.
std::string EventAt(int64_t i) {
  return "{\"k\":\"k" + std::to_string(i % 7) + "\",\"n\":" + std::to_string(i / 100) + "." +
         std::to_string(i % 100 / 10) + std::to_string(i % 10) + "}";
}

// Applies events [position, total) in batches, like the daemon's loop.
void ApplyLoop(const std::string& dir, int64_t total, int batch_size) {
  std::string error;
  auto store = projd::ViewStore::Open(dir, projd::KvOptions(), &error);
  if (!store) _exit(3);
  projd::Projector projector(Compile(kCounter));
  int64_t next = 0;
  auto pos = store->Positions();
  auto it = pos.find(projd::TopicPartition{"t", 0});
  if (it != pos.end()) next = it->second;
  projd::Batch batch;
  while (next < total) {
    batch.Clear();
    store->BeginBatch(&error);
    std::vector<std::string> values;
    for (int i = 0; i < batch_size && next < total; ++i, ++next) {
      values.push_back(EventAt(next));
      projd::Message m;
      m.topic = "t";
      m.partition = 0;
      m.offset = next;
      m.value = values.back();
      std::string reason;
      projector.Apply(m, store.get(), &batch, &reason);
    }
    if (!store->Commit(batch, &error)) _exit(4);
  }
}

}  // namespace

TEST_CASE("rows and offsets survive reopen", "[engine]") {
  std::string dir = TempDir("reopen");
  ApplyLoop(dir, 1000, 100);
  std::string error;
  auto store = projd::ViewStore::Open(dir, projd::KvOptions(), &error);
  REQUIRE(store);
  CHECK(store->Positions().at(projd::TopicPartition{"t", 0}) == 1000);
  CHECK(store->RowCount() == 7);
  projd::RowRecord rec;
  uint64_t dead = 0;
  REQUIRE(store->GetRow("k0", &rec, &dead));
  // Offsets 0, 7, 14, ... 994: 143 events.
  CHECK(projd::ToJson(*rec.fields.Find("count")) == "143");
  CHECK(rec.version == 143);
  CHECK(rec.updated_by.offset == 994);
}

TEST_CASE("kill -9 between batches neither loses nor repeats an event", "[engine]") {
  std::string dir = TempDir("kill9");
  const int64_t total = 60000;
  std::mt19937 rng(42);
  int kills = 0;
  for (int round = 0; round < 8; ++round) {
    pid_t pid = fork();
    if (pid == 0) {
      ApplyLoop(dir, total, 50);
      _exit(0);
    }
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(5, 120)(rng)));
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) ++kills;
  }
  CHECK(kills >= 1);
  // Whatever the store holds must be exactly the first `position` events.
  std::string error;
  auto store = projd::ViewStore::Open(dir, projd::KvOptions(), &error);
  REQUIRE(store);
  auto pos = store->Positions();
  int64_t position =
      pos.count(projd::TopicPartition{"t", 0}) ? pos.at(projd::TopicPartition{"t", 0}) : 0;
  INFO("position after kills: " << position);
  int64_t cents[7] = {0}, counts[7] = {0};
  for (int64_t i = 0; i < position; ++i) {
    cents[i % 7] += i;
    counts[i % 7] += 1;
  }
  for (int k = 0; k < 7; ++k) {
    projd::RowRecord rec;
    uint64_t dead;
    bool found = store->GetRow("k" + std::to_string(k), &rec, &dead);
    if (counts[k] == 0) {
      CHECK_FALSE(found);
      continue;
    }
    REQUIRE(found);
    projd::Decimal want = projd::Decimal::FromInt(cents[k]);
    projd::Decimal hundred = projd::Decimal::FromInt(100);
    REQUIRE(projd::Decimal::Div(want, hundred, &want));
    CHECK(rec.fields.Find("total")->as_number() == want);
    CHECK(projd::ToJson(*rec.fields.Find("count")) == std::to_string(counts[k]));
  }
  // And resuming completes the stream exactly.
  store.reset();
  ApplyLoop(dir, total, 500);
  store = projd::ViewStore::Open(dir, projd::KvOptions(), &error);
  projd::RowRecord rec;
  uint64_t dead;
  REQUIRE(store->GetRow("k3", &rec, &dead));
  int64_t c = 0;
  for (int64_t i = 3; i < total; i += 7) ++c;
  CHECK(projd::ToJson(*rec.fields.Find("count")) == std::to_string(c));
}

TEST_CASE("dead letters are stored and counted per key", "[engine]") {
  std::string dir = TempDir("dead");
  std::string error;
  auto store = projd::ViewStore::Open(dir, projd::KvOptions(), &error);
  REQUIRE(store);
  projd::Projector projector(Compile(kCounter));
  projd::Batch batch;
  store->BeginBatch(&error);
  std::vector<std::string> values = {"{\"k\":\"a\",\"n\":1}", "{\"k\":\"a\",\"n\":\"x\"}",
                                     "not json", "[1]", "{\"n\":1}"};
  for (size_t i = 0; i < values.size(); ++i) {
    projd::Message m;
    m.topic = "t";
    m.offset = static_cast<int64_t>(i);
    m.value = values[i];
    std::string reason;
    projector.Apply(m, store.get(), &batch, &reason);
  }
  REQUIRE(store->Commit(batch, &error));
  CHECK(store->DeadLetterCount() == 4);
  projd::RowRecord rec;
  uint64_t dead = 0;
  REQUIRE(store->GetRow("a", &rec, &dead));
  CHECK(dead == 1);
  CHECK(projd::ToJson(*rec.fields.Find("total")) == "1");
  std::vector<std::pair<uint64_t, projd::DeadLetter>> items;
  bool more;
  REQUIRE(store->DeadLetters(0, 2, &items, &more));
  CHECK(items.size() == 2);
  CHECK(more);
  CHECK(items[0].second.offset == 1);
  CHECK(items[0].second.reason.find("needs a number") != std::string::npos);
  CHECK(items[1].second.reason.find("invalid JSON") != std::string::npos);
  CHECK(store->Positions().at(projd::TopicPartition{"t", 0}) == 5);
}
