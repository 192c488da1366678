// Full-text search through the daemon: `index text` kept by the real apply path (pipelined
// LMDB commits), `matches` and score() over HTTP, edits and deletions.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>

#include "dsl/value.h"
#include "tests/integration/harness.h"

namespace {

using projd::Value;
using projd::testing::ProjdProcess;

const char* const kWords[] = {"coffee", "berlin", "paris", "rent", "card", "fee",
                              "cash",   "wire",   "bank",  "tax",  "atm",  "beans"};

// The keys the model says match every word of `words` (memos are lowercase words and spaces).
std::vector<std::string> Expected(const std::map<std::string, std::string>& memos,
                                  const std::vector<std::string>& words) {
  std::vector<std::string> out;
  for (const auto& [key, memo] : memos) {
    std::set<std::string> have;
    std::istringstream in(memo);
    for (std::string w; in >> w;) have.insert(w);
    bool all = true;
    for (const auto& w : words) all = all && have.count(w) > 0;
    if (all) out.push_back(key);
  }
  return out;
}

// The keys a query answers (one page), and its plan.
std::vector<std::string> Keys(ProjdProcess& p, const std::string& query, std::string* plan) {
  auto r = p.Call("POST", "/v1/query", query);
  INFO(query << " -> " << r.status << " " << r.body);
  REQUIRE(r.status == 200);
  Value v;
  std::string error;
  REQUIRE(projd::ParseJson(r.body, &v, &error));
  *plan = v.as_object().Find("plan")->as_string();
  std::vector<std::string> keys;
  for (const auto& row : v.as_object().Find("rows")->as_array()) {
    keys.push_back(row.as_object().Find("key")->as_string());
  }
  return keys;
}

void CheckSearches(ProjdProcess& p, const std::map<std::string, std::string>& memos) {
  std::vector<std::vector<std::string>> searches = {
      {"coffee"}, {"coffee", "berlin"}, {"rent", "card", "fee"}, {"atm"}, {"beans", "wire"}};
  for (const auto& words : searches) {
    std::string pattern;
    for (const auto& w : words) pattern += (pattern.empty() ? "" : " ") + w;
    std::string plan;
    auto got =
        Keys(p, "from tx select key where memo matches \"" + pattern + "\" limit 10000", &plan);
    INFO("matches \"" << pattern << "\"");
    CHECK(plan == "text memo");
    CHECK(got == Expected(memos, words));
  }
}

// projd (the embedded broker, one partition) on a fresh folder TMP/NAME with one projection
// file, VIEW.proj, holding `source`.
std::unique_ptr<ProjdProcess> StartWith(const std::string& name, const std::string& view,
                                        const std::string& source) {
  std::string dir = projd::testing::ProjectionFolder(name, view + ".proj", source);
  std::vector<std::string> args = {"--partitions", "1"};
  std::string error;
  auto p = ProjdProcess::StartIn(dir, args, &error);
  INFO(error);
  REQUIRE(p);
  return p;
}

}  // namespace

TEST_CASE("full-text search over HTTP: matches, score(), edits and deletes", "[embedded]") {
  auto p = StartWith("text-search", "tx", R"(
projection tx {
  from "tx"
  key event.id
  on Posted { memo = event.memo  amount = event.amount }
  on Edited { memo = event.memo }
  on Voided { delete }
  index text memo
}
)");
  std::string error;
  std::string brokers = p->embedded_brokers();
  std::mt19937 rng(7);
  auto memo = [&rng]() {
    std::string m;
    int n = 1 + static_cast<int>(rng() % 6);
    for (int i = 0; i < n; ++i) {
      m += (i ? " " : "");
      m += kWords[rng() % (sizeof(kWords) / sizeof(kWords[0]))];
    }
    return m;
  };
  std::map<std::string, std::string> model;
  std::vector<std::string> values;
  for (int i = 0; i < 600; ++i) {
    std::string id = "tx-" + std::to_string(1000 + i);
    std::string m = memo();
    model[id] = m;
    values.push_back(R"({"type":"Posted","id":")" + id + R"(","memo":")" + m + R"(","amount":)" +
                     std::to_string(i) + "}");
  }
  projd::testing::ProduceValues(brokers, "tx", values);
  REQUIRE(p->WaitCaughtUp("tx", 600));
  CheckSearches(*p, model);

  // Edits replace a row's words; voided rows leave the index.
  values.clear();
  for (int i = 0; i < 600; i += 3) {
    std::string id = "tx-" + std::to_string(1000 + i);
    if (i % 2 == 0) {
      model[id] = memo();
      values.push_back(R"({"type":"Edited","id":")" + id + R"(","memo":")" + model[id] + R"("})");
    } else {
      model.erase(id);
      values.push_back(R"({"type":"Voided","id":")" + id + R"("})");
    }
  }
  projd::testing::ProduceValues(brokers, "tx", values);
  REQUIRE(p->WaitCaughtUp("tx", 600 + static_cast<int64_t>(values.size())));
  CheckSearches(*p, model);

  // score(): every match scored, the best first.
  auto r = p->Call("POST", "/v1/query",
                   "from tx select key, score() as s where memo matches \"coffee\" order by s "
                   "desc limit 10000");
  REQUIRE(r.status == 200);
  Value v;
  REQUIRE(projd::ParseJson(r.body, &v, &error));
  const auto& rows = v.as_object().Find("rows")->as_array();
  CHECK(rows.size() == Expected(model, {"coffee"}).size());
  for (size_t i = 1; i < rows.size(); ++i) {
    CHECK(rows[i - 1].as_object().Find("s")->as_number().Compare(
              rows[i].as_object().Find("s")->as_number()) >= 0);
  }
  // Errors: a field without a text index, a bad pattern.
  r = p->Call("POST", "/v1/query", "from tx where amount matches \"1\"");
  CHECK(r.status == 400);
  CHECK(r.body.find("has no text index") != std::string::npos);
  r = p->Call("POST", "/v1/query", "from tx where memo matches \"\\\"coffee\"");
  CHECK(r.status == 400);
  CHECK(r.body.find("unterminated quote") != std::string::npos);
}

TEST_CASE("full-text search over HTTP: prefixes of words on a stemmed field, long words",
          "[embedded]") {
  auto p = StartWith("text-search-english", "docs", R"(
projection docs {
  from "docs"
  key event.id
  on Put { body = event.body  title = event.title }
  index text body language "english"
  index text title
}
)");
  std::string error;
  const std::string common = "nightly_customer_account_balance_reconciliation_report_generation";
  std::vector<std::string> values = {
      R"({"type":"Put","id":"d1","body":"Flight Berlin to Paris, coffee on board","title":")" +
          common + R"(_failed"})",
      R"({"type":"Put","id":"d2","body":"The payments were paid","title":")" + common +
          R"(_succeeded"})",
      R"({"type":"Put","id":"d3","body":"running runners ran","title":"x"})",
      R"({"type":"Put","id":"d4","body":"Card fees for March; a payment","title":")" +
          std::string(2000, 'a') + R"("})",
  };
  projd::testing::ProduceValues(p->embedded_brokers(), "docs", values);
  REQUIRE(p->WaitCaughtUp("docs", static_cast<int64_t>(values.size())));
  std::string plan;
  auto find = [&](const std::string& where) {
    return Keys(*p, "from docs select key where " + where, &plan);
  };
  using V = std::vector<std::string>;
  // A prefix is of the words as written, also where it is longer than the word's stem.
  CHECK(find(R"(body matches "coffee*")") == V{"d1"});
  CHECK(plan == "text body");
  CHECK(find(R"(body matches "coffee")") == V{"d1"});
  CHECK(find(R"(body matches "payments*")") == V{"d2"});
  CHECK(find(R"(body matches "paym*")") == V{"d2", "d4"});
  CHECK(find(R"(body matches "runni*")") == V{"d3"});
  CHECK(find(R"(body matches "fees*")") == V{"d4"});
  CHECK(find(R"(body matches "payment")") == V{"d2", "d4"});  // the stem finds both
  // Two long words that share their first 67 bytes are two words.
  CHECK(find("title matches \"" + common + "_failed\"") == V{"d1"});
  CHECK(find("title matches \"" + common + "_succeeded\"") == V{"d2"});
  CHECK(find("title matches \"" + common.substr(0, 40) + "*\"") == V{"d1", "d2"});
  CHECK(find("title matches \"" + std::string(2000, 'a') + "\"") == V{"d4"});
  CHECK(find("title matches \"" + std::string(1000, 'a') + "\"").empty());
  CHECK(find("title matches \"" + std::string(64, 'a') + "\"").empty());
  // A prefix longer than a long word's kept head is refused, with the reason.
  auto r = p->Call("POST", "/v1/query", "from docs where title matches \"" + common + "*\"");
  CHECK(r.status == 400);
  CHECK(r.body.find("at most 47 bytes") != std::string::npos);
  // The words kept beside the stems do not count in a row's length: one word, scored as on a
  // field of the same text without stems.
  r = p->Call("POST", "/v1/query",
              "from docs select key, score() as s where body matches \"coffee\"");
  REQUIRE(r.status == 200);
  Value v;
  REQUIRE(projd::ParseJson(r.body, &v, &error));
  const auto& rows = v.as_object().Find("rows")->as_array();
  REQUIRE(rows.size() == 1);
  // BM25 (k1 1.2, b 0.75) of one occurrence in 7 words, 4 rows of 7, 4, 3 and 6 words, one of
  // which holds the word: idf ln(1 + (4 - 1 + 0.5) / (1 + 0.5)).
  double avg = (7.0 + 4 + 3 + 6) / 4, idf = std::log(1 + 3.5 / 1.5);
  double want = idf * 2.2 / (1 + 1.2 * (1 - 0.75 + 0.75 * 7 / avg));
  double got = std::stod(rows[0].as_object().Find("s")->as_number().ToString());
  CHECK(std::abs(got - want) <= 0.5e-6);  // scores are given to 6 places
  // An or of matches conditions is found in the index; score() inside an aggregate.
  CHECK(find(R"(body matches "coffee" or title matches "x")") == V{"d1", "d3"});
  CHECK(plan == "text body or title");
  r = p->Call("POST", "/v1/query",
              "from docs select count() as n, sum(score()) as s where body matches \"coffee\"");
  CHECK(r.status == 200);
  CHECK(r.body.find("\"n\":1") != std::string::npos);
  // A pattern that cannot be searched is a bad query, with its line and column; a cursor that
  // is not one is a bad cursor.
  r = p->Call("POST", "/v1/query", "from docs\nwhere body matches \"\\\"coffee\"");
  CHECK(r.status == 400);
  CHECK(r.body.find("\"error\":\"bad query") != std::string::npos);
  CHECK(r.body.find("\"line\":2") != std::string::npos);
  CHECK(r.body.find("\"column\":20") != std::string::npos);
  r = p->Call("POST", "/v1/query?cursor=7a7a", "from docs where body matches \"coffee\"");
  CHECK(r.status == 400);
  CHECK(r.body.find("\"error\":\"bad cursor\"") != std::string::npos);
}
