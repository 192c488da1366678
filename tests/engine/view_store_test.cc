// The LMDB view store: rows and offsets committed together, surviving kill -9.
#include "store/view_store.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <thread>

#include "dsl/compiler.h"
#include "engine/projector.h"
#include "store/key_order.h"
#include "tests/unit_dir.h"

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

std::string TempDir(const std::string& name) { return projd_test::FreshUnitDir(name).string(); }

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
  // Reopened, the row's count is still read (the store knows it has keyed dead letters).
  store.reset();
  store = projd::ViewStore::Open(dir, projd::KvOptions(), &error);
  REQUIRE(store);
  dead = 0;
  REQUIRE(store->GetRow("a", &rec, &dead));
  CHECK(dead == 1);
}

namespace {

// Applies `values` (offsets from `first`) to a fresh batch of `store`.
void ApplyBatch(projd::ViewStore* store, projd::Projector* projector, projd::Batch* batch,
                int64_t first, const std::vector<std::string>& values) {
  std::string error;
  batch->ClearKeepingRows();  // as the daemon's view: the rows staged stay in the batch
  REQUIRE(store->BeginBatch(&error));
  for (size_t i = 0; i < values.size(); ++i) {
    projd::Message m;
    m.topic = "t";
    m.offset = first + static_cast<int64_t>(i);
    m.value = values[i];
    std::string reason;
    REQUIRE(projector->Apply(m, store, batch, &reason) != projd::Projector::Outcome::kStop);
  }
}

std::string Total(projd::ViewStore* store, const std::string& key) {
  projd::RowRecord row;
  uint64_t dead;
  if (!store->GetRow(key, &row, &dead)) return "absent";
  return projd::ToJson(*row.fields.Find("total"));
}

}  // namespace

// The daemon stages a batch and applies the next one while the staged one is written: the next
// batch must see the staged rows, deletions and dedupe ids before LMDB has them.
TEST_CASE("a staged batch is seen by the next batch before it is written", "[engine]") {
  std::string error;
  auto store = projd::ViewStore::Open(TempDir("staged"), projd::KvOptions(), &error);
  REQUIRE(store);
  projd::Projector projector(Compile(R"(
projection p {
  from "t"
  key event.k
  id event.id
  dedupe
  on Add { total += event.n }
  on Drop { delete }
}
)"));
  projd::Batch batch;
  ApplyBatch(
      store.get(), &projector, &batch, 0,
      {R"({"type":"Add","k":"a","n":1,"id":"1"})", R"({"type":"Add","k":"b","n":5,"id":"2"})"});
  projd::StagedBatch first;
  store->Stage(&batch, &first);
  store->EndBatch();
  REQUIRE(store->Write(first, &error));

  // Batch 2 is staged but not written; batch 3 is applied on top of it.
  ApplyBatch(store.get(), &projector, &batch, 2,
             {R"({"type":"Add","k":"a","n":10,"id":"3"})", R"({"type":"Drop","k":"b","id":"4"})"});
  projd::StagedBatch second;
  store->Stage(&batch, &second);
  store->EndBatch();
  CHECK(Total(store.get(), "a") == "1");  // LMDB does not have batch 2 yet
  CHECK(Total(store.get(), "b") == "5");
  ApplyBatch(
      store.get(), &projector, &batch, 4,
      {R"({"type":"Add","k":"a","n":100,"id":"5"})", R"({"type":"Add","k":"b","n":7,"id":"6"})",
       R"({"type":"Add","k":"a","n":1000,"id":"3"})"});  // a duplicate of batch 2
  CHECK(batch.duplicates == 1);
  projd::StagedBatch third;
  store->Stage(&batch, &third);
  store->EndBatch();
  REQUIRE(store->Write(second, &error));
  REQUIRE(store->Write(third, &error));
  CHECK(Total(store.get(), "a") == "111");
  CHECK(Total(store.get(), "b") == "7");  // deleted in batch 2, then created again
  auto pos = store->Positions();
  CHECK(pos[projd::TopicPartition{"t", 0}] == 7);
}

// Rows leave the row cache only once every later snapshot has them: with a cache of one row,
// rows come back from LMDB and the totals stay exact.
TEST_CASE("the row cache drops only written rows", "[engine]") {
  std::string error;
  auto store = projd::ViewStore::Open(TempDir("cache"), projd::KvOptions(), &error);
  REQUIRE(store);
  store->SetRowCacheLimit(1);
  projd::Projector projector(Compile(kCounter));
  projd::Batch batch;
  projd::StagedBatch staged, in_flight;
  bool writing = false;
  int64_t offset = 0;
  for (int b = 0; b < 30; ++b) {
    std::vector<std::string> values;
    for (int i = 0; i < 5; ++i) values.push_back(EventAt(offset + i));
    ApplyBatch(store.get(), &projector, &batch, offset, values);
    offset += 5;
    store->Stage(&batch, &staged);
    store->EndBatch();
    if (writing) REQUIRE(store->Write(in_flight, &error));
    std::swap(in_flight, staged);
    writing = true;
  }
  REQUIRE(store->Write(in_flight, &error));
  // Event i adds i/100 to key k<i%7>.
  for (int k = 0; k < 7; ++k) {
    projd::Decimal want;
    for (int64_t i = k; i < offset; i += 7) {
      projd::Decimal n;
      REQUIRE(projd::Decimal::Parse(
          std::to_string(i / 100) + "." + std::to_string(i % 100 / 10) + std::to_string(i % 10),
          &n));
      REQUIRE(projd::Decimal::Add(want, n, &want));
    }
    CHECK(Total(store.get(), "k" + std::to_string(k)) == want.ToString());
  }
}

// The rows a staged batch leaves in the batch are bounded: past the limit, those no batch
// changed since the one before the last go (the last two batches' rows stay), and a row
// dropped comes back from LMDB as written.
TEST_CASE("staged rows kept in the batch stay within the row cache limit", "[engine]") {
  std::string error;
  auto store = projd::ViewStore::Open(TempDir("cache-bound"), projd::KvOptions(), &error);
  REQUIRE(store);
  store->SetRowCacheLimit(10);
  projd::Projector projector(Compile(kCounter));
  projd::Batch batch;
  projd::StagedBatch staged, in_flight;
  bool writing = false;
  // Batch b changes rows r<b*5> .. r<b*5+4>, and row "same" every time.
  for (int b = 0; b < 40; ++b) {
    std::vector<std::string> values;
    for (int i = 0; i < 5; ++i) {
      values.push_back(R"({"k":"r)" + std::to_string(b * 5 + i) + R"(","n":1})");
    }
    values.push_back(R"({"k":"same","n":1})");
    ApplyBatch(store.get(), &projector, &batch, b * 6, values);
    store->Stage(&batch, &staged);
    store->EndBatch();
    CHECK(batch.rows.size() <= 12);  // this batch's 6 rows and the last one's 5 (and "same")
    CHECK(batch.rows.find("r" + std::to_string(b * 5)) != batch.rows.end());
    if (b > 0) CHECK(batch.rows.find("r" + std::to_string(b * 5 - 1)) != batch.rows.end());
    if (writing) REQUIRE(store->Write(in_flight, &error));
    std::swap(in_flight, staged);
    writing = true;
  }
  REQUIRE(store->Write(in_flight, &error));
  CHECK(Total(store.get(), "same") == "40");
  CHECK(Total(store.get(), "r0") == "1");
  CHECK(Total(store.get(), "r199") == "1");
}

// Every user value that becomes an LMDB key is bounded: a 511-byte view key with history and an
// index, indexed values and event ids of any length (kept as a prefix and a digest), and reads
// that seek with keys longer than LMDB allows.
TEST_CASE("long keys, indexed values and ids are stored, found and deduplicated", "[engine]") {
  std::string dir = TempDir("long-keys");
  std::string error;
  auto store = projd::ViewStore::Open(dir, projd::KvOptions(), &error);
  REQUIRE(store);
  auto p = Compile(R"(
projection longs {
  from "t"
  key event.k
  id event.id
  dedupe
  on * { memo = event.memo  n += 1 }
  index memo
  history all
}
)");
  store->UseIndexesOf(*p);
  projd::Projector projector(p);
  std::string key511(511, 'k');
  std::string key500 = std::string(500, 'k');  // a history key of 4 + 500 + 8 bytes: too long
  std::string memo_long(2000, 'm');
  std::string memo_503(503, 'n');
  std::string id_long(600, 'i');
  auto ev = [](const std::string& k, const std::string& id, const std::string& memo) {
    return "{\"k\":\"" + k + "\",\"id\":\"" + id + "\",\"memo\":\"" + memo + "\"}";
  };
  projd::Batch batch;
  ApplyBatch(store.get(), &projector, &batch, 0,
             {ev(key511, id_long, memo_long), ev(key500, "", memo_503), ev("short", "s1", "m"),
              ev("short2", id_long, "dup"), ev(key511 + "x", "s2", "m")});
  store->EndBatch();
  CHECK(batch.applied == 3);
  CHECK(batch.duplicates == 1);
  REQUIRE(batch.dead_letters.size() == 1);  // the 512-byte key
  CHECK(batch.dead_letters[0].reason.find("512 bytes long") != std::string::npos);
  REQUIRE(store->Commit(batch, &error));
  INFO(error);

  projd::RowRecord rec;
  uint64_t dead = 0;
  REQUIRE(store->GetRow(key511, &rec, &dead));
  CHECK(projd::ToJson(*rec.fields.Find("n")) == "1");
  CHECK_FALSE(store->GetRow(key511 + "x", &rec, &dead));
  CHECK_FALSE(store->GetRow("", &rec, &dead));

  // Ids of any length, in the same batch and (after the commit) across batches.
  ApplyBatch(store.get(), &projector, &batch, 5,
             {ev("short3", id_long, "m"), ev("short4", "", "m"), ev("short5", "s1", "m")});
  store->EndBatch();
  CHECK(batch.duplicates == 3);
  CHECK(batch.applied == 0);

  // Index: the long values are found by equality and by range, with long and short row keys.
  std::vector<std::string> keys;
  bool more = false;
  REQUIRE(store->IndexEqual("memo", projd::Value::String(memo_long), "", 10, &keys, &more));
  CHECK(keys == std::vector<std::string>{key511});
  keys.clear();
  REQUIRE(store->IndexEqual("memo", projd::Value::String(memo_503), "", 10, &keys, &more));
  CHECK(keys == std::vector<std::string>{key500});
  keys.clear();
  uint64_t scanned = 0;
  projd::Value lo = projd::Value::String(std::string(1000, 'm'));
  projd::Value hi = projd::Value::String(std::string(3000, 'm'));
  REQUIRE(store->IndexRange("memo", &lo, true, &hi, true, &keys, &scanned));
  CHECK(std::find(keys.begin(), keys.end(), key511) != keys.end());
  keys.clear();
  projd::Value m = projd::Value::String("m");
  REQUIRE(store->IndexEqual("memo", m, "", 10, &keys, &more));
  CHECK(keys == std::vector<std::string>{"short"});

  // History of the long keys: versions, as-of, and the list of keys with history.
  std::vector<std::pair<uint64_t, projd::RowRecord>> versions;
  REQUIRE(store->History(key511, 0, 10, &versions, &more));
  CHECK(versions.size() == 1);
  REQUIRE(store->History(key500, 0, 10, &versions, &more));
  CHECK(versions.size() == 1);
  CHECK(store->AsOf(key511, INT64_MAX, &rec));
  std::vector<std::string> hkeys;
  REQUIRE(store->HistoryKeys(&hkeys));
  CHECK(hkeys == std::vector<std::string>{key500, key511, "short"});

  // The row moves to another value: its long index entry goes, the new one comes.
  ApplyBatch(store.get(), &projector, &batch, 8, {ev(key511, "s9", "m")});
  REQUIRE(store->Commit(batch, &error));
  keys.clear();
  REQUIRE(store->IndexEqual("memo", projd::Value::String(memo_long), "", 10, &keys, &more));
  CHECK(keys.empty());
  keys.clear();
  REQUIRE(store->IndexEqual("memo", m, "", 10, &keys, &more));
  CHECK(keys == std::vector<std::string>{key511, "short"});
  REQUIRE(store->History(key511, 0, 10, &versions, &more));
  CHECK(versions.size() == 2);
  CHECK(store->PruneHistory(INT64_MAX, &error) == 1);  // key511's first version goes...
  hkeys.clear();
  REQUIRE(store->HistoryKeys(&hkeys));  // ...the newest of each stays, the long keys' names too
  CHECK(hkeys == std::vector<std::string>{key500, key511, "short"});
  REQUIRE(store->History(key511, 0, 10, &versions, &more));
  CHECK(versions.size() == 1);

  // Scans that seek with keys longer than LMDB allows.
  projd::ViewStore::ScanOptions so;
  so.start = std::string(600, 'k');
  std::vector<std::pair<std::string, projd::RowRecord>> rows;
  REQUIRE(store->Scan(so, &rows, &more, &error));
  REQUIRE(rows.size() == 1);  // key500 and key511 sort before it; "short2" was a duplicate
  CHECK(rows[0].first == "short");
  so = projd::ViewStore::ScanOptions();
  so.after = std::string(600, 'k');
  REQUIRE(store->Scan(so, &rows, &more, &error));
  CHECK(rows.size() == 1);
}

// The writer replaces a changed row's index entries, and leaves an entry the batch did not
// change where it is (ViewStore::WriteStaged): after batches that change, keep, unset and
// delete indexed values, with some rows changed twice in one batch, every value's keys are
// those of a model, and no other entries remain.
TEST_CASE("index entries follow changed, kept, unset and deleted values", "[engine]") {
  std::string dir = TempDir("index-model");
  std::string error;
  auto store = projd::ViewStore::Open(dir, projd::KvOptions(), &error);
  REQUIRE(store);
  auto p = Compile(R"(
projection owners {
  from "t"
  key event.k
  on Set { owner = event.owner  n += 1 }
  on Touch { n += 1 }
  on Unset { unset owner }
  on Close { delete }
  index owner, n
}
)");
  store->UseIndexesOf(*p);
  projd::Projector projector(p);
  std::mt19937 rng(23);
  const std::vector<std::string> owners = {"ann", "bob", "cy", "dee"};
  std::map<std::string, std::string> model;  // key -> owner (rows with one)
  std::map<std::string, int64_t> counts;     // key -> n (rows that exist)
  projd::Batch batch;
  int64_t offset = 0;
  for (int b = 0; b < 12; ++b) {
    std::vector<std::string> events;
    for (int i = 0; i < 150; ++i) {
      std::string k = "row-" + std::to_string(rng() % 60);
      std::string ev = "{\"k\":\"" + k + "\",\"type\":\"";
      switch (rng() % 6) {
        case 0:
        case 1: {
          const std::string& o = owners[rng() % owners.size()];
          events.push_back(ev + "Set\",\"owner\":\"" + o + "\"}");
          model[k] = o;
          ++counts[k];
          break;
        }
        case 2:
        case 3:
          events.push_back(ev + "Touch\"}");
          ++counts[k];
          break;
        case 4:
          events.push_back(ev + "Unset\"}");
          model.erase(k);
          counts.emplace(k, 0);  // an unset makes the row (with no n)
          break;
        default:
          events.push_back(ev + "Close\"}");
          model.erase(k);
          counts.erase(k);
      }
    }
    ApplyBatch(store.get(), &projector, &batch, offset, events);
    offset += static_cast<int64_t>(events.size());
    store->EndBatch();
    REQUIRE(store->Commit(batch, &error));
    INFO("batch " << b);
    size_t entries = 0;
    for (const std::string& o : owners) {
      std::vector<std::string> keys, want;
      bool more = false;
      REQUIRE(store->IndexEqual("owner", projd::Value::String(o), "", 1000, &keys, &more));
      for (const auto& [k, owner] : model) {
        if (owner == o) want.push_back(k);
      }
      CHECK(keys == want);
      entries += keys.size();
    }
    CHECK(entries == model.size());
    // n: every row that has one, by range over all values.
    std::vector<std::string> keys;
    uint64_t scanned = 0;
    REQUIRE(store->IndexRange("n", nullptr, true, nullptr, true, &keys, &scanned));
    std::sort(keys.begin(), keys.end());
    std::vector<std::string> want;
    for (const auto& [k, n] : counts) {
      if (n > 0) want.push_back(k);
    }
    CHECK(keys == want);
  }
}

// Many long row keys that share their first bytes under one indexed value: paging through them
// with IndexEqual gives every key once, in key order.
TEST_CASE("index pages over long row keys are in key order", "[engine]") {
  std::string dir = TempDir("long-index-pages");
  std::string error;
  auto store = projd::ViewStore::Open(dir, projd::KvOptions(), &error);
  REQUIRE(store);
  auto p = Compile(R"(
projection longs { from "t" key event.k on * { v = event.v } index v }
)");
  store->UseIndexesOf(*p);
  projd::Projector projector(p);
  std::vector<std::string> values, want;
  std::mt19937 rng(7);
  for (int i = 0; i < 60; ++i) {
    std::string k = std::string(400 + rng() % 100, 'p') + std::to_string(rng() % 1000);
    values.push_back("{\"k\":\"" + k + "\",\"v\":\"same\"}");
    want.push_back(k);
  }
  std::sort(want.begin(), want.end());
  want.erase(std::unique(want.begin(), want.end()), want.end());
  projd::Batch batch;
  ApplyBatch(store.get(), &projector, &batch, 0, values);
  REQUIRE(store->Commit(batch, &error));
  std::vector<std::string> got;
  std::string after;
  while (true) {
    std::vector<std::string> page;
    bool more = false;
    REQUIRE(store->IndexEqual("v", projd::Value::String("same"), after, 7, &page, &more));
    got.insert(got.end(), page.begin(), page.end());
    if (!more || page.empty()) break;
    after = page.back();
  }
  CHECK(got == want);
}

// A damaged store is a clear error naming the file, never a SIGBUS and never an empty view.
TEST_CASE("a truncated or emptied data.mdb is refused at open", "[engine]") {
  std::string dir = TempDir("damaged");
  std::string error;
  {
    auto store = projd::ViewStore::Open(dir, projd::KvOptions(), &error);
    REQUIRE(store);
    projd::Projector projector(Compile(kCounter));
    projd::Batch batch;
    std::vector<std::string> values;
    for (int i = 0; i < 20000; ++i) values.push_back(EventAt(i * 7 + i % 5));
    for (int i = 0; i < 20000; ++i) {
      values[static_cast<size_t>(i)] =
          "{\"k\":\"key-" + std::to_string(i) + "\",\"n\":" + std::to_string(i) + "}";
    }
    ApplyBatch(store.get(), &projector, &batch, 0, values);
    REQUIRE(store->Commit(batch, &error));
  }
  std::string file = dir + "/data.mdb";
  auto size = fs::file_size(file);
  REQUIRE(size > 64 * 1024);
  fs::resize_file(file, size / 2);
  CHECK_FALSE(projd::ViewStore::Open(dir, projd::KvOptions(), &error));
  CHECK(error.find(file) != std::string::npos);
  CHECK(error.find("truncated") != std::string::npos);
  fs::resize_file(file, 0);
  CHECK_FALSE(projd::ViewStore::Open(dir, projd::KvOptions(), &error));
  CHECK(error.find(file + " is damaged") != std::string::npos);
  {
    std::FILE* f = std::fopen(file.c_str(), "wb");
    REQUIRE(f);
    std::string junk(65536, 'j');
    std::fwrite(junk.data(), 1, junk.size(), f);
    std::fclose(f);
  }
  CHECK_FALSE(projd::ViewStore::Open(dir, projd::KvOptions(), &error));
  CHECK(error.find(file + " is damaged") != std::string::npos);
}

// A dedupe view that counts the events applied per key.
constexpr const char* kIdsProjection = R"(
projection ids {
  from "t"
  key event.k
  id event.id
  dedupe
  on * { n += 1 }
}
)";

// ViewStore::SeenId asks its id filter first: filled by every batch of a store whose ids table
// was empty or small at open, read from the table at open otherwise. Duplicates are found
// through either, and long ids (stored under a digest key) too.
TEST_CASE("dedupe ids are found through the id filter, before and after reopen", "[engine]") {
  std::string dir = TempDir("id-filter");
  auto p = Compile(kIdsProjection);
  auto ev = [](int64_t i) {
    std::string id =
        i % 5 == 0 ? std::string(600, 'L') + std::to_string(i) : "id-" + std::to_string(i);
    return "{\"k\":\"k" + std::to_string(i % 13) + "\",\"id\":\"" + id + "\"}";
  };
  auto batch_of = [&](int64_t from, int64_t to) {
    std::vector<std::string> v;
    for (int64_t i = from; i < to; ++i) v.push_back(ev(i));
    return v;
  };
  std::string error;
  int64_t offset = 0;
  {
    auto store = projd::ViewStore::Open(dir, projd::KvOptions(), &error);
    REQUIRE(store);
    projd::Projector projector(p);
    projd::Batch batch;
    for (int64_t b = 0; b < 3; ++b) {
      ApplyBatch(store.get(), &projector, &batch, offset, batch_of(b * 2000, b * 2000 + 2000));
      offset += 2000;
      store->EndBatch();
      CHECK(batch.applied == 2000);
      REQUIRE(store->Commit(batch, &error));
    }
    // Old ids (committed) and new ones, mixed: only the old are duplicates.
    ApplyBatch(store.get(), &projector, &batch, offset, batch_of(5000, 7000));
    offset += 2000;
    store->EndBatch();
    CHECK(batch.duplicates == 1000);
    CHECK(batch.applied == 1000);
    REQUIRE(store->Commit(batch, &error));
  }
  // Reopened: the filter is read from the ids table.
  auto store = projd::ViewStore::Open(dir, projd::KvOptions(), &error);
  REQUIRE(store);
  projd::Projector projector(p);
  projd::Batch batch;
  ApplyBatch(store.get(), &projector, &batch, offset, batch_of(0, 8000));
  store->EndBatch();
  CHECK(batch.duplicates == 7000);
  CHECK(batch.applied == 1000);
}

// The writer appends a batch's ids past the ids table's last one and puts the rest
// (ViewStore::WriteStaged): batches whose ids fall below, between and past those stored must
// all be found again, before and after reopen.
TEST_CASE("ids below, among and past the stored ones are all kept", "[engine]") {
  std::string dir = TempDir("id-append");
  auto p = Compile(kIdsProjection);
  auto ev = [](int64_t i) {
    char id[16];
    std::snprintf(id, sizeof id, "e-%08lld", static_cast<long long>(i));
    return "{\"k\":\"k" + std::to_string(i % 7) + "\",\"id\":\"" + id + "\"}";
  };
  auto ids = [&](int64_t from, int64_t to, int64_t step) {
    std::vector<std::string> v;
    for (int64_t i = from; i < to; i += step) v.push_back(ev(i));
    return v;
  };
  auto join = [](std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  std::string error;
  int64_t offset = 0;
  {
    auto store = projd::ViewStore::Open(dir, projd::KvOptions(), &error);
    REQUIRE(store);
    projd::Projector projector(p);
    projd::Batch batch;
    const std::vector<std::vector<std::string>> batches = {
        ids(1000, 2000, 2),                            // the even ones of the middle
        join(ids(0, 1000, 1), ids(2000, 3000, 1)),     // below them, and past them
        join(ids(1001, 2000, 2), ids(3000, 4000, 1)),  // among them, and past again
        join(ids(3500, 3600, 1), ids(4000, 4100, 1)),  // stored ones, and new
    };
    const int64_t applied[] = {500, 2000, 1500, 100};
    for (size_t b = 0; b < batches.size(); ++b) {
      ApplyBatch(store.get(), &projector, &batch, offset, batches[b]);
      offset += static_cast<int64_t>(batches[b].size());
      store->EndBatch();
      CHECK(batch.applied == applied[b]);
      REQUIRE(store->Commit(batch, &error));
    }
  }
  auto store = projd::ViewStore::Open(dir, projd::KvOptions(), &error);
  REQUIRE(store);
  projd::Projector projector(p);
  projd::Batch batch;
  ApplyBatch(store.get(), &projector, &batch, offset, ids(0, 4200, 1));
  store->EndBatch();
  CHECK(batch.duplicates == 4100);
  CHECK(batch.applied == 100);
}

// Read transactions are reset and renewed rather than begun each time (store/kv.cc): a renewed
// one must see every commit made before it began, on any thread, however many are open at once.
TEST_CASE("reused read transactions see the latest commit, on any thread", "[engine]") {
  std::string dir = TempDir("read-reuse");
  std::string error;
  projd::KvOptions options;
  options.sync = projd::SyncMode::kNone;
  auto env = projd::KvEnv::Open(dir, {"t"}, options, &error);
  REQUIRE(env);
  auto commit = [&](uint64_t n) {
    auto w = env->BeginWrite(&error);
    REQUIRE(w);
    REQUIRE(w->Put(0, "n", std::to_string(n)));
    REQUIRE(w->Commit());
  };
  auto read = [&]() -> uint64_t {
    std::string e;
    auto r = env->BeginRead(&e);
    if (!r) return UINT64_MAX;
    std::string_view v;
    return r->Get(0, "n", &v) ? std::stoull(std::string(v)) : 0;
  };
  // One after another: each read after a commit sees it (the transaction reused each time).
  for (uint64_t n = 1; n <= 200; ++n) {
    commit(n);
    REQUIRE(read() == n);
  }
  // A snapshot stays as it was while others are reused around it.
  {
    auto held = env->BeginRead(&error);
    REQUIRE(held);
    commit(201);
    CHECK(read() == 201);
    std::string_view v;
    REQUIRE(held->Get(0, "n", &v));
    CHECK(v == "200");
  }
  // More open at once than are kept (the rest are aborted when done), then reused again.
  {
    std::vector<std::unique_ptr<projd::KvTxn>> open;
    for (int i = 0; i < 100; ++i) {
      open.push_back(env->BeginRead(&error));
      REQUIRE(open.back());
    }
    commit(202);
    std::string_view v;
    REQUIRE(open.front()->Get(0, "n", &v));
    CHECK(v == "201");
  }
  for (int i = 0; i < 1000; ++i) REQUIRE(read() == 202);
  // Readers on four threads while the value grows: never backwards, never ahead of the
  // commits, and the last value once the writer is done.
  std::atomic<uint64_t> committed{202};
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      uint64_t last = 0;
      while (!done.load()) {
        uint64_t floor = committed.load();
        uint64_t n = read();
        if (n < last || n < floor || n == UINT64_MAX) ++bad;
        last = n;
      }
      if (read() != committed.load()) ++bad;
    });
  }
  for (uint64_t n = 203; n <= 1200; ++n) {
    commit(n);
    committed.store(n);
  }
  done.store(true);
  for (auto& t : readers) t.join();
  CHECK(bad.load() == 0);
}

// Writes go through one cursor per table kept for the transaction (store/kv.cc): puts,
// appends, deletes (of present and absent keys), clears, interleaved with gets and with a
// cursor of the caller's that deletes, on two tables, against a model, committed or abandoned.
TEST_CASE("writes through kept cursors match a model, committed or abandoned", "[engine]") {
  std::string dir = TempDir("kept-cursors");
  std::string error;
  projd::KvOptions options;
  options.sync = projd::SyncMode::kNone;
  auto env = projd::KvEnv::Open(dir, {"a", "log"}, options, &error);
  REQUIRE(env);
  std::mt19937 rng(5);
  auto pick = [&rng](size_t n) { return static_cast<size_t>(rng() % n); };
  auto random_key = [&] {
    // Short keys sharing prefixes, so that puts and deletes land on the same pages and on others.
    std::string k = "k" + std::to_string(pick(3000));
    if (pick(4) == 0) k.push_back(static_cast<char>(pick(256)));
    return k;
  };
  std::map<std::string, std::string> model;
  std::map<std::string, std::string> log_model;  // appended keys: big-endian sequence numbers
  uint64_t seq = 0;
  auto check = [&](projd::KvTxn* txn) {
    for (int t = 0; t < 2; ++t) {
      const auto& m = t == 0 ? model : log_model;
      std::map<std::string, std::string> seen;
      auto c = txn->Cursor(t);
      REQUIRE(c);
      for (bool ok = c->First(); ok; ok = c->Next()) seen[std::string(c->key())] = c->value();
      REQUIRE(seen == m);
    }
  };
  for (int round = 0; round < 60; ++round) {
    auto w = env->BeginWrite(&error);
    REQUIRE(w);
    auto before = model;
    auto log_before = log_model;
    uint64_t seq_before = seq;
    for (int op = 0; op < 400; ++op) {
      std::string k = random_key();
      switch (pick(8)) {
        case 0:
        case 1:
        case 2: {
          std::string v(pick(300), static_cast<char>('a' + pick(26)));
          REQUIRE(w->Put(0, k, v));
          model[k] = v;
          break;
        }
        case 3:
          REQUIRE(w->Delete(0, k));  // present or not
          model.erase(k);
          break;
        case 4: {
          std::string_view v;
          bool found = w->Get(0, k, &v);
          auto it = model.find(k);
          REQUIRE(found == (it != model.end()));
          if (found) REQUIRE(v == it->second);
          break;
        }
        case 5: {
          std::string key(8, '\0');
          uint64_t n = ++seq;
          for (int i = 7; i >= 0; --i, n >>= 8) key[static_cast<size_t>(i)] = static_cast<char>(n);
          REQUIRE(w->Append(1, key, k));
          log_model[key] = k;
          break;
        }
        case 6: {
          // The caller's own cursor deletes the first key at or after k.
          auto c = w->Cursor(0);
          REQUIRE(c);
          if (c->Seek(k)) {
            model.erase(std::string(c->key()));
            c->Delete();
          }
          break;
        }
        case 7:
          if (pick(40) == 0) {
            REQUIRE(w->Clear(0));
            model.clear();
          }
          break;
      }
    }
    check(w.get());
    if (round % 5 == 4) {
      w.reset();  // abandoned: nothing of it stays
      model = before;
      log_model = log_before;
      seq = seq_before;
    } else {
      REQUIRE(w->Commit());
    }
    auto r = env->BeginRead(&error);
    REQUIRE(r);
    check(r.get());
  }
}

// The writer's key order (store/key_order.h) is the order of the keys as strings, whatever
// prefixes they share, however short, whatever bytes they hold.
TEST_CASE("InKeyOrder orders as the keys themselves compare", "[engine]") {
  std::mt19937 rng(9);
  for (int round = 0; round < 300; ++round) {
    std::vector<std::string> keys;
    // Every third round a batch's size (from kRadixMin keys on, they are sorted by radix).
    size_t n = round % 3 == 0 ? projd::kRadixMin - 2 + rng() % 4000 : rng() % 300;
    // Every fourth round, keys of one kind only: long prefixes every key shares.
    const uint32_t kind = round % 4 == 0 ? rng() % 5 : 5;
    for (size_t i = 0; i < n; ++i) {
      std::string k;
      switch (kind < 5 ? kind : rng() % 5) {
        case 4:
          k = (rng() % 2 == 0 ? "tie-prfx" : "tie-prfy") + std::to_string(rng() % 60);
          break;  // the same eight bytes when mixed with other kinds (whole keys decide)
        case 0:
          k = "e-" + std::to_string(rng() % 100000);
          break;  // long shared prefixes
        case 1:
          k = std::string(rng() % 12, '\0');
          break;  // zeros, empty
        case 2:
          k = "acct-000" + std::string(rng() % 3, 'x') +
              (rng() % 5 == 0 ? std::string() : std::to_string(rng() % 1000));
          break;  // a shared prefix that some keys end in or just past
        default:
          for (size_t j = 0, len = rng() % 14; j < len; ++j) {
            k.push_back(static_cast<char>(rng() % 4 == 0 ? 0xff : rng() % 256));
          }
      }
      keys.push_back(k);
    }
    std::vector<const std::string*> sorted =
        projd::InKeyOrder(keys, [](const std::string& k) -> const std::string& { return k; });
    REQUIRE(sorted.size() == keys.size());
    std::vector<std::string> got, want = keys;
    for (const std::string* k : sorted) got.push_back(*k);
    std::sort(want.begin(), want.end());
    REQUIRE(got == want);
    // Equal keys keep their order (a row's history versions are listed in the order made).
    for (size_t i = 1; i < sorted.size(); ++i) {
      if (*sorted[i] == *sorted[i - 1]) REQUIRE(sorted[i - 1] < sorted[i]);
    }
  }
}
