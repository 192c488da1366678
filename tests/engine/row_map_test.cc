#include "store/row_map.h"

#include <catch2/catch.hpp>
#include <map>
#include <random>
#include <stdexcept>
#include <string>

#include "store/records.h"

namespace projd {
namespace {

RowRecord Row(int64_t version) {
  RowRecord r;
  r.exists = true;
  r.version = static_cast<uint64_t>(version);
  return r;
}

TEST_CASE("RowMap finds, adds, erases and clears rows", "[engine]") {
  RowMap m;
  CHECK(m.empty());
  CHECK(m.find("a") == m.end());
  CHECK(m.begin() == m.end());
  CHECK_THROWS_AS(m.at("a"), std::out_of_range);
  auto [a, added] = m.emplace("a", Row(1));
  CHECK(added);
  CHECK(a->first == "a");
  CHECK(a->second.version == 1);
  auto [again, added_again] = m.emplace("a", Row(2));
  CHECK_FALSE(added_again);
  CHECK(again->second.version == 1);  // the row already there stays
  CHECK(m.emplace("", Row(3)).second);
  CHECK(m.emplace(std::string("nul\0inside", 10), Row(4)).second);
  CHECK(m.size() == 3);
  CHECK(m.at(std::string("nul\0inside", 10)).version == 4);
  CHECK(m.find("nul") == m.end());
  m.erase(m.find("a"));
  CHECK(m.find("a") == m.end());
  CHECK(m.size() == 2);
  m.erase(m.end());  // nothing
  CHECK(m.size() == 2);
  const RowMap& cm = m;
  int seen = 0;
  for (const auto& [key, row] : cm) seen += static_cast<int>(row.version);
  CHECK(seen == 7);
  RowMap moved = std::move(m);
  CHECK(moved.size() == 2);
  CHECK(moved.at("").version == 3);
  moved.clear();
  CHECK(moved.empty());
  CHECK(moved.begin() == moved.end());
  CHECK(moved.emplace("a", Row(5)).second);
  CHECK(moved.at("a").version == 5);
}

// Against std::map, with many erasures so that probe runs wrap and shift, and with pointers to
// entries kept across growth (Batch::dirty relies on them).
TEST_CASE("RowMap agrees with std::map and its entries stay put", "[engine]") {
  std::mt19937 rng(11);
  RowMap m;
  std::map<std::string, int64_t> ref;
  std::map<std::string, RowMap::value_type*> where;
  for (int round = 0; round < 100000; ++round) {
    std::string key = "acct-" + std::to_string(rng() % 3000);
    int op = static_cast<int>(rng() % 10);
    if (op < 3) {
      auto it = m.find(key);
      bool had = ref.erase(key) == 1;
      REQUIRE((it != m.end()) == had);
      if (had) {
        REQUIRE(&*it == where.at(key));
        m.erase(it);
        where.erase(key);
      }
    } else if (op < 7) {
      auto [it, added] = m.emplace(key, Row(round));
      REQUIRE(added == ref.emplace(key, round).second);
      if (added) where[key] = &*it;
      REQUIRE(&*it == where.at(key));
      REQUIRE(static_cast<int64_t>(it->second.version) == ref.at(key));
    } else {
      auto it = m.find(key);
      REQUIRE((it != m.end()) == (ref.count(key) == 1));
      if (it != m.end()) REQUIRE(static_cast<int64_t>(it->second.version) == ref.at(key));
    }
    if (round % 20000 == 19999) {
      // Every entry once, each where it was made, and nothing else.
      std::map<std::string, int64_t> all;
      for (auto& entry : m) {
        REQUIRE(all.emplace(entry.first, static_cast<int64_t>(entry.second.version)).second);
        REQUIRE(where.at(entry.first) == &entry);
      }
      REQUIRE(all == ref);
      REQUIRE(m.size() == ref.size());
    }
    if (round == 60000) {
      m.clear();
      ref.clear();
      where.clear();
      REQUIRE(m.begin() == m.end());
    }
  }
}

}  // namespace
}  // namespace projd
