// AppendRowJson (a point read's answer, written without building a Value) against the text of
// the Value that RowToJson builds.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "api/api_answers.h"
#include "store/encoding.h"
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

TEST_CASE("AppendRow with a size hint writes EncodeRow's bytes in one pass or two", "[store]") {
  RowRecord row;
  row.exists = true;
  row.version = 3;
  row.fields.Set("balance", Value::Number(Decimal::FromInt(-12)));
  row.fields.Set("owner", Value::String("alice"));
  row.updated_by.topic = "bank";
  row.updated_by.partition = 1;
  row.updated_by.offset = 77;
  row.updated_by.has_id = true;
  row.updated_by.id = "e-1";
  const std::string fields_alone = [&] {
    std::string s;
    EncodeBinary(row.fields, &s);
    return s;
  }();
  // The hint as it may stand: unknown, exact, a byte short, far short, far over.
  const uint32_t exact = static_cast<uint32_t>(fields_alone.size());
  for (uint32_t hint : {0u, exact, exact - 1, 1u, exact * 10}) {
    INFO("hint " << hint);
    std::string expected;
    EncodeRow(row, &expected);
    std::string out = "pre";
    uint32_t size = hint;
    AppendRow(row, &out, &size);
    CHECK(out == "pre" + expected);
    CHECK(size == exact);  // what the next encoding of this row makes room for
  }
  // The row outgrows what the hint makes room for (a member of 1,000 bytes more): still the
  // same bytes, and the hint follows.
  uint32_t size = exact;
  row.fields.Set("memo", Value::String(std::string(1000, 'm')));
  std::string expected;
  EncodeRow(row, &expected);
  std::string out;
  AppendRow(row, &out, &size);
  CHECK(out == expected);
  std::string grown;
  EncodeBinary(row.fields, &grown);
  CHECK(size == grown.size());
  // Shrinks back: one pass into the larger room, trimmed to the bytes written.
  row.fields.Erase("memo");
  out.clear();
  AppendRow(row, &out, &size);
  EncodeRow(row, &expected);
  CHECK(out == expected);
  CHECK(size == exact);
}

// The stored row record as its parts' encodings give it (store/README.md): format byte,
// varint version, string topic, varint partition, zig-zag offset and event time, id flag and
// id; format 2 adds the flags, correlation and audit; then the row body.
std::string RecordFromParts(const RowRecord& row) {
  const Provenance& by = row.updated_by;
  bool extended = !by.audit.empty() || by.has_correlation;
  std::string out(1, extended ? 2 : 1);
  PutVarint(&out, row.version);
  PutString(&out, by.topic);
  PutVarint(&out, static_cast<uint32_t>(by.partition));
  PutSigned(&out, by.offset);
  PutSigned(&out, by.event_time_ms);
  out.push_back(by.has_id ? 1 : 0);
  if (by.has_id) PutString(&out, by.id);
  if (extended) {
    out.push_back(static_cast<char>((by.audit.empty() ? 0 : 1) | (by.has_correlation ? 2 : 0)));
    if (by.has_correlation) PutString(&out, by.correlation);
    if (!by.audit.empty()) {
      std::string audit;
      EncodeBinary(by.audit, &audit);
      PutString(&out, audit);
    }
  }
  EncodeBinary(row.fields, &out);
  return out;
}

TEST_CASE("row records: AppendRow writes the stored format byte for byte", "[store]") {
  // Spot-checked bytes: format 1, version 2, topic "t", partition 1, offset 5 (zig-zag 10),
  // time -1 (1), an id "e", body {"n": true}.
  RowRecord small;
  small.version = 2;
  small.updated_by.topic = "t";
  small.updated_by.partition = 1;
  small.updated_by.offset = 5;
  small.updated_by.event_time_ms = -1;
  small.updated_by.has_id = true;
  small.updated_by.id = "e";
  small.fields.Set("n", Value::Bool(true));
  std::string record = "kept";
  AppendRow(small, &record);
  CHECK(record == std::string("kept\x01\x02\x01t\x01\x0a\x01\x01\x01"
                              "e\x06\x01\x01n\x02",
                              19));
  // Rows of every size of varint, with and without id, correlation and audit.
  uint64_t seed = 7;
  auto next = [&seed] {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return seed >> 11;
  };
  for (int i = 0; i < 2000; ++i) {
    RowRecord row;
    row.exists = true;
    row.version = next() >> (next() % 53);
    row.updated_by.topic = std::string(next() % 300, 'a' + static_cast<char>(i % 26));
    row.updated_by.partition = static_cast<int32_t>(next() >> (33 + next() % 31));
    row.updated_by.offset =
        static_cast<int64_t>(next() >> (next() % 53)) - (i % 3 == 0 ? 1 << 20 : 0);
    row.updated_by.event_time_ms = static_cast<int64_t>(next() >> 12) * (i % 2 ? 1 : -1);
    row.updated_by.has_id = i % 4 != 0;
    if (row.updated_by.has_id) row.updated_by.id = std::string(next() % 200, 'x');
    row.updated_by.has_correlation = i % 7 == 0;
    if (row.updated_by.has_correlation) row.updated_by.correlation = "c" + std::to_string(i);
    if (i % 11 == 0) row.updated_by.audit.Set("user", Value::String("u" + std::to_string(i)));
    for (int f = 0; f < static_cast<int>(next() % 8); ++f) {
      std::string name = "f" + std::to_string(f) + std::string(next() % 140, 'n');
      if (f % 3 == 0)
        row.fields.Set(name,
                       Value::Number(Decimal::FromInt(static_cast<int64_t>(next()) - (1LL << 52))));
      if (f % 3 == 1) row.fields.Set(name, Value::String(std::string(next() % 200, 's')));
      if (f % 3 == 2) row.fields.Set(name, Value::MakeArray({Value::Bool(f % 2), Value()}));
    }
    std::string prefix(static_cast<size_t>(i % 5), 'p');
    std::string got = prefix;
    AppendRow(row, &got);
    INFO("row " << i);
    REQUIRE(got == prefix + RecordFromParts(row));
    RowRecord back;
    REQUIRE(DecodeRow(std::string_view(got).substr(prefix.size()), &back));
    CHECK(back.version == row.version);
    CHECK(back.updated_by.offset == row.updated_by.offset);
    CHECK(back.updated_by.event_time_ms == row.updated_by.event_time_ms);
    CHECK(ToJson(Value::MakeObject(back.fields)) == ToJson(Value::MakeObject(row.fields)));
  }
}

}  // namespace
}  // namespace projd
