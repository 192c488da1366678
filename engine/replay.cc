#include "engine/replay.h"

#include <unordered_set>

namespace projd {
namespace {

class MemoryRows final : public RowSource {
 public:
  explicit MemoryRows(ReplayResult* r) : r_(r) {}
  bool LoadRow(const std::string& key, RowRecord* out) override {
    auto it = r_->rows.find(key);
    if (it == r_->rows.end()) return false;
    *out = it->second;
    return true;
  }
  bool SeenId(const std::string& id) override { return ids_.count(id) > 0; }
  void Commit(const Batch& b) {
    for (const auto& key : b.dirty) {
      const RowRecord& rec = b.rows.at(key);
      if (rec.exists) {
        r_->rows[key] = rec;
      } else {
        r_->rows.erase(key);
      }
    }
    for (const auto& id : b.new_ids) ids_.insert(id);
    for (const auto& d : b.dead_letters) r_->dead_letters.push_back(d);
    r_->applied += b.applied;
    r_->ignored += b.ignored;
    r_->duplicates += b.duplicates;
  }

 private:
  ReplayResult* r_;
  std::unordered_set<std::string> ids_;
};

}  // namespace

bool Replay(std::shared_ptr<const Projection> projection, const std::string& events_path,
            ReplayResult* out, std::string* error, size_t batch_size,
            const ReplayObserver& observer) {
  auto source = NewFileSource(events_path, projection->topics()[0], error);
  if (!source) return false;
  std::set<std::string> topics(projection->topics().begin(), projection->topics().end());
  Projector projector(projection);
  MemoryRows rows(out);
  Batch batch;
  std::vector<Message> messages;
  std::vector<TraceStep> trace;
  while (!out->stopped && source->Poll(&messages, batch_size, std::chrono::milliseconds(0))) {
    batch.Clear();
    for (const Message& m : messages) {
      if (!topics.count(std::string(m.topic))) continue;
      ++out->events;
      trace.clear();
      std::string reason;
      auto outcome =
          projector.Apply(m, &rows, &batch, &reason, observer ? &trace : nullptr);
      if (outcome == Projector::Outcome::kStop) {
        out->stopped = true;
        out->stop_reason = reason;
        out->stop_at = std::string(m.topic) + ":" + std::to_string(m.partition) + ":" +
                       std::to_string(m.offset);
        --out->events;
        break;
      }
      if (observer && outcome == Projector::Outcome::kApplied) {
        observer(m, batch.last_key, trace, batch.rows.at(batch.last_key));
      }
    }
    rows.Commit(batch);
  }
  return true;
}

Value ViewToJson(const std::map<std::string, RowRecord>& rows) {
  Object o;
  for (const auto& [k, rec] : rows) o.Set(k, Value::MakeObject(rec.fields));
  return Value::MakeObject(std::move(o));
}

}  // namespace projd
