// The audit trail end to end against the real broker: headers produced by librdkafka become
// audit values on rows and every history version, and a correlation id lists every change one
// command made across two views, in order — and only the readable view's part for a reader
// limited to it. And (embedded broker) the trail's read-your-own-writes wait on every view.
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <map>
#include <set>

#include "connectors/source.h"
#include "dsl/value.h"
#include "tests/integration/harness.h"

namespace {

using projd::Value;
using projd::testing::FieldText;
using projd::testing::ProjdProcess;

const char kViews[] = R"(
projection balances {
  from "TOPIC"
  key event.account
  audit user = meta.headers["user"]
  correlation meta.headers["correlation-id"]
  on Deposited { balance += event.amount }
  on Withdrawn { balance -= event.amount }
}
projection activity {
  from "TOPIC"
  key event.account
  audit user = meta.headers["user"], reason = event.reason
  correlation meta.headers["correlation-id"]
  history all
  on Deposited, Withdrawn { movements += 1  last = event.type }
}
)";

struct Command {
  std::string id, user;
  std::vector<std::pair<std::string, std::string>> events;  // account, value
};

std::string Event(const std::string& type, const std::string& account, const std::string& amount,
                  const std::string& reason) {
  return R"({"type":")" + type + R"(","account":")" + account + R"(","amount":)" + amount +
         R"(,"reason":")" + reason + "\"}";
}

const Value& Member(const Value& v, const std::string& name) {
  static const Value kNull;
  const Value* f = v.is_object() ? v.as_object().Find(name) : nullptr;
  return f ? *f : kNull;
}

}  // namespace

TEST_CASE("real Kafka: audit values from headers on rows and history; a correlation across views",
          "[kafka]") {
  std::string brokers = projd::testing::KafkaOrSkip();
  if (brokers.empty()) return;
  std::string topic = projd::testing::UniqueTopic("audit");
  std::string views = kViews;
  for (size_t at; (at = views.find("TOPIC")) != std::string::npos;) views.replace(at, 5, topic);
  std::string dir = projd::testing::ProjectionFolder("audit-kafka", "views.proj", views);
  std::string tokens = dir + "/tokens.toml";
  projd::testing::WriteFile(tokens,
                            "[[token]]\ntoken = \"admin-t\"\nrole = \"admin\"\n"
                            "[[token]]\ntoken = \"activity-t\"\nrole = \"reader\"\n"
                            "views = [\"activity\"]\n");
  std::filesystem::permissions(
      tokens, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
      std::filesystem::perm_options::replace);
  std::string error;
  REQUIRE(projd::CreateKafkaTopic(brokers, topic, 2, &error));

  // A transfer (two events, two accounts, one command), then other commands.
  std::vector<Command> commands = {
      {"cmd-transfer-1",
       "alice",
       {{"a", Event("Withdrawn", "a", "25.10", "rent")},
        {"b", Event("Deposited", "b", "25.10", "rent")}}},
      {"cmd-2", "bob", {{"a", Event("Deposited", "a", "100.00", "salary")}}},
      {"cmd-3", "carol", {{"b", Event("Withdrawn", "b", "0.10", "fee")}}}};
  auto producer = projd::Producer::Create(brokers, {}, &error);
  REQUIRE(producer);
  for (const auto& c : commands) {
    for (const auto& [account, value] : c.events) {
      REQUIRE(producer->ProduceAsync(topic, account, value,
                                     {{"user", c.user}, {"correlation-id", c.id}}, &error));
    }
  }
  REQUIRE(producer->Flush(std::chrono::seconds(30), &error));

  auto p = ProjdProcess::StartIn(
      dir, {"--brokers", brokers, "--group", "g-" + topic, "--auth", tokens}, &error);
  REQUIRE(p);
  p->set_json_headers({{"Authorization", "Bearer admin-t"}});
  REQUIRE(p->WaitCaughtUp("balances", 4));
  REQUIRE(p->WaitCaughtUp("activity", 4));

  // Rows: the last event's audit values and correlation.
  Value row = p->GetJson("/v1/views/balances/rows/a");
  const Value& by = Member(row, "updated_by");
  CHECK(FieldText(Member(by, "audit"), "user") == "bob");
  CHECK(FieldText(by, "correlation") == "cmd-2");
  CHECK(FieldText(Member(row, "row"), "balance") == "74.9");
  // History: every version with its own.
  Value history = p->GetJson("/v1/views/activity/rows/b/history");
  const auto& versions = Member(history, "versions").as_array();
  REQUIRE(versions.size() == 2);
  CHECK(FieldText(Member(Member(versions[0], "updated_by"), "audit"), "user") == "alice");
  CHECK(FieldText(Member(Member(versions[0], "updated_by"), "audit"), "reason") == "rent");
  CHECK(FieldText(Member(versions[0], "updated_by"), "correlation") == "cmd-transfer-1");
  CHECK(FieldText(Member(Member(versions[1], "updated_by"), "audit"), "user") == "carol");

  // The transfer across both views: four changes, each view's in its order, rows only where
  // the view keeps history.
  Value trace = p->GetJson("/v1/correlations/cmd-transfer-1");
  const auto& changes = Member(trace, "changes").as_array();
  REQUIRE(changes.size() == 4);
  std::map<std::string, std::vector<std::string>> per_view;
  for (const auto& c : changes) {
    per_view[FieldText(c, "view")].push_back(FieldText(c, "key"));
    CHECK(FieldText(Member(c, "updated_by"), "correlation") == "cmd-transfer-1");
    bool has_row = c.as_object().Find("row") != nullptr;
    CHECK(has_row == (FieldText(c, "view") == "activity"));
  }
  REQUIRE(per_view["balances"].size() == 2);
  REQUIRE(per_view["activity"].size() == 2);
  CHECK(per_view["balances"] == per_view["activity"]);
  // Paged one by one, the same list.
  std::vector<std::string> paged;
  std::string cursor;
  do {
    Value page = p->GetJson("/v1/correlations/cmd-transfer-1?limit=1" +
                            (cursor.empty() ? "" : "&cursor=" + projd::PercentEncode(cursor)));
    for (const auto& c : Member(page, "changes").as_array()) {
      paged.push_back(FieldText(c, "view") + "/" + FieldText(c, "key"));
    }
    const Value& next = Member(page, "next_cursor");
    cursor = next.is_string() ? next.as_string() : "";
  } while (!cursor.empty());
  std::vector<std::string> whole;
  for (const auto& c : changes) whole.push_back(FieldText(c, "view") + "/" + FieldText(c, "key"));
  CHECK(paged == whole);

  // A reader limited to activity sees activity's part only.
  p->set_json_headers({{"Authorization", "Bearer activity-t"}});
  Value limited = p->GetJson("/v1/correlations/cmd-transfer-1");
  const auto& mine = Member(limited, "changes").as_array();
  CHECK(mine.size() == 2);
  for (const auto& c : mine) CHECK(FieldText(c, "view") == "activity");

  // projctl trace: the same four changes as a table.
  std::string out;
  CHECK(projd::testing::Run(std::string(PROJCTL_BIN) + " --server http://127.0.0.1:" +
                                std::to_string(p->port()) + " --token admin-t trace cmd-transfer-1",
                            &out) == 0);
  INFO(out);
  size_t lines = 0;
  for (char ch : out) lines += ch == '\n';
  CHECK(lines == 5);  // a header and four changes

  // One page of three, then the rest from its cursor; --all fetches every page.
  std::string trace_cmd = std::string(PROJCTL_BIN) +
                          " --server http://127.0.0.1:" + std::to_string(p->port()) +
                          " --token admin-t trace cmd-transfer-1";
  std::string page;
  CHECK(projd::testing::Run(trace_cmd + " --limit 3 --json", &page) == 0);
  Value first;
  REQUIRE(ParseJson(page, &first, &error));
  CHECK(Member(first, "changes").as_array().size() == 3);
  REQUIRE(Member(first, "next_cursor").is_string());
  CHECK(projd::testing::Run(
            trace_cmd + " --json --cursor " + Member(first, "next_cursor").as_string(), &page) ==
        0);
  Value rest;
  REQUIRE(ParseJson(page, &rest, &error));
  CHECK(Member(rest, "changes").as_array().size() == 1);
  CHECK(Member(rest, "next_cursor").is_null());
  CHECK(projd::testing::Run(trace_cmd + " --limit 1 --all", &out) == 0);
  lines = 0;
  for (char ch : out) lines += ch == '\n';
  CHECK(lines == 5);
  CHECK(projd::testing::Run(trace_cmd + " --limit 3", &out) == 0);
  CHECK(out.find("next page: --cursor ") != std::string::npos);
  CHECK(p->Terminate() == 0);
}

TEST_CASE("a correlation's trail waits for min_position on every view that consumes its topics",
          "[embedded]") {
  std::string dir = projd::testing::ProjectionFolder("audit-ryw", "views.proj", R"(
projection ledger {
  from "cmds"
  key event.account
  correlation event.cmd
  on Deposited { balance += event.amount }
}
projection counts {
  from "cmds", "extra"
  key event.account
  correlation event.cmd
  history all
  on Deposited { deposits += 1 }
}
projection elsewhere {
  from "others"
  key event.k
  on Seen { n += 1 }
}
)");
  std::string error;
  auto p = ProjdProcess::StartIn(dir, {}, &error);
  REQUIRE(p);
  auto producer = projd::Producer::Create(p->embedded_brokers(), {}, &error);
  REQUIRE(producer);
  auto deposit = [&](int i, int32_t* part, int64_t* off) {
    std::string account = "acc-" + std::to_string(i % 3);
    REQUIRE(producer->Produce("cmds", -1, account,
                              R"({"type":"Deposited","account":")" + account +
                                  R"(","amount":1.5,"cmd":"cmd-)" + std::to_string(i) + "\"}",
                              0, part, off, &error));
  };
  int32_t part;
  int64_t off;
  deposit(0, &part, &off);
  REQUIRE(p->WaitCaughtUp("ledger", 1));
  REQUIRE(p->WaitCaughtUp("counts", 1));

  // Each command's trail asked for right after its event is delivered, with the event's
  // offset: both views' changes are in the answer.
  for (int i = 1; i <= 12; ++i) {
    deposit(i, &part, &off);
    std::string pos = "cmds:" + std::to_string(part) + ":" + std::to_string(off + 1);
    auto r = p->Call(
        "GET", "/v1/correlations/cmd-" + std::to_string(i) + "?wait_ms=30000&min_position=" + pos);
    INFO(r.body);
    REQUIRE(r.status == 200);
    Value v;
    std::string perr;
    REQUIRE(ParseJson(r.body, &v, &perr));
    const auto& changes = Member(v, "changes").as_array();
    REQUIRE(changes.size() == 2);
    std::set<std::string> views;
    for (const auto& c : changes) views.insert(FieldText(c, "view"));
    CHECK(views == std::set<std::string>{"counts", "ledger"});
  }
  // The same in the header.
  {
    deposit(13, &part, &off);
    std::string pos = "cmds:" + std::to_string(part) + ":" + std::to_string(off + 1);
    auto r = p->Call("GET", "/v1/correlations/cmd-13?wait_ms=30000", "",
                     {{"X-Projd-Min-Position", pos}});
    REQUIRE(r.status == 200);
    CHECK(r.body.find("\"counts\"") != std::string::npos);
    CHECK(r.body.find("\"ledger\"") != std::string::npos);
  }

  // Never reached within wait_ms: 504 after it, naming a view and its position.
  auto t0 = std::chrono::steady_clock::now();
  auto late = p->Call("GET", "/v1/correlations/cmd-1?wait_ms=300&min_position=cmds:0:999999999");
  CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(250));
  CHECK(late.status == 504);
  CHECK(late.body.find("\"view\"") != std::string::npos);
  CHECK(late.body.find("\"position\":\"cmds:") != std::string::npos);
  // A position on a topic only the second view consumes: that view is the one waited for
  // (the first, behind on nothing it consumes, is passed over).
  t0 = std::chrono::steady_clock::now();
  auto second =
      p->Call("GET", "/v1/correlations/cmd-1?wait_ms=300&min_position=cmds:0:0,extra:0:999999");
  CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(250));
  CHECK(second.status == 504);
  CHECK(second.body.find("\"view\":\"counts\"") != std::string::npos);
  // A topic no view with a correlation consumes ("others" is only elsewhere's): 504 at once.
  t0 = std::chrono::steady_clock::now();
  auto never = p->Call("GET", "/v1/correlations/cmd-1?wait_ms=30000&min_position=others:0:5");
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10));
  CHECK(never.status == 504);
  CHECK(never.body.find("topic others") != std::string::npos);
  // Offset 0 asks for nothing; malformed parameters are 400.
  CHECK(p->Call("GET", "/v1/correlations/cmd-1?min_position=others:0:0").status == 200);
  auto bad = p->Call("GET", "/v1/correlations/cmd-1?min_position=garbage");
  CHECK(bad.status == 400);
  CHECK(bad.body.find("bad min_position") != std::string::npos);
  CHECK(p->Call("GET", "/v1/correlations/cmd-1?wait_ms=abc").status == 400);
}
