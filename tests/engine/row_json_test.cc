// AppendRowJson (a point read's answer, written without building a Value) against the text of
// the Value that RowToJson builds.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "api/api_answers.h"
#include "store/records.h"

namespace projd {
namespace {

std::string ViaValue(const std::string& key, const RowRecord& row, const uint64_t* dead) {
  Value v = RowToJson(key, row);
  if (dead) v.as_object().Set("dead_letters", Num(static_cast<int64_t>(*dead)));
  return ToJson(v);
}

TEST_CASE("AppendRowJson writes what RowToJson's Value gives", "[api]") {
  RowRecord row;
  row.exists = true;
  row.version = 42;
  row.fields.Set("balance", Value::Number(Decimal::FromInt(-12)));
  row.fields.Set("owner", Value::String("\xc3\xa9ve \"q\"\n\x01"));
  row.fields.Set("tags", Value::MakeArray({Value::Bool(true), Value()}));
  row.updated_by.topic = "bank";
  row.updated_by.partition = 3;
  row.updated_by.offset = 1234567890123;
  row.updated_by.event_time_ms = 1751364000123;
  std::string out;
  uint64_t dead = 7;
  for (int variant = 0; variant < 8; ++variant) {
    row.updated_by.has_id = variant & 1;
    row.updated_by.id = "e-\\1";
    row.updated_by.has_correlation = variant & 2;
    row.updated_by.correlation = "cmd \xff";
    row.updated_by.audit = Object();
    if (variant & 4) row.updated_by.audit.Set("user", Value::String("alice"));
    // Event times with and without milliseconds, before 1970, and past year 9999.
    row.updated_by.event_time_ms =
        std::vector<int64_t>{1751364000123, 1751364000000, -1, 253402300800000}[variant % 4];
    std::string record;
    EncodeRow(row, &record);
    for (const std::string key : {"acc-1", "", "k\"/\\\t\xe2\x82\xac"}) {
      INFO("variant " << variant << " key " << key);
      out.clear();
      AppendRowJson(key, row, &dead, &out);
      CHECK(out == ViaValue(key, row, &dead));
      out.clear();
      AppendRowJson(key, row, nullptr, &out);
      CHECK(out == ViaValue(key, row, nullptr));
      // From the stored record: the same bytes.
      out = "before";
      REQUIRE(AppendRowJson(key, record, &dead, &out));
      CHECK(out == "before" + ViaValue(key, row, &dead));
      out.clear();
      REQUIRE(AppendRowJson(key, record, nullptr, &out));
      CHECK(out == ViaValue(key, row, nullptr));
      // A record cut short or with its body's tag changed: false, nothing written.
      for (const std::string& bad : {record.substr(0, record.size() - 1),
                                     record.substr(0, record.size() / 2), std::string()}) {
        out = "kept";
        CHECK_FALSE(AppendRowJson(key, bad, &dead, &out));
        CHECK(out == "kept");
      }
    }
  }
  RowRecord empty;
  out.clear();
  AppendRowJson("x", empty, &dead, &out);
  CHECK(out == ViaValue("x", empty, &dead));
}

}  // namespace
}  // namespace projd
