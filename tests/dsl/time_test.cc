// RFC 3339 times: formatting and parsing agree, both forms (with and without milliseconds).
#include "dsl/time.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "dsl/program.h"

TEST_CASE("FormatRfc3339 writes UTC with milliseconds only when there are any", "[dsl]") {
  CHECK(projd::FormatRfc3339(0) == "1970-01-01T00:00:00Z");
  CHECK(projd::FormatRfc3339(1) == "1970-01-01T00:00:00.001Z");
  CHECK(projd::FormatRfc3339(-1) == "1969-12-31T23:59:59.999Z");
  CHECK(projd::FormatRfc3339(951782400000) == "2000-02-29T00:00:00Z");
  CHECK(projd::FormatRfc3339(1751356858123) == "2025-07-01T08:00:58.123Z");
  CHECK(projd::FormatRfc3339(253402300799999) == "9999-12-31T23:59:59.999Z");
  CHECK(projd::FormatRfc3339(-62135596800000) == "0001-01-01T00:00:00Z");
}

TEST_CASE("FormatRfc3339 and ParseRfc3339 round-trip", "[dsl]") {
  // A spread of instants over four centuries, odd milliseconds included.
  for (int64_t ms = -2208988800000; ms < 4102444800000; ms += 7919993777) {
    std::string text = projd::FormatRfc3339(ms);
    int64_t back = 0;
    INFO(text);
    REQUIRE(projd::ParseRfc3339(text, &back));
    CHECK(back == ms);
  }
}

TEST_CASE("ParseRfc3339DateTime takes a date, a time and an offset only", "[dsl]") {
  int64_t ms = 0;
  CHECK(projd::ParseRfc3339DateTime("2025-07-01T00:00:00Z", &ms));
  CHECK(ms == 1751328000000);
  CHECK(projd::ParseRfc3339DateTime("2025-07-01 02:00:00+02:00", &ms));
  CHECK(ms == 1751328000000);
  CHECK_FALSE(projd::ParseRfc3339DateTime("2025-07-01", &ms));
  CHECK_FALSE(projd::ParseRfc3339DateTime("2025-07-01T00:00:00", &ms));
  CHECK_FALSE(projd::ParseRfc3339DateTime("2025-07-01X00:00:00Z", &ms));
  // ParseRfc3339 (event times) still reads a bare date as midnight UTC.
  CHECK(projd::ParseRfc3339("2025-07-01", &ms));
  CHECK(ms == 1751328000000);
}

TEST_CASE("TimeFromValue takes epoch millis of years 0000 to 9999 only", "[dsl]") {
  int64_t ms = 0;
  CHECK(projd::TimeFromValue(projd::Value::Number(projd::Decimal::FromInt(projd::kRfc3339MaxMs)),
                             &ms));
  CHECK(projd::FormatRfc3339(ms) == "9999-12-31T23:59:59.999Z");
  CHECK_FALSE(projd::TimeFromValue(
      projd::Value::Number(projd::Decimal::FromInt(projd::kRfc3339MaxMs + 1)), &ms));
  CHECK(projd::TimeFromValue(projd::Value::Number(projd::Decimal::FromInt(projd::kRfc3339MinMs)),
                             &ms));
  CHECK_FALSE(projd::TimeFromValue(
      projd::Value::Number(projd::Decimal::FromInt(projd::kRfc3339MinMs - 1)), &ms));
}

TEST_CASE("ParseRfc3339 reads a text the same whatever was read before it", "[dsl]") {
  // The date last read is remembered with its day number: every text must read the same after
  // any other, of the same date or not, valid or not.
  const char* dates[] = {"2025-07-01", "2025-07-02", "2025-07-11", "2024-02-29", "2025-02-29",
                         "2025-13-01", "0000-01-01", "9999-12-31", "2025-07-0x", "1969-12-31"};
  const char* rests[] = {
      "",          "T08:00:58Z", "T08:00:58.123Z", "T23:59:60+01:30", "T24:00:00Z",
      "T08:00:58", "x",          "T08:00:58.Z",    " 08:00:58-00:00", "T08:00:58Zjunk"};
  std::vector<std::string> texts;
  for (const char* date : dates) {
    for (const char* rest : rests) texts.push_back(std::string(date) + rest);
  }
  std::vector<int64_t> fresh(texts.size());
  std::vector<bool> fresh_ok(texts.size());
  int ok = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    int64_t ms = 0;
    REQUIRE(projd::ParseRfc3339("1999-01-01T00:00:00Z", &ms));  // another date first
    fresh_ok[i] = projd::ParseRfc3339(texts[i], &fresh[i]);
    ok += fresh_ok[i] ? 1 : 0;
  }
  CHECK(ok == 7 * 5);  // the valid dates with the valid rests
  for (size_t before = 0; before < texts.size(); ++before) {
    for (size_t i = 0; i < texts.size(); ++i) {
      int64_t ms = 0, unused = 0;
      projd::ParseRfc3339(texts[before], &unused);
      INFO(texts[before] << " then " << texts[i]);
      REQUIRE(projd::ParseRfc3339(texts[i], &ms) == fresh_ok[i]);
      if (fresh_ok[i]) REQUIRE(ms == fresh[i]);
    }
  }
  int64_t ms = 0;
  REQUIRE(projd::ParseRfc3339("2025-07-01T08:00:58Z", &ms));
  CHECK(ms == 1751356858000);
  REQUIRE(projd::ParseRfc3339("2025-07-02T08:00:58Z", &ms));
  CHECK(ms == 1751356858000 + 86400000);
  CHECK_FALSE(projd::ParseRfc3339(std::string(10, '\0') + "T00:00:00Z", &ms));
  CHECK_FALSE(projd::ParseRfc3339("2025-07-0", &ms));  // shorter than a date
}
