// A compiled query of the query language (SPEC §5): `from VIEW [as of T] [where EXPR]
// [select ITEM [as NAME], ...] [group by EXPR, ...] [having EXPR] [order by ITEM [asc|desc],
// ...] [limit N]`, clauses in any order. How it is run (key, index or scan) is the engine's
// business.
//
// A query either answers rows (one answer row per view row) or, with `group by` or aggregates
// in its select list, groups: the rows are collected into groups keyed by the values of the
// group expressions (one group for the whole view without `group by`), and every answer row is
// computed from a "group row", an object with one member per group expression, aggregate and
// select item (GroupRowName). The select items, `having` and the order of such a query are
// expressions over the group row, compiled so that they read only these members.
#ifndef PROJD_DSL_QUERY_H_
#define PROJD_DSL_QUERY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dsl/program.h"

namespace projd {

enum class Aggregate : uint8_t { kNone, kCount, kSum, kMin, kMax, kAvg, kCountDistinct };

// The member of a group row that holds group expression i ('g'), aggregate i ('a') or select
// item i ('s'). The names start with a byte no field name can hold.
inline std::string GroupRowName(char kind, size_t i) {
  return std::string("\x01") + kind + std::to_string(i);
}

struct Query {
  std::string view;
  std::shared_ptr<const Projection> projection;
  bool has_as_of = false;
  int64_t as_of_ms = 0;
  bool has_where = false;
  ExprNode where;
  // The `FIELD matches "PATTERN"` conditions of the where clause (ExprNode::slot indexes
  // this list); the pattern is parsed against the field's text index when the query runs.
  struct TextMatch {
    std::string field;
    std::string pattern;
    std::string language;
  };
  std::vector<TextMatch> text_matches;
  struct SelectItem {
    std::string label;  // the alias, or the item's source text, e.g. "sum(balance)" or "owner"
    bool has_alias = false;
    // Over the row; with aggregates (below), over the group row.
    ExprNode expr;
  };
  std::vector<SelectItem> select;  // empty: whole rows

  // Grouping: set when the query has `group by` or aggregates in its select list.
  bool aggregates = false;
  std::vector<ExprNode> group_by;  // over the row; empty: the whole view is one group
  struct AggregateCall {
    Aggregate func = Aggregate::kNone;
    ExprNode arg;       // over the row; unused for count()
    std::string label;  // the call's source text, for error messages: "sum(balance)"
  };
  std::vector<AggregateCall> aggregate_calls;  // group row member GroupRowName('a', i)
  bool has_having = false;
  ExprNode having;  // over the group row

  struct Order {
    std::string field;  // "key" for the key (rows only)
    bool descending = false;
    int item = -1;       // >= 0: by the value of this select item instead (an alias; groups)
    bool score = false;  // by score() (queries with matches)
  };
  std::vector<Order> order;
  int64_t limit = -1;  // -1: none given
  // A hash (hex) of what decides the answer's rows and their order — every clause but limit,
  // white space aside: a next_cursor carries it, and pages only the query that made it.
  std::string cursor_tag;
};

// Checks the pattern of `FIELD matches "PATTERN"` when a query is compiled, for a field of
// text language `language` ("simple", "english"): false with *error (why) for a pattern that
// cannot be searched (no words, an unterminated quote, a bad prefix), so that it is a compile
// error with its line and column. The full-text analyzer (store/text_analyzer.cc), which the
// language does not link, installs it; without one, patterns are checked when the query runs.
using MatchesPatternCheck = bool (*)(const std::string& pattern, const std::string& language,
                                     std::string* error);
void SetMatchesPatternCheck(MatchesPatternCheck check);

}  // namespace projd

#endif  // PROJD_DSL_QUERY_H_
