// The route table (see api_routes.h). Each entry's operation is the OpenAPI description of the
// endpoint; tests/integration/routes_test.cc walks the table against the live server.
#include "api/api_routes.h"

#include <string_view>

#include "api/daemon_api.h"

namespace projd {
namespace {

// Parameters shared by every view-bound route.
#define PROJD_WAIT_PARAMS \
  R"j({"$ref": "#/components/parameters/min_position"}, {"$ref": "#/components/parameters/wait_ms"})j"
#define PROJD_POSITION_HEADER \
  R"j("headers": {"X-Projd-Position": {"$ref": "#/components/headers/Position"}})j"
#define PROJD_ERRORS(...) R"j("400": {"$ref": "#/components/responses/BadRequest"}, )j" __VA_ARGS__

Route* AddRoute(std::vector<Route>* r, const char* method, const char* pattern, Access access,
                RouteHandler handler, const char* operation) {
  Route route;
  route.method = method;
  route.pattern = pattern;
  route.access = access;
  route.handler = handler;
  route.operation = operation;
  r->push_back(route);
  return &r->back();
}

// The routes that read a whole view at one position: its checksum and its snapshot.
void AddWholeViewRoutes(std::vector<Route>* r) {
  auto add = [r](const char* method, const char* pattern, Access access, RouteHandler handler,
                 const char* operation) {
    return AddRoute(r, method, pattern, access, handler, operation);
  };
  Route* route;
  // clang-format off
  route = add("GET", "/v1/views/{view}/checksum", Access::kReader, &DaemonApi::Checksum,
              R"j({"summary": "A SHA-256 digest of every row in key order (canonical form: the key as a JSON string, a newline, the row as compact JSON with sorted members, a newline), with the position it was read at",
        "parameters": [)j" PROJD_WAIT_PARAMS R"j(],
        "responses": {"200": {"description": "checksum", )j" PROJD_POSITION_HEADER R"j(, "content": {"application/json": {"schema": {"type": "object", "required": ["position", "rows", "digest", "definition_hash"], "properties": {"position": {"type": "string"}, "rows": {"type": "integer"}, "digest": {"type": "string", "pattern": "^[0-9a-f]{64}$"}, "definition_hash": {"type": "string"}}}}}},
          )j" PROJD_ERRORS(R"j("404": {"$ref": "#/components/responses/NotFound"}, "500": {"description": "the store could not be read", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}, "503": {"$ref": "#/components/responses/Busy"}, "504": {"$ref": "#/components/responses/Timeout"}}})j"));
  route->view_bound = route->long_work = true;
  route = add("GET", "/v1/views/{view}/snapshot", Access::kAdmin, &DaemonApi::Snapshot,
              R"j({"summary": "A consistent, compacted copy of the view's LMDB store (data.mdb), for projctl restore",
        "parameters": [)j" PROJD_WAIT_PARAMS R"j(],
        "responses": {"200": {"description": "the store file", "headers": {"X-Projd-Position": {"$ref": "#/components/headers/Position"}, "X-Projd-Definition-Hash": {"description": "the definition hash stored in the copy", "schema": {"type": "string"}}}, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
          )j" PROJD_ERRORS(R"j("404": {"$ref": "#/components/responses/NotFound"}, "500": {"description": "the copy failed", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}, "503": {"$ref": "#/components/responses/Busy"}, "504": {"$ref": "#/components/responses/Timeout"}}})j"));
  route->view_bound = route->long_work = true;
  // clang-format on
}

std::vector<Route> MakeRoutes() {
  std::vector<Route> r;
  auto add = [&r](const char* method, const char* pattern, Access access, RouteHandler handler,
                  const char* operation) {
    return AddRoute(&r, method, pattern, access, handler, operation);
  };
  // The operations are JSON in raw strings, spliced with the macros above: clang-format would
  // break them at each splice, so the table keeps its own layout (one operation per entry).
  // clang-format off
  add("GET", "/", Access::kPublic, &DaemonApi::Dashboard,
      R"j({"summary": "The operator dashboard (HTML)", "responses": {
        "200": {"description": "the dashboard page", "content": {"text/html": {"schema": {"type": "string"}}}}, "401": {"description": "with --auth, a request without a valid token: the same page (it holds no data and asks for a token), with WWW-Authenticate", "content": {"text/html": {"schema": {"type": "string"}}}},
        "503": {"description": "this projd was built without its dashboard (node or npm missing); the API works", "content": {"text/html": {"schema": {"type": "string"}}}}}})j");
  add("HEAD", "/", Access::kPublic, &DaemonApi::Dashboard,
      R"j({"summary": "The dashboard page's headers", "responses": {
        "200": {"description": "the dashboard page (no body)"}, "401": {"description": "with --auth, a request without a valid token"},
        "503": {"description": "this projd was built without its dashboard"}}})j");
  add("GET", "/healthz", Access::kPublic, &DaemonApi::Healthz,
      R"j({"summary": "Liveness (no token needed)", "responses": {
        "200": {"description": "alive", "content": {"application/json": {"schema": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string", "enum": ["ok"]}}}}}}}})j");
  add("GET", "/readyz", Access::kPublic, &DaemonApi::Readyz,
      R"j({"summary": "Readiness: every view loaded and past its initial catch-up, whatever the caller may read (no token needed; the names listed are those the token may read)", "responses": {
        "200": {"description": "ready", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Readiness"}}}},
        "503": {"description": "not ready", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Readiness"}}}}}})j");
  add("GET", "/metrics", Access::kMetrics, &DaemonApi::Metrics,
      R"j({"summary": "Prometheus metrics (every view's, whatever views other tokens are limited to)", "responses": {
        "200": {"description": "text format 0.0.4", "content": {"text/plain": {"schema": {"type": "string"}}}}}})j");
  add("GET", "/openapi.json", Access::kReader, &DaemonApi::OpenApi,
      R"j({"summary": "This document", "responses": {
        "200": {"description": "OpenAPI 3", "content": {"application/json": {"schema": {"type": "object", "required": ["openapi", "paths"]}}}}}})j");
  add("GET", "/v1/views", Access::kReader, &DaemonApi::ListViews,
      R"j({"summary": "Every view (that the token may read) with its state, rows and lag", "responses": {
        "200": {"description": "views", "content": {"application/json": {"schema": {"type": "object", "required": ["views"], "properties": {"views": {"type": "array", "items": {"$ref": "#/components/schemas/ViewStatus"}}}}}}}}})j");
  Route* route;
  route = add("GET", "/v1/views/{view}", Access::kReader, &DaemonApi::ViewDetail,
              R"j({"summary": "One view: status, definition, partitions with positions and lags",
        "parameters": [)j" PROJD_WAIT_PARAMS R"j(],
        "responses": {"200": {"description": "status", )j" PROJD_POSITION_HEADER R"j(, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ViewDetail"}}}},
          )j" PROJD_ERRORS(R"j("404": {"$ref": "#/components/responses/NotFound"}, "504": {"$ref": "#/components/responses/Timeout"}}})j"));
  route->view_bound = true;
  add("DELETE", "/v1/views/{view}", Access::kAdmin, &DaemonApi::DropView,
      R"j({"summary": "Drop the kept data of a view whose projection was removed",
        "responses": {"200": {"description": "dropped", "content": {"application/json": {"schema": {"type": "object", "required": ["dropped"], "properties": {"dropped": {"type": "string"}}}}}},
          "404": {"$ref": "#/components/responses/NotFound"}, "409": {"$ref": "#/components/responses/Conflict"}}})j");
  route = add("GET", "/v1/views/{view}/rows", Access::kReader, &DaemonApi::Rows,
              R"j({"summary": "Rows in key order, paginated",
        "parameters": [{"name": "prefix", "in": "query", "schema": {"type": "string"}}, {"name": "start", "in": "query", "schema": {"type": "string"}}, {"name": "end", "in": "query", "schema": {"type": "string"}}, {"$ref": "#/components/parameters/limit"},
          {"name": "cursor", "in": "query", "description": "next_cursor of the previous page", "schema": {"type": "string", "pattern": "^([0-9a-f]{2})*$"}},
          )j" PROJD_WAIT_PARAMS R"j(],
        "responses": {"200": {"description": "rows", )j" PROJD_POSITION_HEADER R"j(, "content": {"application/json": {"schema": {"type": "object", "required": ["rows", "next_cursor"], "properties": {"rows": {"type": "array", "items": {"$ref": "#/components/schemas/Row"}}, "next_cursor": {"type": "string", "nullable": true}}}}}},
          )j" PROJD_ERRORS(R"j("404": {"$ref": "#/components/responses/NotFound"}, "503": {"$ref": "#/components/responses/Busy"}, "504": {"$ref": "#/components/responses/Timeout"}}})j"));
  route->view_bound = route->long_work = route->timed_read = true;
  route = add("GET", "/v1/views/{view}/rows/{key}", Access::kReader, &DaemonApi::Row,
              R"j({"summary": "One row; with as_of, the row as it was after the last event with event time at or before it (needs history)",
        "parameters": [{"name": "as_of", "in": "query", "schema": {"type": "string", "format": "date-time"}}, )j" PROJD_WAIT_PARAMS R"j(],
        "responses": {"200": {"description": "row", )j" PROJD_POSITION_HEADER R"j(, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Row"}}}},
          )j" PROJD_ERRORS(R"j("404": {"$ref": "#/components/responses/NotFound"}, "503": {"$ref": "#/components/responses/Busy"}, "504": {"$ref": "#/components/responses/Timeout"}}})j"));
  // A point read stays on the I/O thread; an as-of read walks the row's history.
  route->view_bound = route->timed_read = true;
  route->long_work_with = "as_of";
  route = add("GET", "/v1/views/{view}/rows/{key}/history", Access::kReader, &DaemonApi::RowHistory,
              R"j({"summary": "Every kept version of a row, oldest first, with the event that made it (needs history); with format=csv, the whole history as one CSV file for auditors",
        "parameters": [{"$ref": "#/components/parameters/limit"}, {"$ref": "#/components/parameters/seq_cursor"}, {"name": "format", "in": "query", "description": "json (the default): pages of versions; csv: every version (at most limit, when given; cursor is ignored) as RFC 4180 CSV with CRLF line ends: version, event_time, topic, partition, offset, event_id, deleted, audit.NAME per audit value, then the row's fields (audit names and field names each the union over the versions, sorted); numbers as exact decimals", "schema": {"type": "string", "enum": ["json", "csv"]}}, )j" PROJD_WAIT_PARAMS R"j(],
        "responses": {"200": {"description": "versions", "headers": {"X-Projd-Position": {"$ref": "#/components/headers/Position"}, "Content-Disposition": {"description": "with format=csv: attachment; filename=\"VIEW-KEY-history.csv\"", "schema": {"type": "string"}}}, "content": {"application/json": {"schema": {"type": "object", "required": ["key", "versions", "next_cursor"], "properties": {"key": {"type": "string"}, "versions": {"type": "array", "items": {"$ref": "#/components/schemas/RowVersion"}}, "next_cursor": {"type": "string", "nullable": true}}}}, "text/csv": {"schema": {"type": "string"}}}},
          )j" PROJD_ERRORS(R"j("404": {"$ref": "#/components/responses/NotFound"}, "503": {"$ref": "#/components/responses/Busy"}, "504": {"$ref": "#/components/responses/Timeout"}}})j"));
  route->view_bound = route->long_work = route->timed_read = true;
  route = add("GET", "/v1/views/{view}/dead-letters", Access::kReader, &DaemonApi::DeadLetters,
              R"j({"summary": "Rejected events, paginated", "parameters": [{"$ref": "#/components/parameters/limit"}, {"$ref": "#/components/parameters/seq_cursor"}, )j" PROJD_WAIT_PARAMS R"j(],
        "responses": {"200": {"description": "dead letters", )j" PROJD_POSITION_HEADER R"j(, "content": {"application/json": {"schema": {"type": "object", "required": ["dead_letters", "total", "next_cursor"], "properties": {"dead_letters": {"type": "array", "items": {"$ref": "#/components/schemas/DeadLetter"}}, "total": {"type": "integer"}, "next_cursor": {"type": "string", "nullable": true}}}}}},
          )j" PROJD_ERRORS(R"j("404": {"$ref": "#/components/responses/NotFound"}, "503": {"$ref": "#/components/responses/Busy"}, "504": {"$ref": "#/components/responses/Timeout"}}})j"));
  route->view_bound = route->long_work = true;
  route = add("GET", "/v1/views/{view}/changes", Access::kReader, &DaemonApi::Changes,
              R"j({"summary": "The view's changes as they are applied, streamed until the client closes: Server-Sent Events when Accept asks for text/event-stream, else NDJSON. Each change is sent once durable, in apply order; resuming from a change's position (from= or Last-Event-ID) sends every later change exactly once. Heartbeats every 15 s (an SSE comment; NDJSON {\"heartbeat\": POSITION}); a client that reads too slowly is cut off with {\"error\": \"slow consumer\", \"position\": P}; a rebuild with a changed definition ends the stream with {\"rebuilt\": HASH, \"position\": P}",
        "parameters": [
          {"name": "from", "in": "query", "description": "where to start: a position (a change's position, or X-Projd-Position), now (the default) or earliest (the oldest change kept); empty: the empty position, before every partition's first event", "schema": {"type": "string"}},
          {"name": "Last-Event-ID", "in": "header", "description": "an EventSource reconnecting: the last change's position; wins over from", "schema": {"type": "string"}},
          {"name": "where", "in": "query", "description": "only changes whose row (before the change, for a deletion) matches this query expression", "schema": {"type": "string"}},
          {"name": "key", "in": "query", "description": "only the changes of this row", "schema": {"type": "string"}},
          )j" PROJD_WAIT_PARAMS R"j(],
        "responses": {"200": {"description": "the stream", "headers": {"X-Projd-Position": {"$ref": "#/components/headers/Position"}, "X-Projd-Feed-Position": {"description": "where the stream starts: resuming from this position misses nothing, even before the first change", "schema": {"type": "string"}}}, "content": {"application/x-ndjson": {"schema": {"$ref": "#/components/schemas/Change"}}, "text/event-stream": {"schema": {"type": "string", "description": "events whose id is the change's position and whose data is a Change"}}}},
          )j" PROJD_ERRORS(R"j("404": {"$ref": "#/components/responses/NotFound"}, "410": {"description": "the position asks for changes no longer kept; detail.oldest is the oldest position to resume from", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}, "500": {"description": "the change log could not be read", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}, "503": {"description": "--max-subscribers streams are open (Retry-After)", "headers": {"Retry-After": {"schema": {"type": "integer"}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}, "504": {"$ref": "#/components/responses/Timeout"}}})j"));
  route->view_bound = true;
  route = add("POST", "/v1/views/{view}/skip", Access::kAdmin, &DaemonApi::Skip,
              R"j({"summary": "Move a view stopped by errors stop past the failing event, which becomes a dead letter",
        "parameters": [)j" PROJD_WAIT_PARAMS R"j(],
        "responses": {"202": {"description": "skipped", )j" PROJD_POSITION_HEADER R"j(, "content": {"application/json": {"schema": {"type": "object", "required": ["skipped"], "properties": {"skipped": {"type": "boolean"}}}}}},
          )j" PROJD_ERRORS(R"j("404": {"$ref": "#/components/responses/NotFound"}, "409": {"$ref": "#/components/responses/Conflict"}, "504": {"$ref": "#/components/responses/Timeout"}}})j"));
  route->view_bound = true;
  route = add("POST", "/v1/views/{view}/rebuild", Access::kAdmin, &DaemonApi::Rebuild,
              R"j({"summary": "Rebuild from offset zero in a shadow store; the view serves until the rebuilt one has caught up, then they swap. With --archive, offsets below a topic's log start come from the archive",
        "parameters": [{"name": "allow_gap", "in": "query", "description": "rebuild even when retention deleted the start of a topic's log and the archive does not hold it (else 409 with detail.first_offsets and detail.missing, the offsets neither holds)", "schema": {"type": "boolean"}}, )j" PROJD_WAIT_PARAMS R"j(],
        "responses": {"202": {"description": "started", )j" PROJD_POSITION_HEADER R"j(, "content": {"application/json": {"schema": {"type": "object", "required": ["rebuild", "view"], "properties": {"rebuild": {"type": "string", "enum": ["started"]}, "view": {"type": "string"}}}}}},
          )j" PROJD_ERRORS(R"j("404": {"$ref": "#/components/responses/NotFound"}, "409": {"$ref": "#/components/responses/Conflict"}, "504": {"$ref": "#/components/responses/Timeout"}}})j"));
  route->view_bound = route->long_work = true;  // long: the archive check reads objects
  route = add("GET", "/v1/views/{view}/lag", Access::kReader, &DaemonApi::Lag,
              R"j({"summary": "Lag samples kept in memory (one a second, the last hour): what the dashboard charts",
        "parameters": [{"name": "window", "in": "query", "description": "how far back: 90s, 15m, 1h, 1d or seconds (default 15m; a window past the hour kept answers that hour)", "schema": {"type": "string", "pattern": "^[0-9]{1,6}[smhd]?$", "example": "15m"}}, )j" PROJD_WAIT_PARAMS R"j(],
        "responses": {"200": {"description": "samples, oldest first", )j" PROJD_POSITION_HEADER R"j(, "content": {"application/json": {"schema": {"type": "object", "required": ["view", "window_seconds", "samples"], "properties": {"view": {"type": "string"}, "window_seconds": {"type": "integer"}, "samples": {"type": "array", "items": {"$ref": "#/components/schemas/LagSample"}}}}}}},
          )j" PROJD_ERRORS(R"j("404": {"$ref": "#/components/responses/NotFound"}, "504": {"$ref": "#/components/responses/Timeout"}}})j"));
  route->view_bound = true;
  route = add("GET", "/v1/correlations/{id}", Access::kReader, &DaemonApi::Correlations,
              R"j({"summary": "Every change that events of one command made (projections with a correlation clause), across every view the token may read, in the order they were applied (time of apply, then view, then the view's order)",
        "parameters": [{"$ref": "#/components/parameters/limit"}, {"name": "cursor", "in": "query", "description": "next_cursor of the previous answer", "schema": {"type": "string", "pattern": "^[0-9]{1,18}\\.[0-9]{1,20}\\..+$"}}, )j" PROJD_WAIT_PARAMS R"j(],
        "responses": {"200": {"description": "changes, oldest first", "content": {"application/json": {"schema": {"type": "object", "required": ["correlation", "changes", "next_cursor"], "properties": {"correlation": {"type": "string"}, "changes": {"type": "array", "items": {"type": "object", "required": ["view", "key", "version", "updated_by", "deleted"], "properties": {"view": {"type": "string"}, "key": {"type": "string"}, "version": {"type": "integer"}, "deleted": {"type": "boolean"}, "updated_by": {"$ref": "#/components/schemas/Provenance"}, "row": {"type": "object", "nullable": true, "description": "the row after the change, for views that keep history"}}}}, "next_cursor": {"type": "string", "nullable": true}}}}}},
          "400": {"$ref": "#/components/responses/BadRequest"}, "500": {"description": "a correlation index could not be read", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}, "503": {"$ref": "#/components/responses/Busy"}, "504": {"$ref": "#/components/responses/Timeout"}}})j");
  route->long_work = true;
  route = add("GET", "/v1/query", Access::kReader, &DaemonApi::Query,
              R"j({"summary": "Run a query", "parameters": [{"name": "q", "in": "query", "required": true, "schema": {"type": "string"}, "example": "from account_balance where balance > 100 limit 10"}, {"name": "cursor", "in": "query", "description": "next_cursor of the previous answer", "schema": {"type": "string"}}, )j" PROJD_WAIT_PARAMS R"j(],
        "responses": {"200": {"description": "answer", )j" PROJD_POSITION_HEADER R"j(, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/QueryAnswer"}}}},
          "400": {"$ref": "#/components/responses/BadQuery"}, "404": {"$ref": "#/components/responses/NotFound"}, "503": {"$ref": "#/components/responses/Busy"}, "504": {"$ref": "#/components/responses/Timeout"}}})j");
  route->long_work = route->try_inline = true;
  route = add("POST", "/v1/query", Access::kReader, &DaemonApi::Query,
              R"j({"summary": "Run a query (the body is the query text)", "parameters": [{"name": "cursor", "in": "query", "description": "next_cursor of the previous answer", "schema": {"type": "string"}}, )j" PROJD_WAIT_PARAMS R"j(],
        "requestBody": {"required": true, "content": {"text/plain": {"schema": {"type": "string"}, "example": "from account_balance select count(), sum(balance)"}}},
        "responses": {"200": {"description": "answer", )j" PROJD_POSITION_HEADER R"j(, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/QueryAnswer"}}}},
          "400": {"$ref": "#/components/responses/BadQuery"}, "404": {"$ref": "#/components/responses/NotFound"}, "503": {"$ref": "#/components/responses/Busy"}, "504": {"$ref": "#/components/responses/Timeout"}}})j");
  route->long_work = route->try_inline = true;
  // clang-format on
  AddWholeViewRoutes(&r);
  return r;
}

#undef PROJD_WAIT_PARAMS
#undef PROJD_POSITION_HEADER
#undef PROJD_ERRORS

std::vector<std::string> Segments(const std::string& pattern) {
  std::vector<std::string> out;
  size_t i = 1;
  while (i <= pattern.size() && pattern.size() > 1) {
    size_t slash = pattern.find('/', i);
    if (slash == std::string::npos) slash = pattern.size();
    out.push_back(pattern.substr(i, slash - i));
    i = slash + 1;
  }
  return out;
}

bool IsParameter(const std::string& segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

struct CompiledRoutes {
  std::vector<Route> routes;
  std::vector<std::vector<std::string>> segments;
};

const CompiledRoutes& Compiled() {
  static const CompiledRoutes compiled = [] {
    CompiledRoutes c;
    c.routes = MakeRoutes();
    for (const auto& r : c.routes) c.segments.push_back(Segments(r.pattern));
    return c;
  }();
  return compiled;
}

}  // namespace

bool RoleMayCall(Role role, Access access) {
  switch (access) {
    case Access::kPublic:
      return true;
    case Access::kMetrics:
      return role == Role::kAdmin || role == Role::kMetrics;
    case Access::kReader:
      return role == Role::kAdmin || role == Role::kReader;
    case Access::kAdmin:
      return role == Role::kAdmin;
  }
  return false;
}

const char* AccessName(Access access) {
  switch (access) {
    case Access::kPublic:
      return "public";
    case Access::kMetrics:
      return "metrics";
    case Access::kReader:
      return "reader";
    case Access::kAdmin:
      return "admin";
  }
  return "?";
}

const std::vector<Route>& ApiRoutes() { return Compiled().routes; }

int MatchRoute(const std::string& method, const std::vector<std::string>& segments,
               std::vector<std::string>* params, bool* path_known, std::string* allow,
               int* path_route) {
  const CompiledRoutes& c = Compiled();
  *path_known = false;
  if (path_route) *path_route = -1;
  allow->clear();
  // HEAD is GET without the body (RFC 9110 section 9.3.2): a path with a GET route and no HEAD
  // route of its own answers HEAD with that GET route (the server sends the head only).
  int found = -1, get = -1;
  bool has_head = false;
  size_t after_get = 0;  // where ", HEAD" goes in *allow then
  for (size_t i = 0; i < c.routes.size(); ++i) {
    const auto& pattern = c.segments[i];
    if (pattern.size() != segments.size()) continue;
    bool match = true;
    for (size_t s = 0; s < pattern.size() && match; ++s) {
      match = IsParameter(pattern[s]) ? !segments[s].empty() : pattern[s] == segments[s];
    }
    if (!match) continue;
    if (!*path_known && path_route) *path_route = static_cast<int>(i);
    *path_known = true;
    std::string_view route_method = c.routes[i].method;
    if (!allow->empty()) *allow += ", ";
    *allow += route_method;
    has_head = has_head || route_method == "HEAD";
    if (get < 0 && route_method == "GET") {
      get = static_cast<int>(i);
      after_get = allow->size();
    }
    if (found < 0 && method == route_method) found = static_cast<int>(i);
  }
  if (get >= 0 && !has_head) {
    allow->insert(after_get, ", HEAD");
    if (found < 0 && method == "HEAD") found = get;
  }
  if (found >= 0) {
    params->clear();
    const auto& pattern = c.segments[static_cast<size_t>(found)];
    for (size_t s = 0; s < pattern.size(); ++s) {
      if (IsParameter(pattern[s])) params->push_back(segments[s]);
    }
  }
  return found;
}

std::vector<std::string> PatternParameters(const std::string& pattern) {
  std::vector<std::string> out;
  for (const auto& s : Segments(pattern)) {
    if (IsParameter(s)) out.push_back(s.substr(1, s.size() - 2));
  }
  return out;
}

}  // namespace projd
