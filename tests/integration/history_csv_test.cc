// A row's history as CSV end to end (GET /v1/views/{view}/rows/{key}/history?format=csv and
// projctl history VIEW KEY --csv): the real projd with its embedded broker, events with exact
// decimals, commas, quotes and newlines and a delete, and the CSV read back by Python's csv
// module, cell by cell.
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "connectors/source.h"
#include "dsl/value.h"
#include "tests/integration/harness.h"

namespace {

using projd::Value;
using projd::testing::ProjdProcess;
using Rows = std::vector<std::vector<std::string>>;

const char* kLedger = R"(
projection ledger {
  from "bank"
  key event.account
  time event.ts
  id event.id
  on Deposited {
    balance += event.amount
    memo = event.memo
    if event.amount > 100 { big = true }
  }
  on Reopened { balance = event.amount  note = event.note }
  on Closed { delete }
  history all
}
projection nohist {
  from "bank"
  key event.account
  on * { n += 1 }
}
)";

// The events, produced in order to the one partition of "bank".
std::vector<std::pair<std::string, std::string>> Events() {
  return {
      {"acc 1", R"({"type":"Deposited","account":"acc 1","amount":0.10,"memo":"plain",)"
                R"("ts":"2025-07-01T08:00:00Z","id":"e1"})"},
      {"acc 2", R"({"type":"Deposited","account":"acc 2","amount":3,"memo":"other",)"
                R"("ts":"2025-07-01T08:00:00.500Z","id":"x1"})"},
      {"acc 1", R"({"type":"Deposited","account":"acc 1","amount":1234567890.123456789,)"
                R"("memo":"Smith, \"JJ\"\nline2","ts":"2025-07-01T08:00:01.250Z","id":"e2"})"},
      {"acc 1", R"({"type":"Deposited","account":"acc 1","amount":0.20,"memo":" padded ",)"
                R"("ts":"2025-07-01T08:00:02Z","id":"e,3"})"},
      {"acc 1", R"({"type":"Closed","account":"acc 1","ts":"2025-07-01T08:00:03Z","id":"e4"})"},
      {"acc 1", R"({"type":"Reopened","account":"acc 1","amount":5,"note":"n,\"1\"\r\nx",)"
                R"("ts":"2025-07-01T08:00:04Z","id":"e5"})"},
  };
}

// What Python's csv module reads from `csv` (written to a file in `dir`).
Rows ParseWithPython(const std::string& dir, const std::string& csv) {
  projd::testing::WriteFile(dir + "/parse.csv", csv);
  std::string out;
  REQUIRE(projd::testing::Run("python3 -c \"import csv, json, sys; "
                              "print(json.dumps(list(csv.reader(open(sys.argv[1], newline='', "
                              "encoding='utf-8')))))\" " +
                                  dir + "/parse.csv",
                              &out) == 0);
  Value v;
  std::string error;
  INFO(out);
  REQUIRE(projd::ParseJson(out, &v, &error));
  Rows rows;
  for (const auto& line : v.as_array()) {
    rows.emplace_back();
    for (const auto& cell : line.as_array()) rows.back().push_back(cell.as_string());
  }
  return rows;
}

std::string Header(const projd::HttpClientResult& r, const std::string& name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return v;
  }
  return "(none)";
}

std::unique_ptr<ProjdProcess> StartLedger(const std::string& dir, const std::string& proj) {
  std::filesystem::create_directories(dir + "/projections");
  projd::testing::WriteFile(dir + "/projections/ledger.proj", proj);
  std::string error;
  auto p = ProjdProcess::StartIn(dir, {"--partitions", "1"}, &error);
  INFO(error);
  REQUIRE(p);
  auto producer = projd::Producer::Create(p->embedded_brokers(), {}, &error);
  REQUIRE(producer);
  for (const auto& [key, value] : Events()) {
    REQUIRE(producer->ProduceAsync("bank", key, value, &error));
  }
  REQUIRE(producer->Flush(std::chrono::seconds(60), &error));
  REQUIRE(p->WaitCaughtUp("ledger", 6));
  return p;
}

}  // namespace

TEST_CASE("history as CSV: exact decimals, RFC 4180 quoting, deletes; projctl --csv the same",
          "[embedded]") {
  std::string dir = projd::testing::TempDir("history-csv");
  auto p = StartLedger(dir, kLedger);
  const std::string target = "/v1/views/ledger/rows/acc%201/history";
  auto r = p->Call("GET", target + "?format=csv");
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(Header(r, "content-type") == "text/csv; charset=utf-8");
  CHECK(Header(r, "content-disposition") == "attachment; filename=\"ledger-acc_1-history.csv\"");
  CHECK(Header(r, "x-projd-position") != "(none)");
  // CRLF line ends; the newlines inside the memo and the note are kept as they are.
  CHECK(r.body.rfind("version,event_time,topic,partition,offset,event_id,balance,big,"
                     "memo,note\r\n",
                     0) == 0);
  CHECK(r.body.size() >= 2);
  CHECK(r.body.substr(r.body.size() - 2) == "\r\n");
  Rows want = {
      {"version", "event_time", "topic", "partition", "offset", "event_id", "balance", "big",
       "memo", "note"},
      {"1", "2025-07-01T08:00:00Z", "bank", "0", "0", "e1", "0.1", "", "plain", ""},
      {"2", "2025-07-01T08:00:01.250Z", "bank", "0", "2", "e2", "1234567890.223456789", "true",
       "Smith, \"JJ\"\nline2", ""},
      {"3", "2025-07-01T08:00:02Z", "bank", "0", "3", "e,3", "1234567890.423456789", "true",
       " padded ", ""},
      {"0", "2025-07-01T08:00:03Z", "bank", "0", "4", "e4", "", "", "", ""},
      {"1", "2025-07-01T08:00:04Z", "bank", "0", "5", "e5", "5", "", "", "n,\"1\"\r\nx"},
  };
  CHECK(ParseWithPython(dir, r.body) == want);

  // limit caps the versions (and the columns are those of the versions written).
  auto two = p->Call("GET", target + "?format=csv&limit=2");
  REQUIRE(two.status == 200);
  Rows want_two = {{"version", "event_time", "topic", "partition", "offset", "event_id", "balance",
                    "big", "memo"},
                   {"1", "2025-07-01T08:00:00Z", "bank", "0", "0", "e1", "0.1", "", "plain"},
                   {"2", "2025-07-01T08:00:01.250Z", "bank", "0", "2", "e2", "1234567890.223456789",
                    "true", "Smith, \"JJ\"\nline2"}};
  CHECK(ParseWithPython(dir, two.body) == want_two);
  // format=json is the JSON answer; anything else, and a view without history, are 400s.
  CHECK(p->Call("GET", target + "?format=json").body.rfind("{\"key\":\"acc 1\"", 0) == 0);
  auto bad = p->Call("GET", target + "?format=xml");
  CHECK(bad.status == 400);
  CHECK(bad.body.find("bad format") != std::string::npos);
  CHECK(p->Call("GET", target + "?format=csv&limit=x").status == 400);
  CHECK(p->Call("GET", "/v1/views/nohist/rows/acc%201/history?format=csv").status == 400);
  // No file is left behind in the view's folder (the server deletes each once it is sent).
  auto leftovers = [&dir] {
    int n = 0;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir + "/data")) {
      n += e.path().filename().string().rfind("history-", 0) == 0;
    }
    return n;
  };
  for (int i = 0; i < 50 && leftovers() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(leftovers() == 0);

  // projctl prints the same bytes.
  std::string projctl = std::string(PROJCTL_BIN) +
                        " --server http://127.0.0.1:" + std::to_string(p->port()) +
                        " history ledger 'acc 1' --csv";
  std::string out;
  REQUIRE(projd::testing::Run(projctl + " > " + dir + "/out.csv", &out) == 0);
  CHECK(projd::testing::ReadFile(dir + "/out.csv") == r.body);
  REQUIRE(projd::testing::Run(projctl + " --limit 2 > " + dir + "/two.csv", &out) == 0);
  CHECK(projd::testing::ReadFile(dir + "/two.csv") == two.body);
  std::string nohist = std::string(PROJCTL_BIN) +
                       " --server http://127.0.0.1:" + std::to_string(p->port()) +
                       " history nohist 'acc 1' --csv";
  CHECK(projd::testing::Run(nohist, &out) == 1);
  CHECK(out.find("400 view keeps no history") != std::string::npos);
  CHECK(projd::testing::Run(projctl + " --json", &out) != 0);  // --csv excludes --json

  // A history longer than the store's pages: every version, and the columns of the last one.
  std::string error;
  auto producer = projd::Producer::Create(p->embedded_brokers(), {}, &error);
  REQUIRE(producer);
  for (int i = 0; i < 2500; ++i) {
    REQUIRE(
        producer->ProduceAsync("bank", "long",
                               R"({"type":"Deposited","account":"long","amount":0.01,"memo":"m",)"
                               R"("ts":"2025-07-02T00:00:00Z","id":"L)" +
                                   std::to_string(i) + "\"}",
                               &error));
  }
  REQUIRE(producer->ProduceAsync("bank", "long",
                                 R"({"type":"Reopened","account":"long","amount":1,)"
                                 R"("note":"last","ts":"2025-07-02T00:00:01Z","id":"L-end"})",
                                 &error));
  REQUIRE(producer->Flush(std::chrono::seconds(60), &error));
  REQUIRE(p->WaitCaughtUp("ledger", 6 + 2501));
  auto long_csv = p->Call("GET", "/v1/views/ledger/rows/long/history?format=csv");
  REQUIRE(long_csv.status == 200);
  Rows rows = ParseWithPython(dir, long_csv.body);
  REQUIRE(rows.size() == 2502);
  CHECK(rows[0] == std::vector<std::string>{"version", "event_time", "topic", "partition", "offset",
                                            "event_id", "balance", "memo", "note"});
  CHECK(rows[2500] == std::vector<std::string>{"2500", "2025-07-02T00:00:00Z", "bank", "0", "2505",
                                               "L2499", "25", "m", ""});
  CHECK(rows[2501] == std::vector<std::string>{"2501", "2025-07-02T00:00:01Z", "bank", "0", "2506",
                                               "L-end", "1", "m", "last"});
}

TEST_CASE("history as CSV: the audit values of each version's event as audit.NAME columns",
          "[embedded]") {
  std::string dir = projd::testing::TempDir("history-csv-audit");
  auto p = StartLedger(dir, R"(
projection ledger {
  from "bank"
  key event.account
  time event.ts
  id event.id
  audit amount = event.amount, memo = event.memo
  on Deposited { balance += event.amount }
  on Reopened { balance = event.amount  note = event.note }
  on Closed { delete }
  history all
}
)");
  auto r = p->Call("GET", "/v1/views/ledger/rows/acc%201/history?format=csv");
  INFO(r.body);
  REQUIRE(r.status == 200);
  Rows want = {
      {"version", "event_time", "topic", "partition", "offset", "event_id", "audit.amount",
       "audit.memo", "balance", "note"},
      {"1", "2025-07-01T08:00:00Z", "bank", "0", "0", "e1", "0.1", "plain", "0.1", ""},
      {"2", "2025-07-01T08:00:01.250Z", "bank", "0", "2", "e2", "1234567890.123456789",
       "Smith, \"JJ\"\nline2", "1234567890.223456789", ""},
      {"3", "2025-07-01T08:00:02Z", "bank", "0", "3", "e,3", "0.2", " padded ",
       "1234567890.423456789", ""},
      {"0", "2025-07-01T08:00:03Z", "bank", "0", "4", "e4", "", "", "", ""},
      {"1", "2025-07-01T08:00:04Z", "bank", "0", "5", "e5", "5", "", "5", "n,\"1\"\r\nx"},
  };
  CHECK(ParseWithPython(dir, r.body) == want);
}
