// A view's history in LMDB (store/history.cc): versions appended in the order they were made,
// each row's list of sequence numbers in chunks, against a model of what every read must give
// — pages of a row's versions, as-of reads, the rows with history, pruning — over many batches,
// rows with hundreds of versions (several chunks), a long row key and a reopen; and a store
// written with the older layout (versions keyed by row) moved at open.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <random>

#include "dsl/compiler.h"
#include "engine/projector.h"
#include "store/encoding.h"
#include "store/kv.h"
#include "store/view_store.h"
#include "store/view_store_keys.h"
#include "tests/store_env.h"
#include "tests/unit_dir.h"

namespace {

namespace fs = std::filesystem;

std::string TempDir(const std::string& name) { return projd_test::FreshUnitDir(name).string(); }

std::shared_ptr<const projd::Projection> HistoryProjection() {
  auto r = projd::CompileFile("h.proj", R"(
projection h {
  from "t"
  key event.k
  time event.ts
  history all
  on Set { n = event.n }
  on Del { delete }
}
)");
  REQUIRE(r.ok());
  return r.projections[0];
}

struct ModelVersion {
  uint64_t seq = 0;
  bool exists = false;
  int64_t n = 0;
  int64_t time_ms = 0;
};
using Model = std::map<std::string, std::vector<ModelVersion>>;

std::string Event(const std::string& type, const std::string& key, int64_t n, int64_t ts) {
  return "{\"type\":\"" + type + "\",\"k\":\"" + key + "\",\"n\":" + std::to_string(n) +
         ",\"ts\":" + std::to_string(ts) + "}";
}

// The n of a version (-1 when it has none).
int64_t N(const projd::RowRecord& rec) {
  const projd::Value* v = rec.fields.Find("n");
  return v ? std::stoll(projd::ToJson(*v)) : -1;
}

// Every read of the store agrees with the model.
void CheckAgainst(projd::ViewStore* store, const Model& model, std::mt19937* rng) {
  std::vector<std::string> keys;
  REQUIRE(store->HistoryKeys(&keys));
  std::vector<std::string> want_keys;
  for (const auto& [k, vs] : model) {
    if (!vs.empty()) want_keys.push_back(k);
  }
  CHECK(keys == want_keys);
  for (const auto& [key, versions] : model) {
    INFO("key of " << key.size() << " bytes: " << key.substr(0, 8));
    // All at once, then in pages that resume after the last sequence.
    std::vector<std::pair<uint64_t, projd::RowRecord>> got;
    bool more = true;
    REQUIRE(store->History(key, 0, 100000, &got, &more));
    CHECK_FALSE(more);
    REQUIRE(got.size() == versions.size());
    for (size_t i = 0; i < got.size(); ++i) {
      CHECK(got[i].first == versions[i].seq);
      CHECK(got[i].second.exists == versions[i].exists);
      if (versions[i].exists) CHECK(N(got[i].second) == versions[i].n);
      CHECK(got[i].second.updated_by.event_time_ms == versions[i].time_ms);
    }
    size_t limit = 1 + (*rng)() % 40;
    uint64_t after = 0;
    size_t seen = 0;
    do {
      REQUIRE(store->History(key, after, limit, &got, &more));
      for (const auto& [seq, rec] : got) {
        REQUIRE(seen < versions.size());
        CHECK(seq == versions[seen++].seq);
      }
      if (!got.empty()) after = got.back().first;
    } while (more);
    CHECK(seen == versions.size());
    // As of a time: the last version (in the order made) with an event time at or before it.
    for (int probe = 0; probe < 20; ++probe) {
      int64_t t = static_cast<int64_t>((*rng)() % 1100);
      const ModelVersion* want = nullptr;
      for (const auto& v : versions) {
        if (v.time_ms <= t) want = &v;
      }
      projd::RowRecord rec;
      bool found = store->AsOf(key, t, &rec);
      INFO("as of " << t);
      CHECK(found == (want && want->exists));
      if (found && want) CHECK(N(rec) == want->n);
    }
  }
}

}  // namespace

TEST_CASE("history pages, as-of reads and pruning agree with a model", "[engine]") {
  std::string dir = TempDir("history-model");
  std::string error;
  auto store = projd::ViewStore::Open(dir, projd::KvOptions(), &error);
  REQUIRE(store);
  CHECK(store->GetMeta("history_layout") == "2");
  auto projection = HistoryProjection();
  projd::Projector projector(projection);
  std::mt19937 rng(20261204);
  // Two hot rows (hundreds of versions: several chunks), some cold ones, a key too long to be
  // kept whole in a history key.
  std::vector<std::string> keys = {"hot1", "hot2", "c1", "c2", "c3", std::string(500, 'L')};
  Model model;
  uint64_t seq = 1;
  int64_t offset = 0;
  auto run_batches = [&](int batches) {
    for (int b = 0; b < batches; ++b) {
      projd::Batch batch;
      REQUIRE(store->BeginBatch(&error));
      size_t size = 1 + rng() % 60;
      for (size_t i = 0; i < size; ++i) {
        size_t pick = rng() % 10;
        const std::string& key = keys[pick < 6 ? pick % 2 : 2 + pick % 4];
        bool del = rng() % 9 == 0;
        int64_t n = static_cast<int64_t>(rng() % 1000);
        int64_t ts = static_cast<int64_t>(rng() % 1000);  // not in order: late events
        projd::Message m;
        m.topic = "t";
        m.offset = offset++;
        std::string value = Event(del ? "Del" : "Set", key, n, ts);
        m.value = value;  // a view of the text
        std::string reason;
        REQUIRE(projector.Apply(m, store.get(), &batch, &reason) ==
                projd::Projector::Outcome::kApplied);
        model[key].push_back({seq++, !del, n, ts});
      }
      store->EndBatch();
      REQUIRE(store->Commit(batch, &error));
    }
  };
  run_batches(40);
  REQUIRE(model["hot1"].size() > 300);
  CheckAgainst(store.get(), model, &rng);

  // Pruning: every version older than the cutoff but each row's newest.
  int64_t cutoff = 400;
  int64_t want_pruned = 0;
  for (auto& [key, versions] : model) {
    std::vector<ModelVersion> kept;
    for (size_t i = 0; i < versions.size(); ++i) {
      if (i + 1 < versions.size() && versions[i].time_ms < cutoff) {
        ++want_pruned;
      } else {
        kept.push_back(versions[i]);
      }
    }
    versions = kept;
  }
  CHECK(store->PruneHistory(cutoff, &error) == want_pruned);
  CheckAgainst(store.get(), model, &rng);

  // More versions onto the pruned lists, then a reopen: the sequence goes on from the store.
  run_batches(10);
  CheckAgainst(store.get(), model, &rng);
  store.reset();
  store = projd::ViewStore::Open(dir, projd::KvOptions(), &error);
  REQUIRE(store);
  run_batches(5);
  CheckAgainst(store.get(), model, &rng);
  CHECK(store->PruneHistory(INT64_MAX, &error) > 0);
  for (auto& [key, versions] : model) versions.erase(versions.begin(), versions.end() - 1);
  CheckAgainst(store.get(), model, &rng);
}

TEST_CASE("a store with the older history layout is moved to the append-ordered one at open",
          "[engine]") {
  std::string dir = TempDir("history-upgrade");
  std::string error;
  std::string long_key(500, 'z');  // too long for a whole history key
  Model model;
  {
    // The older layout: the `history` table, keyed by the row's history prefix and the
    // sequence; a long key's whole key under sequence 0.
    auto env = projd_test::OpenStoreEnv(dir, true, &error);
    REQUIRE(env);
    auto txn = env->BeginWrite(&error);
    REQUIRE(txn);
    uint64_t seq = 1;
    for (int i = 0; i < 400; ++i) {
      std::string key = i % 3 == 0 ? "a" : i % 3 == 1 ? "bb" : long_key;
      projd::RowRecord rec;
      rec.exists = i % 50 != 49;
      rec.fields.Set("n", projd::Value::Number(projd::Decimal::FromInt(i)));
      rec.updated_by.topic = "t";
      rec.updated_by.offset = i;
      rec.updated_by.event_time_ms = i;
      std::string version;
      projd::EncodeHistoryVersion(rec, &version);
      std::string prefix = projd::view_store_keys::HistoryPrefix(key);
      if (key == long_key)
        REQUIRE(txn->Put(projd_test::kHistoryTable, prefix + projd::BigEndian64(0), key));
      REQUIRE(txn->Put(projd_test::kHistoryTable, prefix + projd::BigEndian64(seq), version));
      model[key].push_back({seq++, rec.exists, i, i});
    }
    REQUIRE(txn->Put(projd_test::kMetaTable, "history_seq", projd::BigEndian64(seq)));
    REQUIRE(txn->Commit());
  }
  auto store = projd::ViewStore::Open(dir, projd::KvOptions(), &error);
  INFO(error);
  REQUIRE(store);
  CHECK(store->GetMeta("history_layout") == "2");
  CHECK(store->moved_history_versions() == 400);
  std::mt19937 rng(7);
  CheckAgainst(store.get(), model, &rng);

  // New versions follow the moved ones.
  auto projection = HistoryProjection();
  projd::Projector projector(projection);
  projd::Batch batch;
  REQUIRE(store->BeginBatch(&error));
  projd::Message m;
  m.topic = "t";
  m.offset = 0;
  std::string value = Event("Set", long_key, 7, 999);
  m.value = value;
  std::string reason;
  REQUIRE(projector.Apply(m, store.get(), &batch, &reason) == projd::Projector::Outcome::kApplied);
  store->EndBatch();
  REQUIRE(store->Commit(batch, &error));
  model[long_key].push_back({401, true, 7, 999});
  CheckAgainst(store.get(), model, &rng);

  // The older table is empty; a second open moves nothing again.
  store.reset();
  store = projd::ViewStore::Open(dir, projd::KvOptions(), &error);
  REQUIRE(store);
  CHECK(store->moved_history_versions() == 0);
  CheckAgainst(store.get(), model, &rng);

  // An earlier build wrote a version the older way after the move: the next open moves it too.
  store.reset();
  {
    auto env = projd_test::OpenStoreEnv(dir, true, &error);
    REQUIRE(env);
    auto txn = env->BeginWrite(&error);
    REQUIRE(txn);
    projd::RowRecord rec;
    rec.exists = true;
    rec.fields.Set("n", projd::Value::Number(projd::Decimal::FromInt(5)));
    rec.updated_by.event_time_ms = 1000;
    std::string version;
    projd::EncodeHistoryVersion(rec, &version);
    REQUIRE(txn->Put(projd_test::kHistoryTable,
                     projd::view_store_keys::HistoryPrefix("a") + projd::BigEndian64(402),
                     version));
    REQUIRE(txn->Put(projd_test::kMetaTable, "history_seq", projd::BigEndian64(403)));
    REQUIRE(txn->Commit());
  }
  store = projd::ViewStore::Open(dir, projd::KvOptions(), &error);
  REQUIRE(store);
  CHECK(store->moved_history_versions() == 1);
  model["a"].push_back({402, true, 5, 1000});
  CheckAgainst(store.get(), model, &rng);
}

TEST_CASE("pruning leaves a row whose sequence list does not decode as it is", "[engine]") {
  std::string dir = TempDir("history-damaged");
  std::string error;
  auto store = projd::ViewStore::Open(dir, projd::KvOptions(), &error);
  REQUIRE(store);
  projd::Projector projector(HistoryProjection());
  projd::Batch batch;
  REQUIRE(store->BeginBatch(&error));
  std::vector<std::string> values;
  // 150 versions each: two chunks per row (128 + 22).
  for (int i = 0; i < 300; ++i) values.push_back(Event("Set", i % 2 ? "b" : "a", i, i));
  for (size_t i = 0; i < values.size(); ++i) {
    projd::Message m;
    m.topic = "t";
    m.offset = static_cast<int64_t>(i);
    m.value = values[i];
    std::string reason;
    REQUIRE(projector.Apply(m, store.get(), &batch, &reason) ==
            projd::Projector::Outcome::kApplied);
  }
  store->EndBatch();
  REQUIRE(store->Commit(batch, &error));
  std::vector<std::pair<uint64_t, projd::RowRecord>> versions;
  bool more = false;
  REQUIRE(store->History("b", 0, 1000, &versions, &more));
  REQUIRE(versions.size() == 150);
  uint64_t last_chunk_b = versions[128].first;  // the key of b's second (last) chunk
  store.reset();
  {
    // Row b's last chunk: a count of 5 and nothing after it. Its newest version is unknown, so
    // none of its versions may go (not even those of its first chunk, which decodes).
    auto env = projd_test::OpenStoreEnv(dir, false, &error);
    REQUIRE(env);
    auto txn = env->BeginWrite(&error);
    REQUIRE(txn);
    REQUIRE(txn->Put(projd_test::kVersionListsTable,
                     projd::view_store_keys::HistoryPrefix("b") + projd::BigEndian64(last_chunk_b),
                     std::string("\x05", 1)));
    REQUIRE(txn->Commit());
  }
  store = projd::ViewStore::Open(dir, projd::KvOptions(), &error);
  REQUIRE(store);
  CHECK(store->PruneHistory(INT64_MAX, &error) == 149);  // a's older versions only
  REQUIRE(store->History("a", 0, 1000, &versions, &more));
  CHECK(versions.size() == 1);
  REQUIRE(store->History("b", 0, 1000, &versions, &more));
  CHECK(versions.size() == 128);  // the first chunk's, still there
}
