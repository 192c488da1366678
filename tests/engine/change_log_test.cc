// The change log of a view's store (store/change_log.cc): records in apply order with the
// position after each, deletions with the row before them, pruning to `keep` with the pruned
// position, resuming from any change's position, the log going on after a reopen, and records
// kept in chunks beside those of stores written before chunks.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "dsl/compiler.h"
#include "dsl/varint.h"
#include "engine/projector.h"
#include "store/encoding.h"
#include "store/view_store.h"
#include "tests/store_env.h"
#include "tests/unit_dir.h"

namespace {

namespace fs = std::filesystem;

const char kAccounts[] = R"(
projection accounts {
  from "t"
  key event.k
  on Add { total += event.n }
  on Close { delete }
}
)";

std::shared_ptr<const projd::Projection> Accounts() {
  auto r = projd::CompileFile("t.proj", kAccounts);
  REQUIRE(r.ok());
  return r.projections[0];
}

std::string Dir() { return projd_test::FreshUnitDir("changes").string(); }

struct Ev {
  int32_t partition;
  int64_t offset;
  std::string value;
};

// Applies `events` as one batch and writes it the way the daemon does (Stage, then Write).
void Apply(projd::ViewStore* store, projd::Projector* projector, const std::vector<Ev>& events) {
  projd::Batch batch;
  batch.record_changes = store->records_changes();
  std::string error;
  REQUIRE(store->BeginBatch(&error));
  for (const auto& e : events) {
    projd::Message m;
    m.topic = "t";
    m.partition = e.partition;
    m.offset = e.offset;
    m.value = e.value;
    std::string reason;
    REQUIRE(projector->Apply(m, store, &batch, &reason) != projd::Projector::Outcome::kStop);
  }
  projd::StagedBatch staged;
  store->Stage(&batch, &staged);
  store->EndBatch();
  REQUIRE(store->Write(staged, &error));
}

std::string Add(const std::string& k, int n) {
  return R"({"type":"Add","k":")" + k + R"(","n":)" + std::to_string(n) + "}";
}

}  // namespace

TEST_CASE("change log: apply order, positions, deletions, pruning, resume, reopen", "[engine]") {
  std::string dir = Dir();
  std::string error;
  auto store = projd::ViewStore::Open(dir, projd::KvOptions(), &error);
  REQUIRE(store);
  store->SetChangeLog({"t"}, 7);
  projd::Projector projector(Accounts());
  // Batch 1: two partitions interleaved; an event of an unknown type changes nothing.
  Apply(store.get(), &projector,
        {{0, 0, Add("a", 1)},
         {1, 0, Add("b", 2)},
         {0, 1, Add("a", 3)},
         {1, 1, R"({"type":"Other","k":"b"})"},
         {1, 2, Add("c", 5)}});
  // Batch 2: a deletion, and the row comes back.
  Apply(store.get(), &projector,
        {{0, 2, R"({"type":"Close","k":"a"})"}, {0, 3, Add("a", 7)}, {1, 3, Add("b", 1)}});
  CHECK(store->next_change_seq() == 8);

  std::vector<projd::ChangeRecord> all;
  REQUIRE(store->ReadChanges(1, 100, 100, 1 << 20, &all, &error));
  REQUIRE(all.size() == 7);
  const char* keys[] = {"a", "b", "a", "c", "a", "a", "b"};
  const char* positions[] = {"t:0:1",       "t:0:1,t:1:1", "t:0:2,t:1:1", "t:0:2,t:1:3",
                             "t:0:3,t:1:3", "t:0:4,t:1:3", "t:0:4,t:1:4"};
  for (size_t i = 0; i < all.size(); ++i) {
    INFO("change " << i);
    CHECK(all[i].seq == i + 1);
    CHECK(all[i].key == keys[i]);
    CHECK(all[i].position.ToString() == positions[i]);
  }
  // The deletion: no row after it, but the fields before it (what `where` filters on).
  CHECK_FALSE(all[4].row.exists);
  CHECK(all[4].row.version == 0);
  CHECK(projd::ToJson(*all[4].row.fields.Find("total")) == "4");
  CHECK(all[4].row.updated_by.offset == 2);
  CHECK(all[5].row.exists);
  CHECK(all[5].row.version == 1);
  CHECK(all[2].row.version == 2);
  // The rows table holds the same bytes the last change of each row had.
  projd::RowRecord row;
  REQUIRE(store->GetRow("b", &row, nullptr));
  CHECK(row.version == all[6].row.version);
  CHECK(projd::ToJson(projd::Value::MakeObject(row.fields)) ==
        projd::ToJson(projd::Value::MakeObject(all[6].row.fields)));

  // Each change's position resumes right after it.
  for (size_t i = 0; i < all.size(); ++i) {
    uint64_t seq = 0;
    REQUIRE(store->FirstChangeAfter(all[i].position, &seq, &error));
    CHECK(seq == i + 2);
  }
  uint64_t seq = 0;
  REQUIRE(store->FirstChangeAfter(projd::Position(), &seq, &error));
  CHECK(seq == 1);

  projd::ViewStore::ChangeLogBounds bounds;
  REQUIRE(store->ChangeBounds(&bounds, &error));
  CHECK(bounds.first == 1);
  CHECK(bounds.next == 8);
  CHECK(bounds.pruned.empty());

  // Reopened, the log goes on from where it was; kept to 6, the three oldest changes go, and
  // the pruned position covers exactly them.
  store.reset();
  store = projd::ViewStore::Open(dir, projd::KvOptions(), &error);
  REQUIRE(store);
  store->SetChangeLog({"t"}, 6);
  CHECK(store->next_change_seq() == 8);
  Apply(store.get(), &projector, {{1, 4, Add("c", 1)}, {1, 5, Add("d", 1)}});
  REQUIRE(store->ChangeBounds(&bounds, &error));
  CHECK(bounds.first == 4);
  CHECK(bounds.next == 10);
  CHECK(bounds.pruned.ToString() == "t:0:2,t:1:1");
  std::vector<projd::ChangeRecord> tail;
  REQUIRE(store->ReadChanges(8, 10, 100, 1 << 20, &tail, &error));
  REQUIRE(tail.size() == 2);
  CHECK(tail[1].position.ToString() == "t:0:4,t:1:6");
  fs::remove_all(dir);
}

TEST_CASE("change log: positions of topics outside the view's list keep their names", "[engine]") {
  // The view's list names another topic: each change's position spells "t" out, partitions
  // added in the middle of a batch included.
  std::string dir = Dir();
  std::string error;
  auto store = projd::ViewStore::Open(dir, projd::KvOptions(), &error);
  REQUIRE(store);
  store->SetChangeLog({"other"}, 100);
  projd::Projector projector(Accounts());
  Apply(store.get(), &projector,
        {{2, 200, Add("a", 1)}, {0, 0, Add("b", 2)}, {2, 201, Add("a", 3)}, {1, 5, Add("c", 1)}});
  std::vector<projd::ChangeRecord> all;
  REQUIRE(store->ReadChanges(1, 100, 100, 1 << 20, &all, &error));
  REQUIRE(all.size() == 4);
  const char* positions[] = {"t:2:201", "t:0:1,t:2:201", "t:0:1,t:2:202", "t:0:1,t:1:6,t:2:202"};
  for (size_t i = 0; i < all.size(); ++i) {
    INFO("change " << i);
    CHECK(all[i].position.ToString() == positions[i]);
  }
}

TEST_CASE("change log: a batch written again after the map grew keeps its positions", "[engine]") {
  // A map too small for a batch: the write fails, the map grows, the batch is written again
  // (several times over), and each change still carries the position right after it.
  std::string dir = Dir();
  std::string error;
  projd::KvOptions options;
  options.initial_map_bytes = 256 * 1024;
  auto store = projd::ViewStore::Open(dir, options, &error);
  REQUIRE(store);
  store->SetChangeLog({"t"}, 1000000);
  projd::Projector projector(Accounts());
  std::map<int32_t, int64_t> next;
  std::vector<std::string> expected;
  for (int batch = 0; batch < 3; ++batch) {
    std::vector<Ev> events;
    for (int i = 0; i < 2000; ++i) {
      int32_t partition = (i / 7) % 3;
      int64_t offset = next[partition]++;
      events.push_back({partition, offset, Add("k" + std::to_string(batch * 2000 + i), i)});
      std::string position;
      for (const auto& [p, n] : next) {
        position += (position.empty() ? "" : ",") + std::string("t:") + std::to_string(p) + ":" +
                    std::to_string(n);
      }
      expected.push_back(position);
    }
    Apply(store.get(), &projector, events);
  }
  std::vector<projd::ChangeRecord> all;
  REQUIRE(store->ReadChanges(1, 10000, 10000, 1 << 30, &all, &error));
  REQUIRE(all.size() == expected.size());
  for (size_t i = 0; i < all.size(); ++i) {
    INFO("change " << i);
    REQUIRE(all[i].seq == i + 1);
    REQUIRE(all[i].position.ToString() == expected[i]);
  }
}

TEST_CASE("change log: positions stay right as offsets outgrow their varint length", "[engine]") {
  std::string dir = Dir();
  std::string error;
  auto store = projd::ViewStore::Open(dir, projd::KvOptions(), &error);
  REQUIRE(store);
  store->SetChangeLog({"t"}, 1000);
  projd::Projector projector(Accounts());
  // One batch, partitions 0 and 1 taking turns in runs, offsets across 127 -> 128 and
  // 16383 -> 16384 (varints of one, two and three bytes), and partition 2 joining midway.
  std::vector<Ev> events;
  std::vector<std::string> expected;
  std::map<int32_t, int64_t> next;
  auto add = [&](int32_t partition, int64_t offset) {
    events.push_back({partition, offset, Add("k" + std::to_string(events.size() % 5), 1)});
    next[partition] = offset + 1;
    std::string position;
    for (const auto& [p, off] : next) {
      position += (position.empty() ? "t:" : ",t:") + std::to_string(p) + ":" + std::to_string(off);
    }
    expected.push_back(position);
  };
  for (int64_t o = 125; o < 131; ++o) add(0, o);
  for (int64_t o = 16380; o < 16386; ++o) add(1, o);
  for (int64_t o = 131; o < 133; ++o) add(0, o);
  add(2, 5);
  for (int64_t o = 16386; o < 16388; ++o) add(1, o);
  add(0, 2097151);
  add(0, 2097152);
  Apply(store.get(), &projector, events);
  std::vector<projd::ChangeRecord> all;
  REQUIRE(store->ReadChanges(1, 100, 100, 1 << 20, &all, &error));
  REQUIRE(all.size() == expected.size());
  for (size_t i = 0; i < all.size(); ++i) {
    INFO("change " << i);
    CHECK(all[i].position.ToString() == expected[i]);
  }
  fs::remove_all(dir);
}

namespace {

// Events of `n` Adds over partitions 0..2 in turns, keys k0..k49; `expected` gets the
// position after each (every one changes a row).
std::vector<Ev> Adds(int n, std::map<int32_t, int64_t>* next, std::vector<std::string>* expected) {
  std::vector<Ev> events;
  for (int i = 0; i < n; ++i) {
    const int32_t partition = static_cast<int32_t>(expected->size() % 3);
    events.push_back(
        {partition, (*next)[partition]++, Add("k" + std::to_string(expected->size() % 50), i)});
    std::string position;
    for (const auto& [p, off] : *next) {
      position += (position.empty() ? "t:" : ",t:") + std::to_string(p) + ":" + std::to_string(off);
    }
    expected->push_back(position);
  }
  return events;
}

// The records of one value of the change log table, by its documented layout: 02 · varint
// count · (varint size · record) × count, or 01 · one record.
std::vector<std::string_view> Records(std::string_view v) {
  REQUIRE(!v.empty());
  if (v[0] != 2) {
    REQUIRE(v[0] == 1);
    return {v};
  }
  v.remove_prefix(1);
  uint64_t count = 0;
  REQUIRE(projd::GetVarint(&v, &count));
  std::vector<std::string_view> out;
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t size = 0;
    REQUIRE(projd::GetVarint(&v, &size));
    REQUIRE(size <= v.size());
    REQUIRE(v[0] == 1);  // each one a record
    out.push_back(v.substr(0, size));
    v.remove_prefix(size);
  }
  REQUIRE(v.empty());
  return out;
}

// The change log table's values as (first sequence, record count).
std::vector<std::pair<uint64_t, uint64_t>> LogValues(const std::string& dir) {
  std::string error;
  auto env = projd_test::OpenStoreEnv(dir, false, &error);
  REQUIRE(env);
  auto txn = env->BeginRead(&error);
  REQUIRE(txn);
  std::vector<std::pair<uint64_t, uint64_t>> out;
  auto c = txn->Cursor(projd_test::kChangesTable);
  for (bool ok = c->First(); ok; ok = c->Next()) {
    out.emplace_back(projd::ReadBigEndian64(c->key()), Records(c->value()).size());
  }
  return out;
}

// Rewrites the log's chunks as one record per sequence: the layout of a store written before
// chunks.
void UnchunkLog(const std::string& dir) {
  std::string error;
  auto env = projd_test::OpenStoreEnv(dir, false, &error);
  REQUIRE(env);
  auto txn = env->BeginWrite(&error);
  REQUIRE(txn);
  std::vector<std::pair<uint64_t, std::string>> records;
  auto c = txn->Cursor(projd_test::kChangesTable);
  for (bool ok = c->First(); ok; ok = c->Next()) {
    uint64_t seq = projd::ReadBigEndian64(c->key());
    REQUIRE(c->value()[0] == 2);
    for (std::string_view record : Records(c->value())) records.emplace_back(seq++, record);
  }
  c.reset();
  REQUIRE(txn->Clear(projd_test::kChangesTable));
  for (const auto& [seq, record] : records) {
    REQUIRE(txn->Put(projd_test::kChangesTable, projd::BigEndian64(seq), record));
  }
  REQUIRE(txn->Commit());
}

}  // namespace

TEST_CASE("change log: chunks, pruning inside a chunk, and records of older stores", "[engine]") {
  std::string dir = Dir();
  std::string error;
  projd::Projector projector(Accounts());
  std::map<int32_t, int64_t> next;
  std::vector<std::string> expected;
  {
    auto store = projd::ViewStore::Open(dir, projd::KvOptions(), &error);
    REQUIRE(store);
    store->SetChangeLog({"t"}, 1000);
    Apply(store.get(), &projector, Adds(300, &next, &expected));
  }
  // 300 changes in chunks of many records, back to back.
  auto values = LogValues(dir);
  REQUIRE(values.size() > 1);
  REQUIRE(values.size() < 30);
  uint64_t at = 1;
  for (const auto& [first, count] : values) {
    CHECK(first == at);
    at += count;
  }
  CHECK(at == 301);
  // The same changes as a store written before chunks holds them; the log goes on in chunks.
  UnchunkLog(dir);
  REQUIRE(LogValues(dir).size() == 300);
  auto store = projd::ViewStore::Open(dir, projd::KvOptions(), &error);
  REQUIRE(store);
  store->SetChangeLog({"t"}, 1000);
  CHECK(store->next_change_seq() == 301);
  Apply(store.get(), &projector, Adds(300, &next, &expected));
  REQUIRE(LogValues(dir).size() < 330);

  std::vector<projd::ChangeRecord> all;
  REQUIRE(store->ReadChanges(1, 1000, 1000, 1 << 30, &all, &error));
  REQUIRE(all.size() == 600);
  for (size_t i = 0; i < all.size(); ++i) {
    INFO("change " << i);
    REQUIRE(all[i].seq == i + 1);
    REQUIRE(all[i].key == "k" + std::to_string(i % 50));
    REQUIRE(all[i].position.ToString() == expected[i]);
  }
  // From any change, old records or new, inside a chunk or at its start: the next ones in
  // order, as many as asked and not past `end`.
  for (uint64_t from = 1; from <= 600; ++from) {
    INFO("from " << from);
    std::vector<projd::ChangeRecord> some;
    REQUIRE(store->ReadChanges(from, std::min<uint64_t>(from + 5, 601), 4, 1 << 20, &some, &error));
    REQUIRE(some.size() == std::min<uint64_t>(4, 601 - from));
    for (size_t i = 0; i < some.size(); ++i) REQUIRE(some[i].seq == from + i);
    uint64_t seq = 0;
    REQUIRE(store->FirstChangeAfter(all[from - 1].position, &seq, &error));
    REQUIRE(seq == from + 1);
  }
  std::vector<projd::ChangeRecord> none;
  REQUIRE(store->ReadChanges(601, 700, 10, 1 << 20, &none, &error));
  CHECK(none.empty());

  // Kept to 250: the old records go whole, then the oldest of the chunk the kept changes begin
  // in; the pruned position covers exactly the changes pruned. Twice, so that a chunk written
  // again is pruned again.
  store->SetChangeLog({"t"}, 250);
  for (uint64_t end : {610, 620}) {
    INFO("up to " << end);
    Apply(store.get(), &projector, Adds(10, &next, &expected));
    projd::ViewStore::ChangeLogBounds bounds;
    REQUIRE(store->ChangeBounds(&bounds, &error));
    CHECK(bounds.first == end + 1 - 250);
    CHECK(bounds.next == end + 1);
    CHECK(bounds.pruned.ToString() == expected[end - 250 - 1]);
    values = LogValues(dir);
    REQUIRE(values.front().first == end + 1 - 250);
    uint64_t kept = 0;
    for (const auto& [first, count] : values) kept += count;
    CHECK(kept == 250);
    std::vector<projd::ChangeRecord> tail;
    REQUIRE(store->ReadChanges(1, 1000, 1000, 1 << 30, &tail, &error));
    REQUIRE(tail.size() == 250);
    for (size_t i = 0; i < tail.size(); ++i) {
      REQUIRE(tail[i].seq == end + 1 - 250 + i);
      REQUIRE(tail[i].position.ToString() == expected[end - 250 + i]);
    }
    uint64_t seq = 0;
    REQUIRE(store->FirstChangeAfter(tail[0].position, &seq, &error));
    CHECK(seq == end + 2 - 250);
  }
  store.reset();
  fs::remove_all(dir);
}
