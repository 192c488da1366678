// Grouped answers of the query language (dsl/query.h): `group by`, aggregates, `having`. The
// executor (engine/query_exec.cc) finds and filters the rows; a Grouper collects them into
// groups and makes the answer's rows, sorted and paged.
#ifndef PROJD_ENGINE_QUERY_GROUP_H_
#define PROJD_ENGINE_QUERY_GROUP_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "dsl/query.h"
#include "dsl/value.h"
#include "engine/query_exec.h"

namespace projd {
namespace query_detail {

// An exact sum of decimals that may pass 10^20 on the way (sum() and avg() add every row; only
// the answer must fit): high * 10^37 + low, in Decimal's raw units (10^-18), |low| < 10^37.
class WideSum {
 public:
  void Add(Decimal d);
  // The sum, when its magnitude is below 10^20.
  bool ToDecimal(Decimal* out) const;
  // The sum divided by n (n > 0), rounded half-even to 18 places, when below 10^20.
  bool Average(int64_t n, Decimal* out) const;

 private:
  __int128 high_ = 0, low_ = 0;
};

// Shared by the executor and the Grouper (defined in query_exec.cc).
// null < bool < number < string < the rest (by JSON text); numbers and strings by value.
int CompareValues(const Value& a, const Value& b);
// Evaluates a query expression on one row; on failure *error names what failed and the row.
// `text` answers matches and score() (queries with matches).
bool EvaluateOnRow(const ExprNode& expr, const std::string& what, const std::string& key,
                   const Object& fields, Value* out, std::string* error,
                   const TextOracle* text = nullptr);
// A where or having clause's value `v` on a row or group (named subject_kind + subject, as
// "row " + key): *pass when true; null counts as false; any other value than a boolean is an
// error, as in a projection's `if` (false with *error "CLAUSE failed on row K: the CLAUSE
// clause needs a boolean, not TYPE").
bool ClausePasses(const Value& v, const char* clause, const char* subject_kind,
                  const std::string& subject, bool* pass, std::string* error);
// A cursor is a JSON value, hex-encoded so that it stays opaque.
// A next_cursor: `c` and the query's cursor_tag (member "q"), hex-encoded JSON.
std::string EncodeCursor(const Query& q, Object c);
// The cursor's object, when it is one of `q`'s (its cursor_tag); else false.
bool DecodeCursor(const Query& q, const std::string& cursor, Value* out);

// The groups of one query run. Not thread-safe; one per RunQuery.
class Grouper {
 public:
  // At most max_groups groups (QueryLimits::max_sorted): more is an error.
  Grouper(const Query& q, size_t max_groups) : q_(q), max_groups_(max_groups) {}

  // Adds a row that passed the where clause. False with *error when an expression fails on
  // it, sum() or avg() meets something else than a number or null, or there are too many
  // groups. (A sum may pass 10^20 on the way: only a sum() answer that does not fit is an
  // error, when the answer is made.) `text` answers matches and score() in the group and
  // aggregate expressions (queries with matches).
  bool Add(const std::string& key, const Object& fields, std::string* error,
           const TextOracle* text = nullptr);

  // Fills answer->rows with at most `page` groups in order, from the position in `cursor` (a
  // next_cursor of an earlier page, or empty), and answer->next_cursor. False with *error for a
  // bad cursor or an expression that fails on a group.
  bool Answer(const std::string& cursor, size_t page, QueryAnswer* answer, std::string* error);

 private:
  struct State {  // one aggregate of one group
    int64_t n = 0;
    WideSum sum;
    bool has = false;
    Value best;
    std::set<std::string> distinct;  // encoded values
  };
  struct Group {
    std::vector<Value> keys;  // the values of the group expressions
    int64_t rows = 0;
    std::vector<State> aggs;
  };
  struct Out {  // one answer row, before sorting
    const Group* group;
    Value row;
    std::vector<Value> sort;  // the values of the order by items
  };
  bool Accumulate(const std::string& key, const Object& fields, Group* g, std::string* error,
                  const TextOracle* text);
  // The value of aggregate i for group g; false with *error when a sum does not fit.
  bool Result(size_t i, const Group& g, Value* out, std::string* error) const;
  bool Finish(const Group& g, bool* keep, Out* out, std::string* error) const;
  // The order of two answer rows by their order by values and group values (< 0: a first).
  int Compare(const std::vector<Value>& sort_a, const std::vector<Value>& keys_a,
              const std::vector<Value>& sort_b, const std::vector<Value>& keys_b) const;

  const Query& q_;
  size_t max_groups_;
  std::map<std::string, Group> groups_;  // by the encoding of the group's key values
};

}  // namespace query_detail
}  // namespace projd

#endif  // PROJD_ENGINE_QUERY_GROUP_H_
