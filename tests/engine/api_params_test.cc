// The whole-number parameters of the HTTP API (limit=, wait_ms=): decimal digits only, and any
// larger number, however many digits it has, counted as the most allowed (docs/http-api.md).
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>

#include "api/api_answers.h"
#include "connectors/position.h"

namespace projd {
namespace {

TEST_CASE("whole numbers: digits only, a larger one of any length counts as the most", "[http]") {
  uint64_t n = 7;
  CHECK(ParseWholeNumber("0", 1000, &n));
  CHECK(n == 0);
  CHECK(ParseWholeNumber("999", 1000, &n));
  CHECK(n == 999);
  CHECK(ParseWholeNumber("1000", 1000, &n));
  CHECK(n == 1000);
  CHECK(ParseWholeNumber("0001000", 1000, &n));
  CHECK(n == 1000);
  CHECK(ParseWholeNumber("00000000000000000000000000000042", 1000, &n));
  CHECK(n == 42);
  for (const char* large : {"1001", "70000", "999999999", "1000000000", "99999999999999999999",
                            "18446744073709551616", "340282366920938463463374607431768211456"}) {
    INFO(large);
    n = 7;
    CHECK(ParseWholeNumber(large, 1000, &n));
    CHECK(n == 1000);
  }
  CHECK(ParseWholeNumber(std::string(5000, '9'), 60000, &n));
  CHECK(n == 60000);
  // The most a uint64_t holds, and past it.
  CHECK(ParseWholeNumber("18446744073709551615", UINT64_MAX, &n));
  CHECK(n == UINT64_MAX);
  CHECK(ParseWholeNumber("18446744073709551616", UINT64_MAX, &n));
  CHECK(n == UINT64_MAX);
  CHECK(ParseWholeNumber("1844674407370955161", UINT64_MAX, &n));
  CHECK(n == 1844674407370955161u);
  for (const char* bad : {"", "-1", "+1", " 1", "1 ", "1.5", "1e3", "abc", "0x10", "١"}) {
    INFO(bad);
    n = 7;
    CHECK_FALSE(ParseWholeNumber(bad, 1000, &n));
    CHECK(n == 7);
  }
}

TEST_CASE("limit=: default, 0 as 1, any larger whole number as the most, else an error", "[http]") {
  auto limit = [](const char* value, size_t* out, std::string* error) {
    HttpRequest req;
    if (value) req.query.emplace_back("limit", value);
    return ParseLimit(req, 100, 1000, out, error);
  };
  size_t n = 0;
  std::string error;
  CHECK(limit(nullptr, &n, &error));
  CHECK(n == 100);
  CHECK(limit("0", &n, &error));
  CHECK(n == 1);
  CHECK(limit("250", &n, &error));
  CHECK(n == 250);
  CHECK(limit("5000", &n, &error));
  CHECK(n == 1000);
  CHECK(limit("99999999999999999999", &n, &error));
  CHECK(n == 1000);
  for (const char* bad : {"", "abc", "-1", "10 "}) {
    INFO(bad);
    error.clear();
    CHECK_FALSE(limit(bad, &n, &error));
    CHECK(error == "limit must be a whole number");
  }
}

TEST_CASE("a position names a partition once: a repeated one counts with its larger offset",
          "[http]") {
  Position p;
  std::string error;
  REQUIRE(Position::Parse("ev:0:99,ev:0:1,ev:1:3", &p, &error));
  CHECK(p.ToString() == "ev:0:99,ev:1:3");
  REQUIRE(Position::Parse("ev:0:1,ev:0:99", &p, &error));
  CHECK(p.ToString() == "ev:0:99");
}

}  // namespace
}  // namespace projd
