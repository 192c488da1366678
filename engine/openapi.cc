// The OpenAPI 3 document of projd's HTTP API, served at GET /openapi.json. Two tests keep it
// true: the integration test "openapi" calls every path and method listed here, and
// tests/api runs Schemathesis over it against a live projd (every answer must be one this
// document describes: status, content type, body schema, headers).
#include "engine/openapi.h"

namespace projd {

const char* OpenApiDocument() {
  return R"json({
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
      "limit": {"name": "limit", "in": "query", "description": "At most this many items (0 counts as 1, above 1000 as 1000); default 100", "schema": {"type": "integer", "minimum": 0, "maximum": 999999999}},
      "seq_cursor": {"name": "cursor", "in": "query", "description": "next_cursor of the previous page", "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"}},
      "min_position": {"name": "min_position", "in": "query", "description": "TOPIC:PARTITION:OFFSET,...: answer once the view applied every offset below these (also as header X-Projd-Min-Position; empty: no wait); 504 when wait_ms runs out first", "schema": {"type": "string", "pattern": "^([^,]+:[0-9]{1,9}:[0-9]{1,18}(,[^,]+:[0-9]{1,9}:[0-9]{1,18})*)?$"}},
      "wait_ms": {"name": "wait_ms", "in": "query", "description": "How long to wait for min_position, in ms (above 60000 counts as 60000)", "schema": {"type": "integer", "minimum": 0, "maximum": 999999999, "default": 5000}}
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
        "event_time": {"type": "string", "format": "date-time"}, "event_id": {"type": "string", "nullable": true}}},
      "Row": {"type": "object", "required": ["key", "row", "version", "updated_by"], "properties": {
        "key": {"type": "string"}, "row": {"type": "object"}, "version": {"type": "integer"},
        "updated_by": {"$ref": "#/components/schemas/Provenance"},
        "dead_letters": {"type": "integer", "description": "rejected events that carried this key"},
        "as_of": {"type": "string"}}},
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
        "state": {"type": "string", "enum": ["live", "catching_up", "rebuilding", "lagging", "stalled", "stopped", "failed"]},
        "reason": {"type": "string", "nullable": true}, "rows": {"type": "integer"},
        "lag_events": {"type": "integer"}, "lag_seconds": {"type": "number"},
        "events_per_second": {"type": "number"}, "definition_hash": {"type": "string"},
        "position": {"type": "string"}, "events_applied": {"type": "integer"},
        "events_skipped": {"type": "integer"}, "dead_letters": {"type": "integer"},
        "last_update": {"type": "string", "format": "date-time", "nullable": true},
        "rebuild": {"type": "object", "nullable": true, "required": ["progress", "applied", "remaining", "events_per_second", "definition_hash"], "properties": {
          "progress": {"type": "number", "minimum": 0, "maximum": 1}, "applied": {"type": "integer"}, "remaining": {"type": "integer"},
          "events_per_second": {"type": "number"}, "definition_hash": {"type": "string"}}},
        "failed_at": {"type": "object", "properties": {"topic": {"type": "string"}, "partition": {"type": "integer"}, "offset": {"type": "integer"}, "reason": {"type": "string"}}}}},
      "ViewDetail": {"allOf": [{"$ref": "#/components/schemas/ViewStatus"}, {"type": "object", "required": ["partitions", "definition", "file", "topics"], "properties": {
        "partitions": {"type": "array", "items": {"$ref": "#/components/schemas/Partition"}},
        "definition": {"type": "string"}, "file": {"type": "string"},
        "topics": {"type": "array", "items": {"type": "string"}}}}]},
      "LagSample": {"type": "object", "required": ["time", "lag_events", "lag_seconds", "events_per_second"], "properties": {
        "time": {"type": "string", "format": "date-time"}, "lag_events": {"type": "integer"},
        "lag_seconds": {"type": "number"}, "events_per_second": {"type": "number"}}},
      "Readiness": {"type": "object", "required": ["ready", "views_not_ready", "waiting_for"], "properties": {"ready": {"type": "boolean"}, "views_not_ready": {"type": "integer", "minimum": 0}, "waiting_for": {"type": "array", "items": {"type": "string"}}}},
      "QueryAnswer": {"type": "object", "required": ["rows", "next_cursor", "position", "scanned", "plan"], "properties": {
        "rows": {"type": "array", "items": {"type": "object"}, "description": "{key, row} per row, or the selected values"},
        "next_cursor": {"type": "string", "nullable": true},
        "position": {"type": "string"}, "scanned": {"type": "integer"}, "plan": {"type": "string"}}}
    },
    "responses": {
      "BadRequest": {"description": "a bad parameter", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "BadQuery": {"description": "a query that does not compile (with line and column) or fails", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/QueryError"}}}},
      "Unauthorized": {"description": "--auth is on and no valid token was sent", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Forbidden": {"description": "the token's role may not do this, or read this view", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "NotFound": {"description": "no such view (or row)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Conflict": {"description": "the view is not in a state that allows this", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Timeout": {"description": "min_position was not reached within wait_ms; detail.position is the view's position", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    }
  },
  "security": [{"bearer": []}, {}],
  "paths": {
    "/": {"get": {"summary": "The operator dashboard (HTML)", "security": [],
      "responses": {"200": {"description": "the dashboard page", "content": {"text/html": {"schema": {"type": "string"}}}},
        "503": {"description": "this projd was built without its dashboard (node or npm missing); the API works", "content": {"text/html": {"schema": {"type": "string"}}}}}}},
    "/healthz": {"get": {"summary": "Liveness (no token needed)", "security": [], "responses": {
      "200": {"description": "alive", "content": {"application/json": {"schema": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string", "enum": ["ok"]}}}}}}}}},
    "/readyz": {"get": {"summary": "Readiness: every view loaded and past its initial catch-up, whatever the caller may read (no token needed; the names listed are those the token may read)", "security": [], "responses": {
      "200": {"description": "ready", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Readiness"}}}},
      "503": {"description": "not ready", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Readiness"}}}}}}},
    "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {
      "200": {"description": "text format 0.0.4", "content": {"text/plain": {"schema": {"type": "string"}}}},
      "401": {"$ref": "#/components/responses/Unauthorized"}, "403": {"$ref": "#/components/responses/Forbidden"}}}},
    "/openapi.json": {"get": {"summary": "This document", "responses": {
      "200": {"description": "OpenAPI 3", "content": {"application/json": {"schema": {"type": "object", "required": ["openapi", "paths"]}}}},
      "401": {"$ref": "#/components/responses/Unauthorized"}}}},
    "/v1/views": {"get": {"summary": "Every view (that the token may read) with its state, rows and lag", "responses": {
      "200": {"description": "views", "content": {"application/json": {"schema": {"type": "object", "required": ["views"], "properties": {"views": {"type": "array", "items": {"$ref": "#/components/schemas/ViewStatus"}}}}}}},
      "401": {"$ref": "#/components/responses/Unauthorized"}, "403": {"$ref": "#/components/responses/Forbidden"}}}},
    "/v1/views/{view}": {
      "parameters": [{"$ref": "#/components/parameters/view"}],
      "get": {"summary": "One view: status, definition, partitions with positions and lags",
        "parameters": [{"$ref": "#/components/parameters/min_position"}, {"$ref": "#/components/parameters/wait_ms"}],
        "responses": {"200": {"description": "status", "headers": {"X-Projd-Position": {"$ref": "#/components/headers/Position"}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ViewDetail"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"}, "401": {"$ref": "#/components/responses/Unauthorized"}, "403": {"$ref": "#/components/responses/Forbidden"},
          "404": {"$ref": "#/components/responses/NotFound"}, "504": {"$ref": "#/components/responses/Timeout"}}},
      "delete": {"summary": "Drop the kept data of a view whose projection was removed",
        "responses": {"200": {"description": "dropped", "content": {"application/json": {"schema": {"type": "object", "required": ["dropped"], "properties": {"dropped": {"type": "string"}}}}}},
          "401": {"$ref": "#/components/responses/Unauthorized"}, "403": {"$ref": "#/components/responses/Forbidden"},
          "404": {"$ref": "#/components/responses/NotFound"}, "409": {"$ref": "#/components/responses/Conflict"}}}},
    "/v1/views/{view}/rows": {
      "parameters": [{"$ref": "#/components/parameters/view"}],
      "get": {"summary": "Rows in key order, paginated",
        "parameters": [{"name": "prefix", "in": "query", "schema": {"type": "string"}}, {"name": "start", "in": "query", "schema": {"type": "string"}}, {"name": "end", "in": "query", "schema": {"type": "string"}}, {"$ref": "#/components/parameters/limit"},
          {"name": "cursor", "in": "query", "description": "next_cursor of the previous page", "schema": {"type": "string", "pattern": "^([0-9a-f]{2})*$"}},
          {"$ref": "#/components/parameters/min_position"}, {"$ref": "#/components/parameters/wait_ms"}],
        "responses": {"200": {"description": "rows", "headers": {"X-Projd-Position": {"$ref": "#/components/headers/Position"}}, "content": {"application/json": {"schema": {"type": "object", "required": ["rows", "next_cursor"], "properties": {"rows": {"type": "array", "items": {"$ref": "#/components/schemas/Row"}}, "next_cursor": {"type": "string", "nullable": true}}}}}},
          "400": {"$ref": "#/components/responses/BadRequest"}, "401": {"$ref": "#/components/responses/Unauthorized"}, "403": {"$ref": "#/components/responses/Forbidden"},
          "404": {"$ref": "#/components/responses/NotFound"}, "504": {"$ref": "#/components/responses/Timeout"}}}},
    "/v1/views/{view}/rows/{key}": {
      "parameters": [{"$ref": "#/components/parameters/view"}, {"$ref": "#/components/parameters/key"}],
      "get": {"summary": "One row; with as_of, the row as it was after the last event with event time at or before it (needs history)",
        "parameters": [{"name": "as_of", "in": "query", "schema": {"type": "string", "format": "date-time"}}, {"$ref": "#/components/parameters/min_position"}, {"$ref": "#/components/parameters/wait_ms"}],
        "responses": {"200": {"description": "row", "headers": {"X-Projd-Position": {"$ref": "#/components/headers/Position"}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Row"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"}, "401": {"$ref": "#/components/responses/Unauthorized"}, "403": {"$ref": "#/components/responses/Forbidden"},
          "404": {"$ref": "#/components/responses/NotFound"}, "504": {"$ref": "#/components/responses/Timeout"}}}},
    "/v1/views/{view}/rows/{key}/history": {
      "parameters": [{"$ref": "#/components/parameters/view"}, {"$ref": "#/components/parameters/key"}],
      "get": {"summary": "Every kept version of a row, oldest first, with the event that made it (needs history)",
        "parameters": [{"$ref": "#/components/parameters/limit"}, {"$ref": "#/components/parameters/seq_cursor"}, {"$ref": "#/components/parameters/min_position"}, {"$ref": "#/components/parameters/wait_ms"}],
        "responses": {"200": {"description": "versions", "headers": {"X-Projd-Position": {"$ref": "#/components/headers/Position"}}, "content": {"application/json": {"schema": {"type": "object", "required": ["key", "versions", "next_cursor"], "properties": {"key": {"type": "string"}, "versions": {"type": "array", "items": {"$ref": "#/components/schemas/RowVersion"}}, "next_cursor": {"type": "string", "nullable": true}}}}}},
          "400": {"$ref": "#/components/responses/BadRequest"}, "401": {"$ref": "#/components/responses/Unauthorized"}, "403": {"$ref": "#/components/responses/Forbidden"},
          "404": {"$ref": "#/components/responses/NotFound"}, "504": {"$ref": "#/components/responses/Timeout"}}}},
    "/v1/views/{view}/dead-letters": {
      "parameters": [{"$ref": "#/components/parameters/view"}],
      "get": {"summary": "Rejected events, paginated", "parameters": [{"$ref": "#/components/parameters/limit"}, {"$ref": "#/components/parameters/seq_cursor"}, {"$ref": "#/components/parameters/min_position"}, {"$ref": "#/components/parameters/wait_ms"}],
        "responses": {"200": {"description": "dead letters", "headers": {"X-Projd-Position": {"$ref": "#/components/headers/Position"}}, "content": {"application/json": {"schema": {"type": "object", "required": ["dead_letters", "total", "next_cursor"], "properties": {"dead_letters": {"type": "array", "items": {"$ref": "#/components/schemas/DeadLetter"}}, "total": {"type": "integer"}, "next_cursor": {"type": "string", "nullable": true}}}}}},
          "400": {"$ref": "#/components/responses/BadRequest"}, "401": {"$ref": "#/components/responses/Unauthorized"}, "403": {"$ref": "#/components/responses/Forbidden"},
          "404": {"$ref": "#/components/responses/NotFound"}, "504": {"$ref": "#/components/responses/Timeout"}}}},
    "/v1/views/{view}/skip": {
      "parameters": [{"$ref": "#/components/parameters/view"}],
      "post": {"summary": "Move a view stopped by errors stop past the failing event, which becomes a dead letter",
        "parameters": [{"$ref": "#/components/parameters/min_position"}, {"$ref": "#/components/parameters/wait_ms"}],
        "responses": {"202": {"description": "skipped", "headers": {"X-Projd-Position": {"$ref": "#/components/headers/Position"}}, "content": {"application/json": {"schema": {"type": "object", "required": ["skipped"], "properties": {"skipped": {"type": "boolean"}}}}}},
          "400": {"$ref": "#/components/responses/BadRequest"}, "401": {"$ref": "#/components/responses/Unauthorized"}, "403": {"$ref": "#/components/responses/Forbidden"},
          "404": {"$ref": "#/components/responses/NotFound"}, "409": {"$ref": "#/components/responses/Conflict"}, "504": {"$ref": "#/components/responses/Timeout"}}}},
    "/v1/views/{view}/rebuild": {
      "parameters": [{"$ref": "#/components/parameters/view"}],
      "post": {"summary": "Rebuild from offset zero in a shadow store; the view serves until the rebuilt one has caught up, then they swap",
        "parameters": [{"name": "allow_gap", "in": "query", "description": "rebuild even when retention deleted the start of a topic's log (else 409 with the first available offsets)", "schema": {"type": "boolean"}}, {"$ref": "#/components/parameters/min_position"}, {"$ref": "#/components/parameters/wait_ms"}],
        "responses": {"202": {"description": "started", "headers": {"X-Projd-Position": {"$ref": "#/components/headers/Position"}}, "content": {"application/json": {"schema": {"type": "object", "required": ["rebuild", "view"], "properties": {"rebuild": {"type": "string", "enum": ["started"]}, "view": {"type": "string"}}}}}},
          "400": {"$ref": "#/components/responses/BadRequest"}, "401": {"$ref": "#/components/responses/Unauthorized"}, "403": {"$ref": "#/components/responses/Forbidden"},
          "404": {"$ref": "#/components/responses/NotFound"}, "409": {"$ref": "#/components/responses/Conflict"}, "504": {"$ref": "#/components/responses/Timeout"}}}},
    "/v1/views/{view}/lag": {
      "parameters": [{"$ref": "#/components/parameters/view"}],
      "get": {"summary": "Lag samples kept in memory (one a second, the last hour): what the dashboard charts",
        "parameters": [{"name": "window", "in": "query", "description": "how far back: 90s, 15m, 1h or seconds (at most 1h; default 15m)", "schema": {"type": "string", "pattern": "^[0-9]{1,6}[smh]?$", "example": "15m"}}, {"$ref": "#/components/parameters/min_position"}, {"$ref": "#/components/parameters/wait_ms"}],
        "responses": {"200": {"description": "samples, oldest first", "headers": {"X-Projd-Position": {"$ref": "#/components/headers/Position"}}, "content": {"application/json": {"schema": {"type": "object", "required": ["view", "window_seconds", "samples"], "properties": {"view": {"type": "string"}, "window_seconds": {"type": "integer"}, "samples": {"type": "array", "items": {"$ref": "#/components/schemas/LagSample"}}}}}}},
          "400": {"$ref": "#/components/responses/BadRequest"}, "401": {"$ref": "#/components/responses/Unauthorized"}, "403": {"$ref": "#/components/responses/Forbidden"},
          "404": {"$ref": "#/components/responses/NotFound"}, "504": {"$ref": "#/components/responses/Timeout"}}}},
    "/v1/query": {
      "get": {"summary": "Run a query", "parameters": [{"name": "q", "in": "query", "required": true, "schema": {"type": "string"}, "example": "from account_balance where balance > 100 limit 10"}, {"name": "cursor", "in": "query", "description": "next_cursor of the previous answer", "schema": {"type": "string"}}, {"$ref": "#/components/parameters/min_position"}, {"$ref": "#/components/parameters/wait_ms"}],
        "responses": {"200": {"description": "answer", "headers": {"X-Projd-Position": {"$ref": "#/components/headers/Position"}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/QueryAnswer"}}}},
          "400": {"$ref": "#/components/responses/BadQuery"}, "401": {"$ref": "#/components/responses/Unauthorized"}, "403": {"$ref": "#/components/responses/Forbidden"},
          "404": {"$ref": "#/components/responses/NotFound"}, "504": {"$ref": "#/components/responses/Timeout"}}},
      "post": {"summary": "Run a query (the body is the query text)", "parameters": [{"name": "cursor", "in": "query", "description": "next_cursor of the previous answer", "schema": {"type": "string"}}, {"$ref": "#/components/parameters/min_position"}, {"$ref": "#/components/parameters/wait_ms"}],
        "requestBody": {"required": true, "content": {"text/plain": {"schema": {"type": "string"}, "example": "from account_balance select count(), sum(balance)"}}},
        "responses": {"200": {"description": "answer", "headers": {"X-Projd-Position": {"$ref": "#/components/headers/Position"}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/QueryAnswer"}}}},
          "400": {"$ref": "#/components/responses/BadQuery"}, "401": {"$ref": "#/components/responses/Unauthorized"}, "403": {"$ref": "#/components/responses/Forbidden"},
          "404": {"$ref": "#/components/responses/NotFound"}, "504": {"$ref": "#/components/responses/Timeout"}}}}
  }
})json";
}

}  // namespace projd
