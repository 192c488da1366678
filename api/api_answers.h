// The JSON answers of projd's HTTP API and the parsing of their common parameters: the shapes
// that handlers (http_api.cc) and metrics (api_metrics.cc) share.
#ifndef PROJD_ENGINE_API_ANSWERS_H_
#define PROJD_ENGINE_API_ANSWERS_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "api/http_server.h"
#include "dsl/time.h"
#include "dsl/value.h"
#include "engine/view.h"

namespace projd {

Value Str(const std::string& s);
Value Num(int64_t n);
Value Seconds(double s);  // a number with 3 decimals

// A JSON answer with `status`; Error is {"error": error, "detail": detail}.
HttpResponse Json(int status, const Value& v);
HttpResponse Error(int status, const std::string& error, Value detail = Value());
// 405 with the Allow header that RFC 9110 asks for.
HttpResponse MethodNotAllowed(const std::string& allow, const std::string& detail = "");

// The row as JSON: {"key", "row", "version", "updated_by": {...}} (+ dead_letters by caller).
Value RowToJson(const std::string& key, const RowRecord& row);
Value RowToJson(const std::string& key, RowRecord&& row);  // moves the fields
// The text WriteJson gives for RowToJson(key, row) with "dead_letters": *dead_letters added
// (when given), written without building the Value (a point read's answer).
void AppendRowJson(const std::string& key, const RowRecord& row, const uint64_t* dead_letters,
                   std::string* out);
// The same from a stored record (ViewStore::GetRowRecord), its fields written straight from
// their encoding (BinaryToJson). false when the record does not decode (*out as it was).
bool AppendRowJson(const std::string& key, std::string_view record, const uint64_t* dead_letters,
                   std::string* out);
Value DeadLetterToJson(const DeadLetter& d);
// The event that made a row's version: {"event_id", "event_time", "offset", "partition", "topic"}.
Value ProvenanceToJson(const Provenance& p);
// A change of a change feed (SPEC §9): {"key", "position", "row" (null: deleted),
// "updated_by", "version"} (moves the row's fields).
Value ChangeToJson(ChangeRecord&& c);

// A view's status as GET /v1/views lists it; with detail, also its partitions.
Value StatusToJson(const ViewStatus& st, bool detail);

// A whole number in decimal digits (no sign, no space), a larger one counted as `max`, however
// many digits it has. false when `text` is empty or holds anything but digits.
bool ParseWholeNumber(std::string_view text, uint64_t max, uint64_t* out);
// ?limit=: `def` when absent, at most `max` (any larger whole number counts as `max`), 0
// counts as 1. false with *error.
bool ParseLimit(const HttpRequest& req, size_t def, size_t max, size_t* out, std::string* error);
// ?limit= and ?cursor= of the paginated lists whose cursor is a sequence number (history,
// dead letters). false with the 400 answer in *bad.
bool ParsePage(const HttpRequest& req, size_t* limit, uint64_t* after, HttpResponse* bad);

}  // namespace projd

#endif  // PROJD_ENGINE_API_ANSWERS_H_
