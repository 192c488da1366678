// Fuzz target: events through decoding and apply (engine::Projector) for the banking
// projections of projections/ (account_balance, customer_summary, daily_volume) and one with
// `errors stop`, as projctl test replays them: each input line is the value of one message;
// lines go in batches of 4 over an in-memory row source.
//
// Invariants besides "no crash, no sanitizer report": every row and dead letter survives the
// storage encoding unchanged, and its JSON form parses back; the quick JSON reader takes a line
// only when the full reader reads it the same.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "api/api_answers.h"
#include "dsl/compiler.h"
#include "dsl/value_internal.h"
#include "engine/projector.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

namespace fs = std::filesystem;

class MemoryRows final : public projd::RowSource {
 public:
  bool LoadRow(const std::string& key, projd::RowRecord* out) override {
    auto it = rows_.find(key);
    if (it == rows_.end()) return false;
    *out = it->second;
    return true;
  }
  bool SeenId(const std::string& id, uint64_t /*hash*/) override { return ids_.count(id) > 0; }
  void Commit(const projd::Batch& batch) {
    for (const auto& [key, rec] : batch.rows) {
      if (rec.exists) {
        rows_[key] = rec;
      } else {
        rows_.erase(key);
      }
    }
    batch.new_ids.ForEach([this](std::string_view id) { ids_.emplace(id); });
  }
  const std::unordered_map<std::string, projd::RowRecord>& rows() const { return rows_; }

 private:
  std::unordered_map<std::string, projd::RowRecord> rows_;
  std::unordered_set<std::string> ids_;
};

std::vector<std::shared_ptr<const projd::Projection>> LoadProjections() {
  std::vector<std::pair<std::string, std::string>> files;
  for (const char* name : {"account_balance", "customer_summary", "daily_volume"}) {
    fs::path p = projd_fuzz::SourceDir() / "projections" / (std::string(name) + ".proj");
    files.emplace_back(p.string(), projd_fuzz::Slurp(p));
  }
  fs::path stop = projd_fuzz::SourceDir() / "tests" / "golden" / "clause_errors_stop.proj";
  files.emplace_back(stop.string(), projd_fuzz::Slurp(stop));
  projd::CompiledFile compiled = projd::CompileFiles(files);
  std::string why;
  for (const auto& d : compiled.diagnostics) why += d.Format();
  FUZZ_CHECK(compiled.ok(), why.c_str());
  return compiled.projections;
}

void CheckRow(const std::string& key, const projd::RowRecord& row) {
  std::string encoded;
  projd::EncodeRow(row, &encoded);
  projd::RowRecord decoded;
  FUZZ_CHECK(projd::DecodeRow(encoded, &decoded), key.c_str());
  FUZZ_CHECK(decoded.exists == row.exists && decoded.version == row.version, key.c_str());
  FUZZ_CHECK(decoded.fields == row.fields, key.c_str());
  FUZZ_CHECK(decoded.updated_by.offset == row.updated_by.offset &&
                 decoded.updated_by.id == row.updated_by.id &&
                 decoded.updated_by.event_time_ms == row.updated_by.event_time_ms,
             key.c_str());
  std::string json;
  projd::WriteJson(projd::RowToJson(key, row), &json);
  projd::Value back;
  std::string error;
  FUZZ_CHECK(projd::ParseJson(json, &back, &error), (json + ": " + error).c_str());
  // A point read's answer, written without the Value: the same text.
  projd::Value with_dead = projd::RowToJson(key, row);
  with_dead.as_object().Set("dead_letters", projd::Num(3));
  std::string direct;
  uint64_t dead = 3;
  projd::AppendRowJson(key, row, &dead, &direct);
  FUZZ_CHECK(direct == projd::ToJson(with_dead), direct.c_str());
}

void CheckDeadLetter(const projd::DeadLetter& d) {
  std::string encoded;
  projd::EncodeDeadLetter(d, &encoded);
  projd::DeadLetter decoded;
  FUZZ_CHECK(projd::DecodeDeadLetter(encoded, &decoded), d.reason.c_str());
  FUZZ_CHECK(decoded.reason == d.reason && decoded.event == d.event && decoded.key == d.key &&
                 decoded.offset == d.offset,
             d.reason.c_str());
  std::string json;
  projd::WriteJson(projd::DeadLetterToJson(d), &json);
  projd::Value back;
  std::string error;
  FUZZ_CHECK(projd::ParseJson(json, &back, &error), (json + ": " + error).c_str());
}

// The quick JSON reader takes a line only when the full reader reads it the same, whole and
// as the members the projections name.
void CheckReaders(std::string_view line) {
  projd::Value quick, full;
  std::string error;
  bool full_ok = projd::value_internal::FullParseJson(line, &full, &error);
  if (projd::value_internal::QuickParseJson(line, &quick)) {
    FUZZ_CHECK(full_ok, "the quick reader took a text the full reader refuses");
    FUZZ_CHECK(projd::ToJson(quick) == projd::ToJson(full), "the two readers differ");
  }
  static const projd::JsonFieldSet fields({"type", "account_id", "amount", "ts", "meta", ""});
  std::vector<projd::Value> quick_slots(fields.size()), full_slots(fields.size());
  if (projd::value_internal::QuickParseJsonMembers(line, fields, quick_slots.data())) {
    FUZZ_CHECK(projd::value_internal::FullParseJsonMembers(line, fields, full_slots.data(),
                                                           &error) == projd::MemberRead::kObject,
               "the quick member reader took a text the full reader refuses");
    for (size_t i = 0; i < fields.size(); ++i) {
      FUZZ_CHECK(projd::ToJson(quick_slots[i]) == projd::ToJson(full_slots[i]),
                 "the two member readers differ");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto projections = LoadProjections();
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < input.size()) {
    size_t end = input.find('\n', start);
    if (end == std::string_view::npos) end = input.size();
    lines.push_back(input.substr(start, end - start));
    CheckReaders(lines.back());
    start = end + 1;
  }
  for (const auto& projection : projections) {
    projd::Projector projector(projection);
    MemoryRows rows;
    projd::Batch batch;
    bool stopped = false;
    for (size_t i = 0; i < lines.size() && !stopped; i += 4) {
      batch.Clear();
      for (size_t j = i; j < lines.size() && j < i + 4; ++j) {
        projd::Message m;
        m.topic = projection->topics()[0];
        m.partition = static_cast<int32_t>(j % 2);
        m.offset = static_cast<int64_t>(j);
        m.timestamp_ms = 1751328000000 + static_cast<int64_t>(j) * 1000;
        m.has_key = j % 3 != 0;
        m.key = m.has_key ? std::string_view("k") : std::string_view();
        m.value = lines[j];
        std::string reason;
        auto outcome = projector.Apply(m, &rows, &batch, &reason);
        if (outcome == projd::Projector::Outcome::kStop) {
          FUZZ_CHECK(!reason.empty(), "a stop says why");
          // As POST /skip does: the failing event becomes a dead letter.
          projector.DeadLetterMessage(m, reason, &batch);
          stopped = true;
          break;
        }
      }
      for (const auto& d : batch.dead_letters) CheckDeadLetter(d);
      rows.Commit(batch);
    }
    for (const auto& [key, row] : rows.rows()) CheckRow(key, row);
  }
  return 0;
}
