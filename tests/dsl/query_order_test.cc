// Queries with `order by` and text searches beyond the golden cases (tests/golden_query): an
// ordered answer keeps only the best rows of each page (a bounded heap), and a text query reads
// rows only when it must; both are checked here against answers computed another way, on
// seeded random views with ties, nulls and mixed types, through every page of their cursors.
#include <catch2/catch.hpp>
#include <random>
#include <set>

#include "engine/query_exec.h"
#include "tests/dsl/test_views.h"

namespace {

using View = projd_test::TestView;

// A view `t` with one row per event {"id", "g", "v", "memo"} and a text index on memo.
View MakeView(const std::string& name, const std::vector<std::string>& events) {
  return projd_test::MakeTestView("query-order", name,
                                  "projection t { from \"t\" key event.id on Set { g = event.g  "
                                  "v = event.v  memo = event.memo } index text memo }",
                                  events);
}

// Every page of `text` (its own limit is the page size), each answer row as compact JSON.
std::vector<std::string> AllPages(const View& view, const std::string& text, int* pages) {
  auto q = projd_test::CompileTestQuery(view, text);
  projd::QueryLimits limits;
  std::vector<std::string> rows;
  std::string cursor, error;
  *pages = 0;
  do {
    projd::QueryAnswer answer;
    INFO(text);
    REQUIRE(projd::RunQuery(*q, view.store.get(), cursor, limits, &answer, &error));
    for (const auto& r : answer.rows) rows.push_back(projd::ToJson(r));
    cursor = answer.next_cursor;
    ++*pages;
    REQUIRE(*pages < 1000);
  } while (!cursor.empty());
  return rows;
}

// `text` compiled, with its answer run without bounds on its work in *whole.
std::unique_ptr<projd::Query> CompileWhole(const View& view, const std::string& text,
                                           projd::QueryAnswer* whole) {
  auto q = projd_test::CompileTestQuery(view, text);
  std::string error;
  REQUIRE(projd::RunQuery(*q, view.store.get(), "", projd::QueryLimits(), whole, &error));
  return q;
}

const char* const kWords[] = {"coffee", "rent", "card", "berlin", "fee", "salary", "gift", "tax"};

struct Data {
  std::vector<std::string> events;
  std::vector<std::pair<std::string, std::set<std::string>>> memos;  // key, its words
};

Data RandomData(uint32_t seed, int rows) {
  std::mt19937 rng(seed);
  Data d;
  for (int i = 0; i < rows; ++i) {
    char id[16];
    snprintf(id, sizeof id, "r%04d", i);
    // v: ties (few distinct numbers), nulls, strings and absent values mixed.
    std::string v;
    switch (rng() % 6) {
      case 0:
        v = "null";
        break;
      case 1:
        v = "\"s" + std::to_string(rng() % 4) + "\"";
        break;
      default:
        v = std::to_string(rng() % 9) + "." + std::to_string(rng() % 3);
    }
    std::set<std::string> words;
    std::string memo;
    for (uint32_t w = 0, n = 1 + rng() % 5; w < n; ++w) {
      const char* word = kWords[rng() % 8];
      words.insert(word);
      memo += (w ? " " : "") + std::string(word);
    }
    d.memos.emplace_back(id, words);
    d.events.push_back("{\"type\":\"Set\",\"id\":\"" + std::string(id) + "\",\"g\":" +
                       std::to_string(rng() % 3) + ",\"v\":" + v + ",\"memo\":\"" + memo + "\"}");
  }
  return d;
}

}  // namespace

TEST_CASE("ordered answers paged through their cursors equal one sorted answer", "[dsl]") {
  for (uint32_t seed : {1u, 2u, 3u}) {
    Data d = RandomData(seed, 300);
    View view = MakeView("order" + std::to_string(seed), d.events);
    for (const char* order :
         {"order by v desc, g", "order by v", "order by g desc", "order by key desc",
          "select key, v as x order by x desc", "where memo matches \"coffee\" order by v",
          "select key, score() as s where memo matches \"coffee fee\" order by s desc",
          "select key, score() as s where memo matches \"card\" and g == 1 order by s, key"}) {
      INFO("seed " << seed << ": " << order);
      int pages = 0, one = 0;
      std::vector<std::string> paged =
          AllPages(view, std::string("from t ") + order + " limit 7", &pages);
      std::vector<std::string> whole =
          AllPages(view, std::string("from t ") + order + " limit 1000", &one);
      CHECK(one == 1);
      CHECK(pages == static_cast<int>(std::max<size_t>(1, (whole.size() + 6) / 7)));
      CHECK(paged == whole);
      CHECK(!whole.empty());
    }
  }
}

TEST_CASE("text queries answer the rows that hold every word, reading rows only when needed",
          "[dsl]") {
  Data d = RandomData(7, 400);
  View view = MakeView("text", d.events);
  for (const auto& [a, b] : std::vector<std::pair<std::string, std::string>>{
           {"coffee", "rent"}, {"card", "card"}, {"tax", "gift"}, {"berlin", "salary"}}) {
    INFO(a << " " << b);
    std::vector<std::string> want;
    for (const auto& [key, words] : d.memos) {
      if (words.count(a) && words.count(b)) want.push_back(key);
    }
    std::string cond = "where memo matches \"";
    cond.append(a).append(" ").append(b).append("\"");
    int pages = 0;
    // Keys only (no row read), whole rows (read for the answer), and a field in where.
    std::vector<std::string> keys =
        AllPages(view, "from t select key " + cond + " limit 9", &pages);
    std::vector<std::string> rows = AllPages(view, "from t " + cond + " limit 9", &pages);
    std::vector<std::string> counted = AllPages(view, "from t select count() " + cond, &pages);
    REQUIRE(keys.size() == want.size());
    REQUIRE(rows.size() == want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      CHECK(keys[i] == "{\"key\":\"" + want[i] + "\"}");
      CHECK(rows[i].rfind("{\"key\":\"" + want[i] + "\",\"row\":{", 0) == 0);
    }
    REQUIRE(counted.size() == 1);
    CHECK(counted[0] == "{\"count()\":" + std::to_string(want.size()) + "}");
    std::vector<std::string> in_g =
        AllPages(view, "from t select key " + cond + " and g == 2 limit 9", &pages);
    size_t want_g = 0;
    for (const auto& r : rows) want_g += r.find("\"g\":2") != std::string::npos ? 1 : 0;
    CHECK(in_g.size() == want_g);
  }
}

TEST_CASE("a text plan that reads no row to decide, with few candidates, does not give up",
          "[dsl]") {
  Data d = RandomData(12, 600);
  View view = MakeView("checks", d.events);
  struct Case {
    std::string text;
    bool reads_rows;  // deciding on a candidate reads its row (a field in where or order)
  };
  const std::vector<Case> cases = {
      {"from t select key where memo matches \"coffee rent\" limit 20", false},
      {"from t where memo matches \"card\"", false},
      {"from t select count() where memo matches \"fee\"", false},
      {"from t select key where memo matches \"card\" and g == 1", true},
      {"from t select key where memo matches \"fee\" order by g limit 3", true},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    projd::QueryAnswer whole;
    auto q = CompileWhole(view, c.text, &whole);
    REQUIRE(whole.scanned > 2);
    // Candidates known to be at most give_up_after_checks (every word here is in fewer than
    // 600 rows): only a plan that reads rows gives up after one row.
    projd::QueryLimits few;
    few.give_up_after = 1;
    few.give_up_after_checks = 600;
    projd::QueryAnswer a;
    std::string e;
    bool ok = projd::RunQuery(*q, view.store.get(), "", few, &a, &e);
    CHECK(ok == !c.reads_rows);
    CHECK(a.gave_up == c.reads_rows);
    if (ok) {
      CHECK(projd::ToJson(projd::Value::MakeArray(a.rows)) ==
            projd::ToJson(projd::Value::MakeArray(whole.rows)));
      CHECK(a.scanned == whole.scanned);
    }
    // More candidates than that: every plan gives up after give_up_after.
    projd::QueryLimits many;
    many.give_up_after = 2;
    many.give_up_after_checks = 2;
    projd::QueryAnswer b;
    ok = projd::RunQuery(*q, view.store.get(), "", many, &b, &e);
    CHECK_FALSE(ok);
    CHECK(b.gave_up);
    CHECK(e.empty());
  }
}

TEST_CASE("a bounded first try of a query gives up or answers exactly as an unbounded run",
          "[dsl]") {
  Data d = RandomData(11, 600);
  View view = MakeView("bounded", d.events);
  struct Case {
    std::string text;
    bool scan;  // a plan that a bounded try gives up at once
  };
  const std::vector<Case> cases = {
      {"from t select key where memo matches \"coffee\" limit 5", false},
      {"from t select key where memo matches \"coffee rent\" limit 20", false},
      {"from t where memo matches \"tax gift\"", false},
      {"from t select count() where memo matches \"card\"", false},
      {"from t select key, score() as s where memo matches \"fee\" order by s desc limit 3", false},
      {"from t where key == \"r0042\"", false},
      {"from t where key starts_with \"r01\" limit 30", false},
      {"from t where g == 1 limit 10", true},
      {"from t select count() where g == 1", true},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    projd::QueryAnswer whole;
    auto q = CompileWhole(view, c.text, &whole);
    CHECK_FALSE(whole.gave_up);
    bool answered_small = false, gave_up_small = false;
    for (uint64_t after : {1u, 3u, 25u, 100000u}) {
      INFO("give_up_after " << after);
      projd::QueryLimits limits;
      limits.give_up_after = after;
      projd::QueryAnswer a;
      std::string e;
      bool ok = projd::RunQuery(*q, view.store.get(), "", limits, &a, &e);
      if (!ok) {
        // Gave up: no error, and no half answer used.
        REQUIRE(a.gave_up);
        CHECK(e.empty());
        CHECK((c.scan || a.scanned >= after));
        if (after == 1u) gave_up_small = true;
        continue;
      }
      CHECK_FALSE(c.scan);
      CHECK_FALSE(a.gave_up);
      CHECK(a.scanned < after);
      CHECK(projd::ToJson(projd::Value::MakeArray(a.rows)) ==
            projd::ToJson(projd::Value::MakeArray(whole.rows)));
      CHECK(a.next_cursor == whole.next_cursor);
      CHECK(a.plan == whole.plan);
      if (after == 100000u) answered_small = true;
    }
    // A plan bounded by the rows it reads answers once the bound is large enough, and one
    // that examines more than one row gives up under a bound of one.
    CHECK(answered_small == !c.scan);
    if (whole.scanned > 1) CHECK(gave_up_small);
  }
}

TEST_CASE("a search that its words' row counts say needs more than it may examine gives up at once",
          "[dsl]") {
  Data d = RandomData(13, 600);
  View view = MakeView("estimate", d.events);
  // Each word is in about a third of the 600 rows: a page of 20 rows that hold two of them
  // takes about 21 / (1/3) = 63 candidates; a count takes every one.
  projd::QueryLimits first_try;
  first_try.give_up_after = 25;
  first_try.give_up_after_checks = 10;
  first_try.text_give_up_after = 25;
  for (const char* text : {
           "from t select key where memo matches \"coffee rent\" limit 20",
           "from t select key where memo matches \"\\\"coffee rent\\\"\" limit 20",
           "from t select count() where memo matches \"card\"",
           "from t select key, score() as s where memo matches \"fee\" order by s desc limit 3",
       }) {
    INFO(text);
    projd::QueryAnswer whole;
    auto q = CompileWhole(view, text, &whole);
    REQUIRE(whole.scanned > 25);
    projd::QueryAnswer a;
    std::string e;
    CHECK_FALSE(projd::RunQuery(*q, view.store.get(), "", first_try, &a, &e));
    CHECK(a.gave_up);
    CHECK(a.scanned == 0);
    CHECK(e.empty());
  }
  // With more it may examine (a first try on a thread with nothing else to do), the page of two
  // words runs, and answers as the whole run; the count still gives up at once.
  {
    projd::QueryAnswer whole;
    auto q =
        CompileWhole(view, "from t select key where memo matches \"coffee rent\" limit 20", &whole);
    projd::QueryLimits alone = first_try;
    alone.text_give_up_after = std::max<uint64_t>(whole.scanned + 1, 100);  // above the estimate
    projd::QueryAnswer a;
    std::string e;
    REQUIRE(projd::RunQuery(*q, view.store.get(), "", alone, &a, &e));
    CHECK(a.scanned == whole.scanned);
    CHECK(projd::ToJson(projd::Value::MakeArray(a.rows)) ==
          projd::ToJson(projd::Value::MakeArray(whole.rows)));
    projd::QueryAnswer count_whole;
    auto count =
        CompileWhole(view, "from t select count() where memo matches \"card\"", &count_whole);
    REQUIRE(count_whole.scanned >= alone.text_give_up_after);
    projd::QueryAnswer c;
    CHECK_FALSE(projd::RunQuery(*count, view.store.get(), "", alone, &c, &e));
    CHECK(c.gave_up);
    CHECK(c.scanned == 0);
  }
  // One word and a small page: its first candidates fill it, so it runs (and answers alike);
  // and a key prefix narrows the candidates beyond what the row counts tell, so it runs too.
  for (const char* text : {
           "from t select key where memo matches \"card\" limit 5",
           "from t select key where memo matches \"coffee rent\" and key starts_with \"r01\" "
           "limit 20",
       }) {
    INFO(text);
    projd::QueryAnswer whole;
    auto q = CompileWhole(view, text, &whole);
    projd::QueryAnswer a;
    std::string e;
    const bool ok = projd::RunQuery(*q, view.store.get(), "", first_try, &a, &e);
    CHECK(a.scanned > 0);  // it examined candidates (and may give up after 25 of them)
    if (ok) {
      CHECK(projd::ToJson(projd::Value::MakeArray(a.rows)) ==
            projd::ToJson(projd::Value::MakeArray(whole.rows)));
    } else {
      CHECK(a.gave_up);
      CHECK(a.scanned >= 25);
    }
  }
}

TEST_CASE("a next_cursor pages only the query that made it, laid out otherwise or with another limit",
          "[dsl]") {
  Data d = RandomData(4, 60);
  View view = MakeView("cursor", d.events);
  auto run = [&](const std::string& text, const std::string& cursor, projd::QueryAnswer* a,
                 std::string* error) {
    auto q = projd_test::CompileTestQuery(view, text);
    return projd::RunQuery(*q, view.store.get(), cursor, projd::QueryLimits(), a, error);
  };
  for (const char* body : {"where g == 1", "order by v desc", "select g, count() as n group by g"}) {
    INFO(body);
    const std::string text = std::string("from t ") + body;
    projd::QueryAnswer first;
    std::string error;
    REQUIRE(run(text + " limit 1", "", &first, &error));
    REQUIRE_FALSE(first.next_cursor.empty());
    // The same query, spaced otherwise and with another limit: pages on.
    projd::QueryAnswer again;
    CHECK(run("from   t\n" + std::string(body) + "   limit 5", first.next_cursor, &again, &error));
    CHECK_FALSE(again.bad_cursor);
    // Another where, order or select: the cursor is not one of its answers'.
    for (const char* other : {"where g == 2", "order by v", "select key", "where g == 1 order by key"}) {
      projd::QueryAnswer a;
      CHECK_FALSE(run(std::string("from t ") + other, first.next_cursor, &a, &error));
      CHECK(a.bad_cursor);
      CHECK(error == "bad cursor: not a cursor from this view's query answers");
    }
  }
}
