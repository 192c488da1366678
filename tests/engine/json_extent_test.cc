// SkipJsonValue (connectors/json_extent.h): the 64-byte scan against the bytewise one on random
// bracket-and-quote soup of every length around the block size, and on real envelope lines.
#include "connectors/json_extent.h"

#include <catch2/catch.hpp>
#include <random>
#include <string>

namespace projd {
namespace {

TEST_CASE("SkipJsonValue finds the extents the bytewise scan finds", "[connectors]") {
  std::mt19937 rng(11);
  const std::string alphabet = "{}[]\"\\\" a,:{\"x\":[1]}";
  int past_a_block = 0, past_two_blocks = 0;
  for (int n = 0; n < 200000; ++n) {
    size_t len = rng() % 200;
    std::string s(1, "{[\"a "[rng() % 5]);
    // Mostly well-nested text (so that values close far in), sometimes any soup.
    bool soup = rng() % 4 == 0;
    for (size_t k = 0; k < len; ++k) {
      if (soup) {
        s.push_back(alphabet[rng() % alphabet.size()]);
      } else {
        int r = static_cast<int>(rng() % 20);
        s += r < 2   ? "{"
             : r < 4 ? "}"
             : r < 5 ? "\"s\\\"t\""
             : r < 8 ? "\"str\""
             : r < 9 ? "]"
                     : "a";
      }
    }
    size_t start = rng() % 2 == 0 ? 0 : std::min<size_t>(s.size(), rng() % 3);
    size_t fast = start, slow = start;
    bool ok_fast = SkipJsonValue(s, &fast);
    bool ok_slow = SkipJsonValueBytewise(s, &slow);
    INFO(s << " from " << start);
    REQUIRE(ok_fast == ok_slow);
    if (ok_fast) REQUIRE(fast == slow);
    if (ok_fast && fast - start > 64) ++past_a_block;
    if (ok_fast && fast - start > 128) ++past_two_blocks;
  }
  // The cases reach the 64-byte scan, and across blocks.
  CHECK(past_a_block > 2000);
  CHECK(past_two_blocks > 200);
}

TEST_CASE("SkipJsonValue on envelope members", "[connectors]") {
  const std::string value =
      R"({"type":"Deposited","account_id":"acc-00000","owner":"ivan","memo":"a {b} [c] \"d\" \\",)"
      R"("nested":{"list":[1,2,{"x":"}"}],"more":"]]]"},"amount":2683.88,"ts":"2025-07-01"})";
  std::string line = R"({"topic":"t","key":"k","value":)" + value + "}";
  size_t i = line.find(":{") + 1;
  REQUIRE(SkipJsonValue(line, &i));
  CHECK(line.substr(line.find(":{") + 1, i - line.find(":{") - 1) == value);
  // Longer than a block with escapes only after the first one, and with none.
  for (const std::string& pad : {std::string(100, 'p'), std::string(7, 'p')}) {
    std::string v = R"({"a":")" + pad + R"(","b":[{"c":"]"}],"d":"\"}"})";
    size_t j = 0;
    REQUIRE(SkipJsonValue(v + ",rest", &j));
    CHECK(j == v.size());
  }
  size_t k = 0;
  CHECK_FALSE(SkipJsonValue(R"({"a":"never closed)" + std::string(200, 'x'), &k));
}

}  // namespace
}  // namespace projd
