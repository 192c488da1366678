// A row's history as CSV, for auditors (GET /v1/views/{view}/rows/{key}/history?format=csv,
// projctl history VIEW KEY --csv): every kept version, oldest first, one line each.
//
// RFC 4180: CRLF line ends; a field is quoted when it holds a comma, a quote, CR or LF, or
// begins or ends with a space or tab (quotes inside doubled). The header line names the
// columns: version, event_time, topic, partition, offset, event_id, then audit.NAME
// for each audit value, then one column per row field. The audit names and the field names are
// each the union over every version written, sorted by name (byte order), so the columns do
// not depend on paging or on which version came first. Cells: strings as they are, numbers as
// their exact decimal text (never an exponent or a binary float), booleans true/false, null or
// absent empty, arrays and objects as compact JSON. A deletion is the version numbered 0, with
// empty row fields (its audit values are kept: they describe the deleting event).
#ifndef PROJD_API_HISTORY_CSV_H_
#define PROJD_API_HISTORY_CSV_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/http_server.h"
#include "dsl/value.h"
#include "store/records.h"

namespace projd {

class ViewStore;

// Appends `text` as one CSV field, quoted when it needs to be (see above).
void AppendCsvField(std::string_view text, std::string* out);
// Appends a value's cell text (before quoting): "" for null, true/false, the exact decimal,
// the string itself, compact JSON for arrays and objects.
void AppendCsvCellText(const Value& v, std::string* out);

// A row's versions with sequence > after, at most `limit`, oldest first, and whether more
// remain (the shape of ViewStore::History). false: they could not be read.
using HistoryPages = std::function<bool(
    uint64_t after, size_t limit, std::vector<std::pair<uint64_t, RowRecord>>* out, bool* more)>;
// Takes the CSV's bytes piece by piece, in order; false when they could not be written.
using CsvSink = std::function<bool(std::string_view bytes)>;

// Writes the CSV of the versions `pages` gives, at most `max_versions` of them (0: all), to
// `sink`. Reads the versions twice, a page of `page_size` at a time (first the columns, then
// the lines), so memory holds one page whatever the history's length; versions made between
// the two reads are left out. false with *error when reading or writing fails.
bool WriteHistoryCsv(const HistoryPages& pages, size_t max_versions, const CsvSink& sink,
                     std::string* error, size_t page_size = 1000);

// "VIEW-KEY-history.csv", each byte of VIEW and KEY outside [A-Za-z0-9._-] replaced by '_'
// and each cut to 100 bytes: a name safe in a Content-Disposition header and on any disk.
std::string HistoryCsvFileName(const std::string& view, const std::string& key);

// The answer to ?format=csv: the history of `key` (at most ?limit= versions, default all)
// written to a file beside the view's generations, which the server streams and then deletes.
// text/csv with a Content-Disposition naming HistoryCsvFileName; a 400 for a bad limit, a 500
// when the file cannot be written.
HttpResponse HistoryCsvAnswer(ViewStore& store, const std::string& view, const std::string& key,
                              const HttpRequest& req);

}  // namespace projd

#endif  // PROJD_API_HISTORY_CSV_H_
