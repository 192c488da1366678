// A row's history as CSV (api/history_csv.h): RFC 4180 quoting, exact decimals, the columns as
// the union over every version (not one page), deleted versions, the version cap, and the
// file name of the download.
#include "api/history_csv.h"

#include <catch2/catch.hpp>
#include <string>
#include <utility>
#include <vector>

#include "dsl/decimal.h"
#include "dsl/value.h"

namespace projd {
namespace {

using Versions = std::vector<std::pair<uint64_t, RowRecord>>;

std::string Field(std::string_view text) {
  std::string out;
  AppendCsvField(text, &out);
  return out;
}

std::string Cell(const Value& v) {
  std::string out;
  AppendCsvCellText(v, &out);
  return out;
}

Value Dec(const char* text) {
  Decimal d;
  REQUIRE(Decimal::Parse(text, &d));
  return Value::Number(d);
}

Value Json(const char* text) {
  Value v;
  std::string error;
  REQUIRE(ParseJson(text, &v, &error));
  return v;
}

RowRecord Version(uint64_t version, int64_t offset, const char* fields, const char* audit,
                  bool exists = true) {
  RowRecord r;
  r.exists = exists;
  r.version = version;
  r.fields = Json(fields).as_object();
  r.updated_by.topic = "bank";
  r.updated_by.partition = 2;
  r.updated_by.offset = offset;
  r.updated_by.event_time_ms = 1751356800000 + offset * 1500;  // 2025-07-01T08:00:00Z + ...
  r.updated_by.audit = Json(audit).as_object();
  return r;
}

// Serves `all` page by page as ViewStore::History does, counting the calls.
HistoryPages Pager(const Versions* all, int* calls) {
  return [all, calls](uint64_t after, size_t limit, Versions* out, bool* more) {
    ++*calls;
    out->clear();
    *more = false;
    for (const auto& v : *all) {
      if (v.first <= after) continue;
      if (out->size() >= limit) {
        *more = true;
        break;
      }
      out->push_back(v);
    }
    return true;
  };
}

std::string Csv(const HistoryPages& pages, size_t max_versions, size_t page_size) {
  std::string csv, error;
  auto sink = [&csv](std::string_view b) {
    csv.append(b);
    return true;
  };
  REQUIRE(WriteHistoryCsv(pages, max_versions, sink, &error, page_size));
  return csv;
}

TEST_CASE("history CSV: RFC 4180 quoting of fields", "[engine]") {
  CHECK(Field("plain") == "plain");
  CHECK(Field("") == "");
  CHECK(Field("a,b") == "\"a,b\"");
  CHECK(Field("say \"hi\"") == "\"say \"\"hi\"\"\"");
  CHECK(Field("\"") == "\"\"\"\"");
  CHECK(Field("line\nbreak") == "\"line\nbreak\"");
  CHECK(Field("cr\rlf\r\n") == "\"cr\rlf\r\n\"");
  CHECK(Field(" lead") == "\" lead\"");
  CHECK(Field("trail ") == "\"trail \"");
  CHECK(Field("\ttab") == "\"\ttab\"");
  CHECK(Field("in side") == "in side");
  CHECK(Field("caf\xc3\xa9; 'x'") == "caf\xc3\xa9; 'x'");
}

TEST_CASE("history CSV: cells are exact decimals, true/false, empty null, compact JSON",
          "[engine]") {
  Decimal a, b, sum;
  REQUIRE(Decimal::Parse("0.1", &a));
  REQUIRE(Decimal::Parse("0.2", &b));
  REQUIRE(Decimal::Add(a, b, &sum));
  CHECK(Cell(Value::Number(sum)) == "0.3");
  CHECK(Cell(Dec("12345678901234567890.123456789")) == "12345678901234567890.123456789");
  CHECK(Cell(Dec("-99999999999999999999.999999999999999999")) ==
        "-99999999999999999999.999999999999999999");
  CHECK(Cell(Dec("0.10")) == "0.1");
  CHECK(Cell(Dec("1e3")) == "1000");
  CHECK(Cell(Dec("0.000000000000000001")) == "0.000000000000000001");
  CHECK(Cell(Value::Bool(true)) == "true");
  CHECK(Cell(Value::Bool(false)) == "false");
  CHECK(Cell(Value()) == "");
  CHECK(Cell(Value::String("a,\"b\"")) == "a,\"b\"");  // quoting is the field's business
  CHECK(Cell(Json(R"([1, "x", null, 0.50])")) == R"([1,"x",null,0.5])");
  CHECK(Cell(Json(R"({"b": {"c": [true]}, "a": 1})")) == R"({"a":1,"b":{"c":[true]}})");
}

TEST_CASE("history CSV: columns are the union over every version, deleted rows are empty",
          "[engine]") {
  Versions all;
  all.emplace_back(
      1, Version(1, 10, R"({"owner": "Smith, John", "balance": 0.3})", R"({"user": "alice"})"));
  RowRecord v2 = Version(2, 11, R"({"owner": "Smith, John", "note": "said \"hi\"\nbye"})",
                         R"({"user": "bob", "amount": 5.50})");
  v2.fields.Set("balance", Dec("12345678901234567890.123456789"));
  v2.updated_by.has_id = true;
  v2.updated_by.id = "e-2";
  all.emplace_back(2, std::move(v2));
  // A deletion (version 0): its fields (the row before) are no columns and no cells; its audit
  // value is.
  all.emplace_back(5,
                   Version(0, 12, R"({"ghost": 1, "balance": 7})", R"({"user": " carol"})", false));
  all.emplace_back(
      9, Version(4, 13, R"({"flag": true, "tags": ["a", "b,c"], "nothing": null})", R"({})"));
  const std::string header =
      "version,event_time,topic,partition,offset,event_id,audit.amount,audit.user,"
      "balance,flag,note,nothing,owner,tags\r\n";
  const std::string lines[] = {
      "1,2025-07-01T08:00:15Z,bank,2,10,,,alice,0.3,,,,\"Smith, John\",\r\n",
      "2,2025-07-01T08:00:16.500Z,bank,2,11,e-2,5.5,bob,12345678901234567890.123456789,,"
      "\"said \"\"hi\"\"\nbye\",,\"Smith, John\",\r\n",
      "0,2025-07-01T08:00:18Z,bank,2,12,,,\" carol\",,,,,,\r\n",
      "4,2025-07-01T08:00:19.500Z,bank,2,13,,,,,true,,,,\"[\"\"a\"\",\"\"b,c\"\"]\"\r\n",
  };
  std::string want = header + lines[0] + lines[1] + lines[2] + lines[3];
  // The same CSV whatever the page size: the columns come from every page.
  for (size_t page : {1, 2, 3, 1000}) {
    int calls = 0;
    CHECK(Csv(Pager(&all, &calls), 0, page) == want);
    CHECK(calls >= 2);
  }
  // A cap: the first versions, with the columns of those only.
  int calls = 0;
  CHECK(Csv(Pager(&all, &calls), 1, 1) ==
        "version,event_time,topic,partition,offset,event_id,audit.user,balance,owner\r\n"
        "1,2025-07-01T08:00:15Z,bank,2,10,,alice,0.3,\"Smith, John\"\r\n");
  CHECK(Csv(Pager(&all, &calls), 3, 2) == header.substr(0, header.find(",flag")) +
                                              ",note,owner\r\n" +
                                              "1,2025-07-01T08:00:15Z,bank,2,10,,,alice,"
                                              "0.3,,\"Smith, John\"\r\n"
                                              "2,2025-07-01T08:00:16.500Z,bank,2,11,e-2,"
                                              "5.5,bob,12345678901234567890.123456789,"
                                              "\"said \"\"hi\"\"\nbye\",\"Smith, John\"\r\n"
                                              "0,2025-07-01T08:00:18Z,bank,2,12,,,\" "
                                              "carol\",,,\r\n");
}

TEST_CASE("history CSV: versions made after the columns were read are left out", "[engine]") {
  Versions all;
  all.emplace_back(1, Version(1, 1, R"({"a": 1})", "{}"));
  all.emplace_back(2, Version(2, 2, R"({"a": 2})", "{}"));
  int calls = 0;
  HistoryPages grow = [&all, &calls, inner = Pager(&all, &calls)](uint64_t after, size_t limit,
                                                                  Versions* out, bool* more) {
    bool ok = inner(after, limit, out, more);
    // Once the first read is done (it found no more), a new version with a new field comes.
    if (!*more && all.size() == 2) all.emplace_back(3, Version(3, 3, R"({"b": 1})", "{}"));
    return ok;
  };
  CHECK(Csv(grow, 0, 1) ==
        "version,event_time,topic,partition,offset,event_id,a\r\n"
        "1,2025-07-01T08:00:01.500Z,bank,2,1,,1\r\n"
        "2,2025-07-01T08:00:03Z,bank,2,2,,2\r\n");
  // No versions: the header alone.
  Versions none;
  CHECK(Csv(Pager(&none, &calls), 0, 10) ==
        "version,event_time,topic,partition,offset,event_id\r\n");
}

TEST_CASE("history CSV: read and write failures, and the download's file name", "[engine]") {
  HistoryPages broken = [](uint64_t, size_t, Versions*, bool*) { return false; };
  std::string error;
  CHECK_FALSE(WriteHistoryCsv(
      broken, 0, [](std::string_view) { return true; }, &error));
  CHECK(error == "cannot read the row's history");
  Versions one;
  one.emplace_back(1, Version(1, 1, R"({"a": 1})", "{}"));
  int calls = 0;
  error.clear();
  CHECK_FALSE(WriteHistoryCsv(
      Pager(&one, &calls), 0, [](std::string_view) { return false; }, &error));
  CHECK(error == "cannot write the CSV");

  CHECK(HistoryCsvFileName("balances", "acc-1") == "balances-acc-1-history.csv");
  CHECK(HistoryCsvFileName("v", "a/b\"c\r\n;d e.f_g") == "v-a_b_c___d_e.f_g-history.csv");
  CHECK(HistoryCsvFileName("v", "caf\xc3\xa9") == "v-caf__-history.csv");
  CHECK(HistoryCsvFileName("v", std::string(300, 'k')) ==
        "v-" + std::string(100, 'k') + "-history.csv");
}

}  // namespace
}  // namespace projd
