// A compiled query of the query language (SPEC §5): `from VIEW [as of T] [where EXPR]
// [select ITEMS] [order by FIELD [asc|desc], ...] [limit N]`, clauses in any order.
// How it is run (key, index or scan) is the engine's business.
#ifndef PROJD_DSL_QUERY_H_
#define PROJD_DSL_QUERY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dsl/program.h"

namespace projd {

struct Query {
  std::string view;
  std::shared_ptr<const Projection> projection;
  bool has_as_of = false;
  int64_t as_of_ms = 0;
  bool has_where = false;
  ExprNode where;
  struct SelectItem {
    std::string label;  // the item's source text, e.g. "sum(balance)" or "owner"
    ExprNode expr;      // for an aggregate: its argument (unused for count())
    ExprNode::Func aggregate = ExprNode::Func::kNone;  // kCount, kSum, kMin, kMax, kAvg
  };
  std::vector<SelectItem> select;  // empty: whole rows
  bool aggregates = false;         // the select list holds aggregates (then only aggregates)
  struct Order {
    std::string field;  // "key" for the key
    bool descending = false;
  };
  std::vector<Order> order;
  int64_t limit = -1;  // -1: none given
};

}  // namespace projd

#endif  // PROJD_DSL_QUERY_H_
