// A row's history as CSV (see history_csv.h).
#include "api/history_csv.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include "api/api_answers.h"
#include "dsl/time.h"
#include "store/view_store.h"

namespace projd {

void AppendCsvField(std::string_view text, std::string* out) {
  bool quote = text.find_first_of(",\"\r\n") != std::string_view::npos ||
               (!text.empty() && (text.front() == ' ' || text.front() == '\t' ||
                                  text.back() == ' ' || text.back() == '\t'));
  if (!quote) {
    out->append(text);
    return;
  }
  out->push_back('"');
  for (char c : text) {
    if (c == '"') out->push_back('"');
    out->push_back(c);
  }
  out->push_back('"');
}

void AppendCsvCellText(const Value& v, std::string* out) {
  switch (v.type()) {
    case Value::Type::kNull:
      return;
    case Value::Type::kBool:
      out->append(v.as_bool() ? "true" : "false");
      return;
    case Value::Type::kNumber:
      v.as_number().AppendTo(out);
      return;
    case Value::Type::kString:
      out->append(v.as_string());
      return;
    case Value::Type::kArray:
    case Value::Type::kObject:
      WriteJson(v, out);
      return;
  }
}

namespace {

using Versions = std::vector<std::pair<uint64_t, RowRecord>>;

// The columns of a history CSV and the versions it covers: those with sequence <= last_seq,
// at most `count`.
struct CsvColumns {
  std::vector<std::string> audit;   // audit value names, sorted
  std::vector<std::string> fields;  // row field names, sorted
  uint64_t last_seq = 0;
  size_t count = 0;
};

// The first read: the union of audit and field names over the versions to write.
bool CollectColumns(const HistoryPages& pages, size_t max_versions, size_t page_size,
                    CsvColumns* cols, std::string* error) {
  std::set<std::string> audit, fields;
  Versions page;
  bool more = true;
  while (more && (max_versions == 0 || cols->count < max_versions)) {
    size_t want = max_versions == 0 ? page_size : std::min(page_size, max_versions - cols->count);
    if (!pages(cols->last_seq, want, &page, &more)) {
      *error = "cannot read the row's history";
      return false;
    }
    if (page.empty()) break;
    for (const auto& [seq, rec] : page) {
      for (const auto& m : rec.updated_by.audit.members()) audit.insert(m.first);
      if (rec.exists) {
        for (const auto& m : rec.fields.members()) fields.insert(m.first);
      }
      cols->last_seq = seq;
      ++cols->count;
    }
  }
  cols->audit.assign(audit.begin(), audit.end());
  cols->fields.assign(fields.begin(), fields.end());
  return true;
}

void AppendHeader(const CsvColumns& cols, std::string* out) {
  out->append("version,event_time,topic,partition,offset,event_id");
  for (const auto& name : cols.audit) {
    out->push_back(',');
    AppendCsvField("audit." + name, out);
  }
  for (const auto& name : cols.fields) {
    out->push_back(',');
    AppendCsvField(name, out);
  }
  out->append("\r\n");
}

// One column's cell: the member `name` of `o` (empty when absent).
void AppendMember(const Object& o, const std::string& name, std::string* cell, std::string* out) {
  out->push_back(',');
  const Value* v = o.Find(name);
  if (!v) return;
  cell->clear();
  AppendCsvCellText(*v, cell);
  AppendCsvField(*cell, out);
}

void AppendVersion(const CsvColumns& cols, const RowRecord& rec, std::string* cell,
                   std::string* out) {
  const Provenance& by = rec.updated_by;
  out->append(std::to_string(rec.version));
  out->push_back(',');
  out->append(FormatRfc3339(by.event_time_ms));
  out->push_back(',');
  AppendCsvField(by.topic, out);
  out->push_back(',');
  out->append(std::to_string(by.partition));
  out->push_back(',');
  out->append(std::to_string(by.offset));
  out->push_back(',');
  if (by.has_id) AppendCsvField(by.id, out);
  for (const auto& name : cols.audit) AppendMember(by.audit, name, cell, out);
  static const Object kNoFields;
  for (const auto& name : cols.fields) {
    AppendMember(rec.exists ? rec.fields : kNoFields, name, cell, out);
  }
  out->append("\r\n");
}

}  // namespace

bool WriteHistoryCsv(const HistoryPages& pages, size_t max_versions, const CsvSink& sink,
                     std::string* error, size_t page_size) {
  if (page_size == 0) page_size = 1;
  CsvColumns cols;
  if (!CollectColumns(pages, max_versions, page_size, &cols, error)) return false;
  std::string out, cell;
  AppendHeader(cols, &out);
  auto flush = [&] {
    if (!sink(out)) {
      *error = "cannot write the CSV";
      return false;
    }
    out.clear();
    return true;
  };
  // The second read: the lines, up to the last version the first read saw.
  uint64_t after = 0;
  size_t written = 0;
  Versions page;
  bool more = cols.count > 0;
  while (more && written < cols.count) {
    if (!pages(after, std::min(page_size, cols.count - written), &page, &more)) {
      *error = "cannot read the row's history";
      return false;
    }
    if (page.empty()) break;
    for (const auto& [seq, rec] : page) {
      if (seq > cols.last_seq || written == cols.count) {
        more = false;
        break;
      }
      AppendVersion(cols, rec, &cell, &out);
      ++written;
      after = seq;
    }
    if (out.size() >= (64 << 10) && !flush()) return false;
  }
  return flush();
}

std::string HistoryCsvFileName(const std::string& view, const std::string& key) {
  auto safe = [](const std::string& s) {
    std::string r = s.substr(0, 100);
    for (char& c : r) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '_' || c == '-';
      if (!ok) c = '_';
    }
    return r;
  };
  return safe(view) + "-" + safe(key) + "-history.csv";
}

HttpResponse HistoryCsvAnswer(ViewStore& store, const std::string& view, const std::string& key,
                              const HttpRequest& req) {
  size_t max_versions = 0;  // ?limit= caps the versions; without it, all of them
  std::string error;
  if (!ParseLimit(req, 0, 999999999, &max_versions, &error)) {
    return Error(400, "bad limit", Str(error));
  }
  // A file of its own beside the view's generations (on the data disk, not in memory); the
  // server streams it and deletes it, also when the client goes away.
  static std::atomic<uint64_t> counter{0};
  std::string path = std::filesystem::path(store.dir()).parent_path().string() + "/history-" +
                     std::to_string(getpid()) + "-" + std::to_string(++counter) + ".csv";
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Error(500, "cannot write the CSV", Str(path + ": " + std::strerror(errno)));
  }
  auto pages = [&](uint64_t after, size_t limit, std::vector<std::pair<uint64_t, RowRecord>>* out,
                   bool* more) { return store.History(key, after, limit, out, more); };
  auto sink = [fd](std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = write(fd, bytes.data(), bytes.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  };
  bool ok = WriteHistoryCsv(pages, max_versions, sink, &error);
  if (close(fd) != 0) ok = false;
  if (!ok) {
    unlink(path.c_str());
    return Error(500, "cannot write the CSV", Str(error.empty() ? "close failed" : error));
  }
  HttpResponse r;
  r.content_type = "text/csv; charset=utf-8";
  r.headers.emplace_back("Content-Disposition",
                         "attachment; filename=\"" + HistoryCsvFileName(view, key) + "\"");
  r.body_file = std::make_shared<HttpFileBody>(path, path);
  return r;
}

}  // namespace projd
