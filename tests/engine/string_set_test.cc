#include "store/string_set.h"

#include <catch2/catch.hpp>
#include <random>
#include <set>
#include <string>

namespace projd {
namespace {

TEST_CASE("StringSet inserts, finds and erases", "[engine]") {
  StringSet s;
  CHECK_FALSE(s.Contains("a"));
  CHECK_FALSE(s.Erase("a"));
  CHECK(s.Insert("a"));
  CHECK_FALSE(s.Insert("a"));
  CHECK(s.Insert(""));
  CHECK(s.Insert(std::string("nul\0inside", 10)));
  CHECK(s.Contains(""));
  CHECK(s.Contains(std::string("nul\0inside", 10)));
  CHECK_FALSE(s.Contains("nul"));
  CHECK(s.size() == 3);
  CHECK(s.Erase("a"));
  CHECK_FALSE(s.Contains("a"));
  CHECK(s.size() == 2);
  s.Clear();
  CHECK(s.empty());
  CHECK_FALSE(s.Contains(""));
  CHECK(s.Insert("a"));
}

// Against std::set, with many erasures so that probe runs wrap and shift.
TEST_CASE("StringSet agrees with std::set under random inserts and erases", "[engine]") {
  std::mt19937 rng(7);
  StringSet s;
  std::set<std::string> ref;
  for (int round = 0; round < 200000; ++round) {
    std::string key = "e-" + std::to_string(rng() % 5000);
    if (rng() % 3 == 0) {
      CHECK(s.Erase(key) == (ref.erase(key) == 1));
    } else {
      CHECK(s.Insert(key) == ref.insert(key).second);
    }
    if (round % 20000 == 0) {
      for (int k = 0; k < 5000; ++k) {
        std::string probe = "e-" + std::to_string(k);
        REQUIRE(s.Contains(probe) == (ref.count(probe) == 1));
      }
    }
  }
  REQUIRE(s.size() == ref.size());
  std::set<std::string> listed;
  s.ForEach([&](std::string_view m) { CHECK(listed.emplace(m).second); });
  CHECK(listed == ref);
}

}  // namespace
}  // namespace projd
