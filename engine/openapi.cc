// The OpenAPI 3 document of projd's HTTP API, served at GET /openapi.json. The integration
// test "openapi" calls every path and method listed here, so it cannot drift from the server.
#include "engine/openapi.h"

namespace projd {

const char* OpenApiDocument() {
  return R"json({
  "openapi": "3.0.3",
  "info": {
    "title": "projd",
    "version": "0.1.0",
    "description": "Read models (views) kept by projd from Kafka event streams. Every response about a view carries X-Projd-Position: TOPIC:PARTITION:OFFSET,... (the next offset to apply per partition)."
  },
  "components": {
    "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    "parameters": {
      "view": {"name": "view", "in": "path", "required": true, "schema": {"type": "string"}},
      "key": {"name": "key", "in": "path", "required": true, "schema": {"type": "string"}},
      "limit": {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
      "cursor": {"name": "cursor", "in": "query", "schema": {"type": "string"}},
      "min_position": {"name": "min_position", "in": "query", "description": "TOPIC:PARTITION:OFFSET,...: answer once the view applied every offset below these", "schema": {"type": "string"}},
      "wait_ms": {"name": "wait_ms", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 60000, "default": 5000}}
    },
    "schemas": {
      "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}, "detail": {}}},
      "Provenance": {"type": "object", "properties": {
        "topic": {"type": "string"}, "partition": {"type": "integer"}, "offset": {"type": "integer"},
        "event_time": {"type": "string", "format": "date-time"}, "event_id": {"type": "string", "nullable": true}}},
      "Row": {"type": "object", "required": ["key", "row", "version", "updated_by"], "properties": {
        "key": {"type": "string"}, "row": {"type": "object"}, "version": {"type": "integer"},
        "updated_by": {"$ref": "#/components/schemas/Provenance"}, "dead_letters": {"type": "integer"},
        "as_of": {"type": "string"}}},
      "ViewStatus": {"type": "object", "required": ["name", "state"], "properties": {
        "name": {"type": "string"},
        "state": {"type": "string", "enum": ["live", "catching_up", "rebuilding", "lagging", "stalled", "stopped", "failed"]},
        "reason": {"type": "string", "nullable": true}, "rows": {"type": "integer"},
        "lag_events": {"type": "integer"}, "lag_seconds": {"type": "number"},
        "events_per_second": {"type": "number"}, "definition_hash": {"type": "string"},
        "position": {"type": "string"}, "events_applied": {"type": "integer"},
        "events_skipped": {"type": "integer"}, "dead_letters": {"type": "integer"},
        "last_update": {"type": "string", "nullable": true},
        "rebuild": {"type": "object", "nullable": true, "properties": {
          "progress": {"type": "number"}, "applied": {"type": "integer"}, "remaining": {"type": "integer"},
          "events_per_second": {"type": "number"}, "definition_hash": {"type": "string"}}},
        "partitions": {"type": "array", "items": {"type": "object"}},
        "definition": {"type": "string"}, "file": {"type": "string"},
        "topics": {"type": "array", "items": {"type": "string"}}, "failed_at": {"type": "object"}}},
      "QueryAnswer": {"type": "object", "required": ["rows", "position", "scanned"], "properties": {
        "rows": {"type": "array", "items": {"type": "object"}}, "next_cursor": {"type": "string", "nullable": true},
        "position": {"type": "string"}, "scanned": {"type": "integer"}, "plan": {"type": "string"}}}
    },
    "responses": {
      "Error": {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    }
  },
  "security": [{"bearer": []}, {}],
  "paths": {
    "/": {"get": {"summary": "The operator dashboard (HTML)", "security": [], "responses": {"200": {"description": "HTML page", "content": {"text/html": {}}}}}},
    "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {"description": "alive"}}}},
    "/readyz": {"get": {"summary": "Readiness: every view loaded and past its initial catch-up",
      "responses": {"200": {"description": "ready"}, "503": {"description": "not ready"}}}},
    "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text format 0.0.4", "content": {"text/plain": {}}}}}},
    "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3"}}}},
    "/v1/views": {"get": {"summary": "Every view with its state, rows and lag",
      "responses": {"200": {"description": "views", "content": {"application/json": {"schema": {"type": "object", "properties": {"views": {"type": "array", "items": {"$ref": "#/components/schemas/ViewStatus"}}}}}}}}}},
    "/v1/views/{view}": {
      "parameters": [{"$ref": "#/components/parameters/view"}],
      "get": {"summary": "One view: status, definition, partitions",
        "parameters": [{"$ref": "#/components/parameters/min_position"}, {"$ref": "#/components/parameters/wait_ms"}],
        "responses": {"200": {"description": "status", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ViewStatus"}}}}, "404": {"$ref": "#/components/responses/Error"}}},
      "delete": {"summary": "Drop the kept data of a view whose projection was removed",
        "responses": {"200": {"description": "dropped"}, "404": {"$ref": "#/components/responses/Error"}, "409": {"$ref": "#/components/responses/Error"}}}},
    "/v1/views/{view}/rows": {
      "parameters": [{"$ref": "#/components/parameters/view"}],
      "get": {"summary": "Rows in key order, paginated",
        "parameters": [{"name": "prefix", "in": "query", "schema": {"type": "string"}}, {"name": "start", "in": "query", "schema": {"type": "string"}}, {"name": "end", "in": "query", "schema": {"type": "string"}}, {"$ref": "#/components/parameters/limit"}, {"$ref": "#/components/parameters/cursor"}, {"$ref": "#/components/parameters/min_position"}, {"$ref": "#/components/parameters/wait_ms"}],
        "responses": {"200": {"description": "rows", "content": {"application/json": {"schema": {"type": "object", "properties": {"rows": {"type": "array", "items": {"$ref": "#/components/schemas/Row"}}, "next_cursor": {"type": "string", "nullable": true}}}}}}, "400": {"$ref": "#/components/responses/Error"}}}},
    "/v1/views/{view}/rows/{key}": {
      "parameters": [{"$ref": "#/components/parameters/view"}, {"$ref": "#/components/parameters/key"}],
      "get": {"summary": "One row; with as_of, the row as it was then (needs history)",
        "parameters": [{"name": "as_of", "in": "query", "schema": {"type": "string", "format": "date-time"}}, {"$ref": "#/components/parameters/min_position"}, {"$ref": "#/components/parameters/wait_ms"}],
        "responses": {"200": {"description": "row", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Row"}}}}, "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}, "504": {"$ref": "#/components/responses/Error"}}}},
    "/v1/views/{view}/rows/{key}/history": {
      "parameters": [{"$ref": "#/components/parameters/view"}, {"$ref": "#/components/parameters/key"}],
      "get": {"summary": "Every kept version of a row, oldest first",
        "parameters": [{"$ref": "#/components/parameters/limit"}, {"$ref": "#/components/parameters/cursor"}],
        "responses": {"200": {"description": "versions", "content": {"application/json": {"schema": {"type": "object", "properties": {"key": {"type": "string"}, "versions": {"type": "array", "items": {"type": "object"}}, "next_cursor": {"type": "string", "nullable": true}}}}}}, "400": {"$ref": "#/components/responses/Error"}}}},
    "/v1/views/{view}/dead-letters": {
      "parameters": [{"$ref": "#/components/parameters/view"}],
      "get": {"summary": "Rejected events", "parameters": [{"$ref": "#/components/parameters/limit"}, {"$ref": "#/components/parameters/cursor"}],
        "responses": {"200": {"description": "dead letters", "content": {"application/json": {"schema": {"type": "object", "properties": {"dead_letters": {"type": "array", "items": {"type": "object"}}, "total": {"type": "integer"}, "next_cursor": {"type": "string", "nullable": true}}}}}}}}},
    "/v1/views/{view}/skip": {
      "parameters": [{"$ref": "#/components/parameters/view"}],
      "post": {"summary": "Move a view stopped by errors stop past the failing event",
        "responses": {"202": {"description": "skipped"}, "409": {"$ref": "#/components/responses/Error"}}}},
    "/v1/views/{view}/rebuild": {
      "parameters": [{"$ref": "#/components/parameters/view"}],
      "post": {"summary": "Rebuild from offset zero in a shadow store; the view serves until the swap",
        "parameters": [{"name": "allow_gap", "in": "query", "schema": {"type": "boolean"}}],
        "responses": {"202": {"description": "started"}, "409": {"$ref": "#/components/responses/Error"}}}},
    "/v1/views/{view}/lag": {
      "parameters": [{"$ref": "#/components/parameters/view"}],
      "get": {"summary": "Lag samples kept in memory (one a second, the last hour)",
        "parameters": [{"name": "window", "in": "query", "schema": {"type": "string", "example": "15m"}}],
        "responses": {"200": {"description": "samples"}, "400": {"$ref": "#/components/responses/Error"}}}},
    "/v1/query": {
      "get": {"summary": "Run a query", "parameters": [{"name": "q", "in": "query", "required": true, "schema": {"type": "string"}}, {"$ref": "#/components/parameters/cursor"}, {"$ref": "#/components/parameters/min_position"}, {"$ref": "#/components/parameters/wait_ms"}],
        "responses": {"200": {"description": "answer", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/QueryAnswer"}}}}, "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}}},
      "post": {"summary": "Run a query (the body is the query text)", "parameters": [{"$ref": "#/components/parameters/cursor"}],
        "requestBody": {"required": true, "content": {"text/plain": {"schema": {"type": "string"}}}},
        "responses": {"200": {"description": "answer", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/QueryAnswer"}}}}, "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}}}}
  }
})json";
}

}  // namespace projd
