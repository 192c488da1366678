// RFC 3339 times: formatting and parsing agree, both forms (with and without milliseconds).
#include "dsl/program.h"
#include "dsl/time.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>

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
  CHECK(projd::TimeFromValue(projd::Value::Number(projd::Decimal::FromInt(projd::kRfc3339MaxMs)), &ms));
  CHECK(projd::FormatRfc3339(ms) == "9999-12-31T23:59:59.999Z");
  CHECK_FALSE(
      projd::TimeFromValue(projd::Value::Number(projd::Decimal::FromInt(projd::kRfc3339MaxMs + 1)), &ms));
  CHECK(projd::TimeFromValue(projd::Value::Number(projd::Decimal::FromInt(projd::kRfc3339MinMs)), &ms));
  CHECK_FALSE(
      projd::TimeFromValue(projd::Value::Number(projd::Decimal::FromInt(projd::kRfc3339MinMs - 1)), &ms));
}
