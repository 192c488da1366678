// The OpenAPI 3 document of projd's HTTP API, served at GET /openapi.json: the shared
// components below, and one operation per route of the route table (api_routes.cc), with the
// path parameters, the 401/403 answers and `security` derived from each route's pattern and
// access. Tests keep it true: the integration tests call every path and method listed, walk
// the route table against it, and tests/api runs Schemathesis over it against a live projd
// (every answer must be one this document describes: status, content type, body, headers).
#include "api/openapi.h"

#include <map>
#include <string>

#include "api/api_routes.h"
#include "engine/view.h"

namespace projd {
namespace {

const char kHead[] = R"json({
  "openapi": "3.0.3",
  "info": {
    "title": "projd",
    "version": "0.1.0",
    "description": "Read models (views) kept by projd from Kafka event streams. Every response about a view carries X-Projd-Position: TOPIC:PARTITION:OFFSET,... (the next offset to apply per partition). Errors are {\"error\": \"...\", \"detail\": ...}. With --auth every call needs Authorization: Bearer TOKEN (401 without a valid one, 403 when the token's role may not)."
  },
  "components": {
    "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    "parameters": {
      "view": {"name": "view", "in": "path", "required": true, "schema": {"type": "string", "minLength": 1}},
      "key": {"name": "key", "in": "path", "required": true, "schema": {"type": "string", "minLength": 1}},
      "id": {"name": "id", "in": "path", "required": true, "description": "a correlation id, as the correlation clause computed it", "schema": {"type": "string", "minLength": 1}},
      "limit": {"name": "limit", "in": "query", "description": "At most this many items (0 counts as 1, any whole number above 1000 as 1000); default 100", "schema": {"type": "integer", "minimum": 0}},
      "seq_cursor": {"name": "cursor", "in": "query", "description": "next_cursor of the previous page", "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"}},
      "min_position": {"name": "min_position", "in": "query", "description": "TOPIC:PARTITION:OFFSET,...: answer once the view applied every offset below these (also as header X-Projd-Min-Position; every parameter and header field counts, a partition named more than once with its largest offset; empty: no wait); 504 when wait_ms runs out first, and at once for an offset above 0 on a topic the view does not consume; 400 when malformed", "schema": {"type": "string", "pattern": "^([^,]+:[0-9]{1,9}:[0-9]{1,18}(,[^,]+:[0-9]{1,9}:[0-9]{1,18})*)?$"}},
      "wait_ms": {"name": "wait_ms", "in": "query", "description": "How long to wait for min_position, in ms (any whole number above 60000 counts as 60000); checked also without min_position", "schema": {"type": "integer", "minimum": 0, "default": 5000}}
    },
    "headers": {
      "Position": {"description": "The view's applied position: TOPIC:PARTITION:OFFSET,... (next offset to apply per partition)", "required": true, "schema": {"type": "string"}}
    },
    "schemas": {
      "Error": {"type": "object", "required": ["error", "detail"], "properties": {"error": {"type": "string"}, "detail": {"nullable": true}}},
      "QueryError": {"type": "object", "required": ["error", "detail"], "properties": {"error": {"type": "string"}, "detail": {"nullable": true, "oneOf": [
        {"type": "object", "description": "a query that does not compile: where and why", "required": ["line", "column", "message", "text"], "properties": {"line": {"type": "integer", "minimum": 1}, "column": {"type": "integer", "minimum": 1}, "message": {"type": "string"}, "text": {"type": "string"}}},
        {"type": "string"}]}}},
      "Provenance": {"type": "object", "required": ["topic", "partition", "offset", "event_time", "event_id"], "properties": {
        "topic": {"type": "string"}, "partition": {"type": "integer"}, "offset": {"type": "integer"},
        "event_time": {"type": "string", "format": "date-time"}, "event_id": {"type": "string", "nullable": true},
        "audit": {"type": "object", "description": "the projection's audit values for the event (audit clause)"},
        "correlation": {"type": "string", "description": "the command the event came from (correlation clause)"}}},
      "Row": {"type": "object", "required": ["key", "row", "version", "updated_by"], "properties": {
        "key": {"type": "string"}, "row": {"type": "object"}, "version": {"type": "integer"},
        "updated_by": {"$ref": "#/components/schemas/Provenance"},
        "dead_letters": {"type": "integer", "description": "rejected events that carried this key"},
        "as_of": {"type": "string"}}},
      "Change": {"type": "object", "required": ["key", "row", "version", "updated_by", "position"], "properties": {
        "key": {"type": "string"}, "row": {"type": "object", "nullable": true, "description": "the row after the change; null when the change deleted it"},
        "version": {"type": "integer", "description": "0 for a deletion"},
        "updated_by": {"$ref": "#/components/schemas/Provenance"},
        "position": {"type": "string", "description": "the view's position right after this change: resume with from= or Last-Event-ID, or read with min_position"}}},
      "RowVersion": {"type": "object", "required": ["row", "version", "updated_by", "deleted"], "properties": {
        "row": {"type": "object", "nullable": true}, "version": {"type": "integer"},
        "updated_by": {"$ref": "#/components/schemas/Provenance"}, "deleted": {"type": "boolean"}}},
      "DeadLetter": {"type": "object", "required": ["topic", "partition", "offset", "timestamp", "reason", "key", "event"], "properties": {
        "topic": {"type": "string"}, "partition": {"type": "integer"}, "offset": {"type": "integer"},
        "timestamp": {"type": "string", "format": "date-time"}, "reason": {"type": "string"},
        "key": {"type": "string", "nullable": true}, "event": {"nullable": true, "description": "the event: JSON when it is JSON, else the text (cut to 64 KiB)"}}},
      "Partition": {"type": "object", "required": ["topic", "partition", "position", "high_watermark", "low_watermark", "lag_events", "lag_seconds"], "properties": {
        "topic": {"type": "string"}, "partition": {"type": "integer"}, "position": {"type": "integer"},
        "high_watermark": {"type": "integer", "nullable": true}, "low_watermark": {"type": "integer", "nullable": true},
        "lag_events": {"type": "integer"}, "lag_seconds": {"type": "number"}}},
      "ViewStatus": {"type": "object", "required": ["name", "state", "reason", "rows", "lag_events", "lag_seconds", "events_per_second", "definition_hash", "position", "events_applied", "events_skipped", "dead_letters", "last_update", "rebuild"], "properties": {
        "name": {"type": "string"},
        "state": {"type": "string", "enum": [@VIEW_STATES@]},
        "reason": {"type": "string", "nullable": true}, "rows": {"type": "integer"},
        "lag_events": {"type": "integer"}, "lag_seconds": {"type": "number"},
        "events_per_second": {"type": "number"}, "definition_hash": {"type": "string"},
        "position": {"type": "string"}, "events_applied": {"type": "integer"},
        "events_skipped": {"type": "integer"}, "dead_letters": {"type": "integer"},
        "last_update": {"type": "string", "format": "date-time", "nullable": true},
        "archive": {"type": "object", "required": ["events", "objects", "bytes"], "description": "with --archive: what this view read from the archive", "properties": {
          "events": {"type": "integer"}, "objects": {"type": "integer"}, "bytes": {"type": "integer"}}},
        "rebuild": {"type": "object", "nullable": true, "required": ["progress", "applied", "remaining", "from_archive", "from_kafka", "events_per_second", "definition_hash"], "properties": {
          "progress": {"type": "number", "minimum": 0, "maximum": 1}, "applied": {"type": "integer"}, "remaining": {"type": "integer"},
          "from_archive": {"type": "integer"}, "from_kafka": {"type": "integer"},
          "events_per_second": {"type": "number"}, "definition_hash": {"type": "string"}}},
        "failed_at": {"type": "object", "properties": {"topic": {"type": "string"}, "partition": {"type": "integer"}, "offset": {"type": "integer"}, "reason": {"type": "string"}, "event": {"nullable": true, "description": "the event the view is held at: JSON when it is JSON, else the text (cut to 64 KiB)"}}}}},
      "ViewDetail": {"allOf": [{"$ref": "#/components/schemas/ViewStatus"}, {"type": "object", "required": ["partitions", "definition", "file", "topics"], "properties": {
        "partitions": {"type": "array", "items": {"$ref": "#/components/schemas/Partition"}},
        "definition": {"type": "string"}, "file": {"type": "string"},
        "topics": {"type": "array", "items": {"type": "string"}}}}]},
      "LagSample": {"type": "object", "required": ["time", "lag_events", "lag_seconds", "events_per_second"], "properties": {
        "time": {"type": "string", "format": "date-time"}, "lag_events": {"type": "integer"},
        "lag_seconds": {"type": "number"}, "events_per_second": {"type": "number"}}},
      "Readiness": {"type": "object", "required": ["ready", "views_not_ready", "waiting_for"], "properties": {"ready": {"type": "boolean"}, "views_not_ready": {"type": "integer", "minimum": 0}, "waiting_for": {"type": "array", "items": {"type": "string"}}, "error": {"type": "string", "description": "with 503: not ready"}, "detail": {"type": "string", "description": "with 503: why"}}},
      "QueryAnswer": {"type": "object", "required": ["rows", "next_cursor", "position", "scanned", "plan"], "properties": {
        "rows": {"type": "array", "items": {"type": "object"}, "description": "{key, row} per row, or the selected values"},
        "next_cursor": {"type": "string", "nullable": true},
        "position": {"type": "string"}, "scanned": {"type": "integer"}, "plan": {"type": "string"},
        "columns": {"type": "array", "nullable": true, "items": {"type": "string"}, "description": "with select: the items in their order, each the key of its value in every row"}}}
    },
    "responses": {
      "BadRequest": {"description": "a bad parameter", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "BadQuery": {"description": "a query that does not compile (with line and column) or fails", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/QueryError"}}}},
      "Unauthorized": {"description": "--auth is on and no valid token was sent", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Forbidden": {"description": "the token's role may not do this, or read this view", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "NotFound": {"description": "no such view (or row)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Conflict": {"description": "the view is not in a state that allows this", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Timeout": {"description": "min_position was not reached within wait_ms; detail.position is the view's position", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Busy": {"description": "the query pool is full: retry later (Retry-After)", "headers": {"Retry-After": {"schema": {"type": "integer"}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    }
  },
  "security": [{"bearer": []}, {}],
  "paths": {)json";

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return s;
}

// One operation: the route's own object, with path parameters, auth answers and security.
std::string Operation(const Route& route) {
  std::string op = route.operation;
  size_t close = op.rfind('}');
  std::string extra;
  std::vector<std::string> params = PatternParameters(route.pattern);
  if (!params.empty()) {
    std::string refs;
    for (const auto& p : params) {
      if (!refs.empty()) refs += ", ";
      refs += "{\"$ref\": \"#/components/parameters/" + p + "\"}";
    }
    size_t at = op.find("\"parameters\": [");
    if (at != std::string::npos) {
      at += std::string("\"parameters\": [").size();
      op.insert(at, refs + ", ");
      close = op.rfind('}');
    } else {
      extra += ", \"parameters\": [" + refs + "]";
    }
  }
  if (route.access == Access::kPublic) extra += ", \"security\": []";
  // The auth answers go into the responses object.
  std::string auth;
  if (route.access != Access::kPublic) {
    auth += "\"401\": {\"$ref\": \"#/components/responses/Unauthorized\"}";
  }
  if (route.access != Access::kPublic) {
    auth += ", \"403\": {\"$ref\": \"#/components/responses/Forbidden\"}";
  }
  if (!auth.empty()) {
    size_t at = op.find("\"responses\": {");
    at += std::string("\"responses\": {").size();
    op.insert(at, auth + ", ");
    close = op.rfind('}');
  }
  op.insert(close, extra);
  return op;
}

std::string Build() {
  // Paths in table order, each with its operations.
  std::vector<std::string> order;
  std::map<std::string, std::string> ops;
  for (const auto& route : ApiRoutes()) {
    std::string& o = ops[route.pattern];
    if (o.empty()) order.push_back(route.pattern);
    if (!o.empty()) o += ",\n      ";
    o += "\"" + Lower(route.method) + "\": " + Operation(route);
  }
  std::string doc = kHead;
  std::string states;
  for (ViewState state : kViewStates) {
    states += std::string(states.empty() ? "" : ", ") + "\"" + ViewStateName(state) + "\"";
  }
  doc.replace(doc.find("@VIEW_STATES@"), 13, states);
  for (size_t i = 0; i < order.size(); ++i) {
    doc +=
        std::string(i ? "," : "") + "\n    \"" + order[i] + "\": {\n      " + ops[order[i]] + "}";
  }
  doc += "\n  }\n}\n";
  return doc;
}

}  // namespace

const char* OpenApiDocument() {
  static const std::string doc = Build();
  return doc.c_str();
}

}  // namespace projd
