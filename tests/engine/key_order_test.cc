// The key order of the store's tables (KeyOrder in store/key_order.h) is LMDB's default order —
// unsigned bytes up to the shorter length, then the shorter key first — so that stores written
// before it, and tools that open them with LMDB's own comparator, agree on it.
#include "store/key_order.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "store/kv.h"
#include "tests/unit_dir.h"

namespace {

int Sign(int v) { return (v > 0) - (v < 0); }

// Keys of 0 to 40 bytes over bytes that sort differently signed and unsigned (0x00, 0x7f,
// 0x80, 0xff), many sharing a prefix with another, as ids and row keys do.
std::vector<std::string> Keys(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  const std::string bytes(
      "\x00\x01\x7f\x80\xff"
      "ae-0",
      9);
  std::vector<std::string> keys;
  while (keys.size() < n) {
    std::string k;
    if (!keys.empty() && rng() % 2 == 0) k = keys[rng() % keys.size()];
    switch (rng() % 4) {
      case 0:  // a byte changed
        if (!k.empty()) k[rng() % k.size()] = bytes[rng() % bytes.size()];
        break;
      case 1:  // cut
        k.resize(k.empty() ? 0 : rng() % k.size());
        break;
      default:  // grown
        for (size_t i = rng() % 12; i > 0 && k.size() < 40; --i) k += bytes[rng() % bytes.size()];
    }
    keys.push_back(k);
  }
  return keys;
}

TEST_CASE("KeyOrder is the order of the bytes as unsigned, then of the lengths", "[store]") {
  const std::vector<std::string> keys = Keys(3000, 7);
  for (size_t i = 0; i < keys.size(); ++i) {
    for (size_t j = i; j < keys.size() && j < i + 200; ++j) {
      const std::string_view a = keys[i], b = keys[j];
      INFO("keys " << i << " and " << j);
      REQUIRE(Sign(projd::KeyOrder(a, b)) == Sign(a.compare(b)));
      REQUIRE(Sign(projd::KeyOrder(b, a)) == Sign(b.compare(a)));
    }
  }
  // Every length of a common prefix, a difference at every place.
  for (size_t n = 0; n <= 33; ++n) {
    std::string a(n, '\x80');
    for (size_t at = 0; at < n; ++at) {
      std::string b = a;
      b[at] = '\x7f';
      CHECK(projd::KeyOrder(a, b) > 0);
      CHECK(projd::KeyOrder(b, a) < 0);
    }
    CHECK(projd::KeyOrder(a, a) == 0);
    CHECK(projd::KeyOrder(a, a + '\x00') < 0);
    CHECK(projd::KeyOrder(a + '\x00', a) > 0);
  }
}

TEST_CASE("a store's tables keep keys in KeyOrder: puts, appends, seeks", "[store]") {
  const std::string dir = projd_test::FreshUnitDir("key-order").string();
  std::string error;
  projd::KvOptions options;
  options.sync = projd::SyncMode::kNone;
  std::vector<std::string> keys = Keys(5000, 11);
  keys.erase(std::remove(keys.begin(), keys.end(), std::string()), keys.end());  // LMDB: none
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  {
    auto env = projd::KvEnv::Open(dir, {"put", "append"}, options, &error);
    REQUIRE(env);
    auto w = env->BeginWrite(&error);
    REQUIRE(w);
    for (const auto& k : keys) REQUIRE(w->Put(0, k, k));       // in no order
    for (const auto& k : sorted) REQUIRE(w->Append(1, k, k));  // in order: none refused
    REQUIRE(w->Commit());
  }
  // Opened again (the comparator set again on the tables as they are on disk).
  auto env = projd::KvEnv::Open(dir, {"put", "append"}, options, &error);
  REQUIRE(env);
  auto r = env->BeginRead(&error);
  REQUIRE(r);
  for (int table : {0, 1}) {
    auto c = r->Cursor(table);
    std::vector<std::string> seen;
    for (bool ok = c->First(); ok; ok = c->Next()) seen.emplace_back(c->key());
    CHECK(seen == sorted);
    // Seek lands on the first key not below the one asked for, present or not.
    for (const std::string& k : Keys(2000, 13)) {
      auto it = std::lower_bound(sorted.begin(), sorted.end(), k);
      const bool found = c->Seek(k);
      REQUIRE(found == (it != sorted.end()));
      if (found) CHECK(c->key() == *it);
      std::string_view v;
      CHECK(r->Get(table, k, &v) == (it != sorted.end() && *it == k));
    }
  }
}

}  // namespace
