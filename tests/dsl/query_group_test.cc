// Grouped queries beyond the golden cases (tests/golden_query): paging through groups with
// cursors, the bound on the number of groups, and count_distinct's notion of equal values.
#include <catch2/catch.hpp>

#include "engine/query_exec.h"
#include "tests/dsl/test_views.h"

namespace {

using View = projd_test::TestView;

// A view `t` with one row per event {"id", "g", "v"}.
View MakeView(const std::string& name, const std::vector<std::string>& events) {
  return projd_test::MakeTestView(
      "query-group", name,
      "projection t { from \"t\" key event.id on Set { g = event.g  v = event.v } }", events);
}

std::unique_ptr<projd::Query> Compile(const View& view, const std::string& text) {
  return projd_test::CompileTestQuery(view, text);
}

std::string Event(int i, const std::string& g, const std::string& v) {
  return "{\"type\":\"Set\",\"id\":\"r" + std::to_string(i) + "\",\"g\":" + g + ",\"v\":" + v + "}";
}

}  // namespace

TEST_CASE("grouped answers page with their cursor", "[dsl]") {
  std::vector<std::string> events;
  for (int i = 0; i < 20; ++i) {
    events.push_back(Event(i, "\"g" + std::to_string(i % 7) + "\"", std::to_string(i)));
  }
  View view = MakeView("page", events);
  auto q = Compile(view,
                   "from t select g, count() as n, sum(v) as s group by g order by n desc "
                   "limit 3");
  projd::QueryLimits limits;
  std::string cursor, error;
  std::vector<std::string> seen;
  int pages = 0;
  do {
    projd::QueryAnswer answer;
    REQUIRE(projd::RunQuery(*q, view.store.get(), cursor, limits, &answer, &error));
    CHECK(answer.scanned == 20);
    CHECK(answer.rows.size() <= 3);
    for (const auto& r : answer.rows) seen.push_back(r.as_object().Find("g")->as_string());
    cursor = answer.next_cursor;
    ++pages;
  } while (!cursor.empty() && pages < 10);
  CHECK(pages == 3);
  // n desc (g0..g5 have 3 rows, g6 has 2), then by the group key ascending.
  CHECK(seen == std::vector<std::string>{"g0", "g1", "g2", "g3", "g4", "g5", "g6"});

  projd::QueryAnswer answer;
  CHECK_FALSE(projd::RunQuery(*q, view.store.get(), "zz", limits, &answer, &error));
  CHECK(error == "bad cursor: not a cursor from this view's query answers");
  // A cursor of a row answer is not one of a grouped answer.
  auto rows = Compile(view, "from t select g limit 3");
  projd::QueryAnswer row_answer;
  REQUIRE(projd::RunQuery(*rows, view.store.get(), "", limits, &row_answer, &error));
  REQUIRE_FALSE(row_answer.next_cursor.empty());
  CHECK_FALSE(
      projd::RunQuery(*q, view.store.get(), row_answer.next_cursor, limits, &answer, &error));
  CHECK(error == "bad cursor: not a cursor from this view's query answers");
}

TEST_CASE("group by refuses more groups than the sort bound", "[dsl]") {
  std::vector<std::string> events;
  for (int i = 0; i < 5; ++i) events.push_back(Event(i, std::to_string(i % 3), "1"));
  View view = MakeView("bound", events);
  auto q = Compile(view, "from t select g, count() group by g");
  projd::QueryLimits limits;
  limits.max_sorted = 2;
  projd::QueryAnswer answer;
  std::string error;
  CHECK_FALSE(projd::RunQuery(*q, view.store.get(), "", limits, &answer, &error));
  CHECK(error == "group by would make more than 2 groups; narrow the query with where");
  limits.max_sorted = 3;
  projd::QueryAnswer ok;
  REQUIRE(projd::RunQuery(*q, view.store.get(), "", limits, &ok, &error));
  CHECK(ok.rows.size() == 3);
}

TEST_CASE("count_distinct and group keys compare values exactly", "[dsl]") {
  // 1, 1.0 and 1.000 are one number; "1" is a string; objects compare member by member.
  View view = MakeView("distinct", {Event(1, "1", "1"), Event(2, "1.0", "1.0"),
                                    Event(3, "1.000", "\"1\""), Event(4, "null", "{\"a\":1}"),
                                    Event(5, "2", "{\"a\":1.00}"), Event(6, "2", "null")});
  auto q = Compile(view, "from t select count_distinct(v) as d, count() as n");
  projd::QueryLimits limits;
  projd::QueryAnswer answer;
  std::string error;
  REQUIRE(projd::RunQuery(*q, view.store.get(), "", limits, &answer, &error));
  CHECK(projd::ToJson(projd::Value::MakeArray(answer.rows)) == "[{\"d\":3,\"n\":6}]");

  auto by_g = Compile(view, "from t select g, count_distinct(v), count() group by g");
  projd::QueryAnswer grouped;
  REQUIRE(projd::RunQuery(*by_g, view.store.get(), "", limits, &grouped, &error));
  CHECK(projd::ToJson(projd::Value::MakeArray(grouped.rows)) ==
        "[{\"count()\":1,\"count_distinct(v)\":1,\"g\":null},"
        "{\"count()\":3,\"count_distinct(v)\":2,\"g\":1},"
        "{\"count()\":2,\"count_distinct(v)\":1,\"g\":2}]");
  CHECK(by_g->select.size() == 3);
  CHECK(by_g->select[1].label == "count_distinct(v)");
}

TEST_CASE(
    "a grouped answer's cursor is a place in the order: groups that come or go between "
    "pages make no other group repeat or go missing",
    "[dsl]") {
  std::vector<std::string> events;
  int id = 0;
  for (const char* g : {"b", "d", "f", "h", "j"})
    events.push_back(Event(id++, "\"" + std::string(g) + "\"", "1"));
  View view = MakeView("place", events);
  projd::Projector projector(view.proj);
  int64_t offset = static_cast<int64_t>(events.size());
  projd::QueryLimits limits;
  std::string error;
  auto groups = [&](const std::string& query, const std::string& cursor, std::string* next) {
    auto q = Compile(view, query);
    projd::QueryAnswer answer;
    REQUIRE(projd::RunQuery(*q, view.store.get(), cursor, limits, &answer, &error));
    std::vector<std::string> out;
    for (const auto& r : answer.rows) out.push_back(r.as_object().Find("g")->as_string());
    *next = answer.next_cursor;
    return out;
  };
  using V = std::vector<std::string>;
  const std::string by_group = "from t select g, count() as n group by g limit 3";
  std::string cursor;
  CHECK(groups(by_group, "", &cursor) == V{"b", "d", "f"});
  REQUIRE_FALSE(cursor.empty());
  // A group before the cursor's place appears, one before it goes: the next page is still
  // the groups after f.
  projd_test::ApplyTestBatch(projector, view.store.get(), {Event(id++, "\"a\"", "1")}, &offset,
                             true);
  projd_test::ApplyTestBatch(projector, view.store.get(),
                             {"{\"type\":\"Set\",\"id\":\"r0\",\"g\":\"e\",\"v\":1}"}, &offset,
                             true);
  std::string next;
  CHECK(groups(by_group, cursor, &next) == V{"h", "j"});
  CHECK(next.empty());
  // Ordered by an aggregate: the place is the order by values, then the group values.
  const std::string by_count = "from t select g, count() as n group by g order by n desc limit 2";
  projd_test::ApplyTestBatch(projector, view.store.get(), {Event(id++, "\"j\"", "1")}, &offset,
                             true);
  // n: j 2; a d e f h 1.
  CHECK(groups(by_count, "", &cursor) == V{"j", "a"});
  projd_test::ApplyTestBatch(projector, view.store.get(), {Event(id++, "\"0\"", "1")}, &offset,
                             true);
  CHECK(groups(by_count, cursor, &next) == V{"d", "e"});
  CHECK(groups(by_count, next, &next) == V{"f", "h"});
  CHECK(next.empty());
}
