// The route table of projd's HTTP API: one entry per method and path pattern, from which
// dispatch, authorization and the OpenAPI document (GET /openapi.json) are all derived. A new
// endpoint is one entry here (its handler in http_api.cc); there is no other list to keep.
//
// Thread-safety: the table is built once and never changes.
#ifndef PROJD_ENGINE_API_ROUTES_H_
#define PROJD_ENGINE_API_ROUTES_H_

#include <string>
#include <vector>

#include "api/auth.h"

namespace projd {

class Daemon;
struct ApiCall;

// Who may call a route (with --auth; without it everyone may).
enum class Access {
  kPublic,   // no token needed: the dashboard page, liveness, readiness
  kMetrics,  // admin and metrics tokens
  kReader,   // admin and reader tokens (a reader limited to views: only those views; the API
             // document and the view list for every reader)
  kAdmin,    // admin tokens only
};

// Whether a token of `role` may call a route of `access` (a reader's view list aside).
bool RoleMayCall(Role role, Access access);
const char* AccessName(Access access);

using RouteHandler = void (*)(Daemon& daemon, ApiCall& call);

struct Route {
  const char* method;   // "GET", "POST", "DELETE", "HEAD"
  const char* pattern;  // "/v1/views/{view}/rows/{key}": literal segments and {parameters}
  Access access;
  RouteHandler handler;
  // Runs on the query pool: its work grows with the data (scans, queries, history pages).
  bool long_work = false;
  // A query parameter that makes a call of this route long work (as_of of a row read).
  const char* long_work_with = nullptr;
  // Long work that first runs on the HTTP thread, bounded (a query that examines at most a
  // few hundred rows), and moves to the query pool itself when it finds it needs more
  // (ApiCall::on_pool): a short query then costs no hand-over between threads.
  bool try_inline = false;
  // Has a {view} that must be loaded (404 otherwise); min_position waits apply and the answer
  // carries X-Projd-Position.
  bool view_bound = false;
  // Counted in projd_query_seconds (reads of rows).
  bool timed_read = false;
  // The OpenAPI operation object (JSON): summary, query parameters, request body, responses.
  // Path parameters, the 401/403 answers and `security` are added from the pattern and access.
  const char* operation = "{}";
};

// The table, in the order routes are matched.
const std::vector<Route>& ApiRoutes();

// The route for a method and path segments (percent-decoded). Returns its index, or -1: then
// *path_known says whether some route has this path (a 405, with *allow listing its methods)
// or none does (a 404). *params gets the path parameters in pattern order. HEAD takes the
// path's GET route when the path has no HEAD route of its own (and *allow lists HEAD then).
// *path_route (when given) gets the first route of the path in table order, the one whose
// method *allow lists first (-1 when no route has this path): a 405 is counted under it.
int MatchRoute(const std::string& method, const std::vector<std::string>& segments,
               std::vector<std::string>* params, bool* path_known, std::string* allow,
               int* path_route = nullptr);

// The parameter names of a pattern, in order ("{view}", "{key}" -> view, key).
std::vector<std::string> PatternParameters(const std::string& pattern);

}  // namespace projd

#endif  // PROJD_ENGINE_API_ROUTES_H_
