// Running a compiled query (dsl/query.h) against a view's store: the planner picks the key,
// a key prefix, a secondary index or a scan; the executor filters, orders, aggregates and
// paginates.
#ifndef PROJD_ENGINE_QUERY_EXEC_H_
#define PROJD_ENGINE_QUERY_EXEC_H_

#include <chrono>
#include <string>

#include "dsl/limits.h"
#include "dsl/query.h"
#include "dsl/value.h"
#include "store/view_store.h"

namespace projd {

struct QueryLimits {
  size_t default_rows = 100;                // rows per page when the query has no limit
  size_t max_rows = kMaxQueryRows;          // rows per page at most
  size_t max_sorted = 200000;               // groups a grouped query may make
  std::chrono::milliseconds budget{10000};  // time a query may take
  // 0: none. Else the query gives up unanswered (answer->gave_up, RunQuery false with no
  // error) once it has examined this many rows, or at once when its plan reads rows it
  // cannot bound (a scan, as-of history, an index range): a bounded first try of a query on
  // a thread that must not wait long, before it goes to the query pool.
  uint64_t give_up_after = 0;
  // 0: none. Else a text plan that decides on its candidates from the text index alone
  // (reading no row before the answer is chosen) and has at most this many candidates (its
  // driving term's rows) does not give up: checking a candidate against the postings costs a
  // fraction of reading and testing a row, so all of them take about as long as give_up_after
  // rows. One with more candidates gives up after give_up_after, as any plan.
  uint64_t give_up_after_checks = 0;
  // 0: as above. Else such a text plan with more candidates (and no key prefix) may examine
  // this many instead of give_up_after, and gives up at once when QueryText::ExpectedChecks
  // says its answer takes this many or more (a try that gave up later would waste its work):
  // for a first try on a thread that has nothing else to do now.
  uint64_t text_give_up_after = 0;
};

struct QueryAnswer {
  Array rows;
  std::string next_cursor;  // empty: no more rows
  uint64_t scanned = 0;     // rows examined
  std::string plan;         // "key", "key prefix", "index FIELD", "text FIELD", "scan", "history"
  bool gave_up = false;     // stopped by QueryLimits::give_up_after(_checks): run it again without
  bool bad_cursor = false;  // RunQuery failed on the cursor (its error says why)
};

// Runs `q` with an opaque `cursor` from a previous answer (or empty). Returns false with
// *error (a message for a 400 answer) when the cursor is bad, a limit is exceeded or a row
// makes an expression fail, and false with answer->gave_up (and no error) when it gave up.
bool RunQuery(const Query& q, ViewStore* store, const std::string& cursor,
              const QueryLimits& limits, QueryAnswer* answer, std::string* error);

}  // namespace projd

#endif  // PROJD_ENGINE_QUERY_EXEC_H_
