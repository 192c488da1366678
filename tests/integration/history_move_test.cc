// A view's store written with the older history layout (versions keyed by row and sequence in
// the `history` table) is moved to the append-ordered one when projd opens it: the log says
// so, and the history and as-of reads over HTTP answer as before the move.
#include <catch2/catch.hpp>
#include <filesystem>
#include <map>

#include "store/encoding.h"
#include "store/kv.h"
#include "store/view_store.h"
#include "store/view_store_keys.h"
#include "tests/integration/harness.h"
#include "tests/store_env.h"

namespace {

namespace fs = std::filesystem;
using projd::testing::ProjdProcess;

const char kProjection[] = R"(projection hist {
  from "hist-events"
  key event.k
  time event.ts
  history all
  on Set { n = event.n }
}
)";

// The body of GET /v1/views/hist/rows/KEY/history, for each key.
std::map<std::string, std::string> Histories(ProjdProcess* p) {
  std::map<std::string, std::string> out;
  for (const char* k : {"a", "b", "c"}) {
    auto r = p->Call("GET", std::string("/v1/views/hist/rows/") + k + "/history?limit=1000");
    REQUIRE(r.status == 200);
    out[k] = r.body;
  }
  return out;
}

}  // namespace

TEST_CASE("history of the older layout is moved at start and served as before", "[embedded]") {
  std::string dir = projd::testing::ProjectionFolder("history-move", "hist.proj", kProjection);
  std::vector<std::string> args = {"--partitions", "1"};
  std::vector<std::string> events;
  for (int i = 0; i < 60; ++i) {
    events.push_back("{\"type\":\"Set\",\"k\":\"" + std::string(1, static_cast<char>('a' + i % 3)) +
                     "\",\"n\":" + std::to_string(i) + ",\"ts\":" + std::to_string(1000 * i) + "}");
  }
  std::string error;
  std::map<std::string, std::string> before;
  std::string as_of_before;
  {
    auto p = ProjdProcess::StartIn(dir, args, &error);
    REQUIRE(p);
    projd::testing::ProduceValues(p->embedded_brokers(), "hist-events", events);
    REQUIRE(p->WaitCaughtUp("hist", 60));
    before = Histories(p.get());
    as_of_before = p->Call("GET", "/v1/views/hist/rows/b?as_of=1970-01-01T00:00:30Z").body;
    REQUIRE(p->Terminate() == 0);
  }
  // Rewrite the store's history the older way: every version under the row's prefix and its
  // sequence in `history`; the new tables emptied and the layout mark removed.
  std::string store_dir = dir + "/data/views/hist/gen-1";
  REQUIRE(fs::exists(store_dir + "/data.mdb"));
  std::vector<std::tuple<std::string, uint64_t, std::string>> versions;
  {
    auto store = projd::ViewStore::Open(store_dir, projd::KvOptions(), &error);
    REQUIRE(store);
    for (const char* k : {"a", "b", "c"}) {
      std::vector<std::pair<uint64_t, projd::RowRecord>> page;
      bool more = false;
      REQUIRE(store->History(k, 0, 1000, &page, &more));
      REQUIRE(page.size() == 20);
      for (const auto& [seq, rec] : page) {
        std::string v;
        projd::EncodeHistoryVersion(rec, &v);
        versions.emplace_back(k, seq, v);
      }
    }
  }
  {
    auto env = projd_test::OpenStoreEnv(store_dir, false, &error);
    REQUIRE(env);
    auto txn = env->BeginWrite(&error);
    REQUIRE(txn);
    for (const auto& [k, seq, v] : versions) {
      REQUIRE(txn->Put(projd_test::kHistoryTable,
                       projd::view_store_keys::HistoryPrefix(k) + projd::BigEndian64(seq), v));
    }
    REQUIRE(txn->Clear(projd_test::kVersionsTable));
    REQUIRE(txn->Clear(projd_test::kVersionListsTable));
    REQUIRE(txn->Delete(projd_test::kMetaTable, "history_layout"));
    REQUIRE(txn->Commit());
  }
  auto p = ProjdProcess::StartIn(dir, args, &error, "projd2.log");
  REQUIRE(p);
  CHECK(p->Log().find("moved 60 history versions to the append-ordered layout") !=
        std::string::npos);
  CHECK(Histories(p.get()) == before);
  CHECK(p->Call("GET", "/v1/views/hist/rows/b?as_of=1970-01-01T00:00:30Z").body == as_of_before);
}
