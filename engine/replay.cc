#include "engine/replay.h"

#include <vector>

namespace projd {
namespace {

// The view of a replay is its batch: the rows stay in the batch from one poll to the next (no
// row is loaded, merged back or copied), and a row deleted leaves it when its poll ends. Only
// the dedupe ids are kept here.
class MemoryRows final : public RowSource {
 public:
  bool LoadRow(const std::string& /*key*/, RowRecord* /*out*/) override { return false; }
  bool SeenId(const std::string& id) override { return ids_.Contains(id); }
  // The id goes into the set of all ids at once: merging the batch would look it up again.
  bool ClaimId(const std::string& id) override { return !ids_.Insert(id); }
  void ForgetId(const std::string& id) override { ids_.Erase(id); }
  bool ClaimsIds() const override { return true; }
  // Ends a poll: its counts and dead letters go to *r; the rows deleted leave the batch.
  void EndPoll(Batch* b, ReplayResult* r) {
    for (Batch::Rows::value_type* entry : b->dirty) {
      if (!entry->second.exists) gone_.push_back(entry);
    }
    for (auto& d : b->dead_letters) r->dead_letters.push_back(std::move(d));
    r->applied += b->applied;
    r->ignored += b->ignored;
    r->duplicates += b->duplicates;
    // The changed rows' marks are cleared through Batch::dirty first: the deleted ones are
    // freed after.
    b->ClearKeepingRows();
    for (Batch::Rows::value_type* entry : gone_) b->rows.erase(b->rows.find(entry->first));
    gone_.clear();
  }
  void Finish(Batch* b, ReplayResult* r) {
    for (auto& [key, rec] : b->rows) {
      if (rec.exists) r->rows.emplace(key, std::move(rec));
    }
    b->Clear();
  }

 private:
  StringSet ids_;  // every dedupe id seen
  std::vector<Batch::Rows::value_type*> gone_;
};

constexpr int64_t kMaxEventBytes = 1 << 20;

}  // namespace

bool Replay(const std::shared_ptr<const Projection>& projection, const std::string& events_path,
            ReplayResult* out, std::string* error, size_t batch_size,
            const ReplayObserver& observer, const std::string* avro_schema, bool whole_events) {
  auto source = NewFileSource(events_path, projection->topics()[0], error);
  if (!source) return false;
  std::set<std::string> topics(projection->topics().begin(), projection->topics().end());
  Projector projector(projection);
  if (whole_events) projector.ReadWholeEvents();
  std::unique_ptr<AvroSchema> writer;  // format avro: encodes the JSON events (schema id 1)
  std::string avro_value, avro_error;
  if (projection->format() == Projection::Format::kAvro) {
    if (!avro_schema) {
      *error = "projection " + projection->name() +
               " has format avro: give the writer schema of its events (--schema FILE.avsc)";
      return false;
    }
    writer = AvroSchema::Parse(*avro_schema, error);
    if (!writer) return false;
    projector.UseAvro(SchemaRegistry::Fixed({{1, *avro_schema}}));
  }
  MemoryRows rows;
  Batch batch;
  std::vector<Message> messages;
  std::vector<TraceStep> trace;
  while (!out->stopped && source->Poll(&messages, batch_size, std::chrono::milliseconds(0))) {
    std::string_view last_topic;
    bool last_wanted = false;
    for (const Message& m : messages) {
      if (m.topic != last_topic) {
        last_topic = m.topic;
        last_wanted = topics.count(std::string(m.topic)) > 0;
      }
      if (!last_wanted) continue;
      ++out->events;
      trace.clear();
      std::string reason;
      // The daemon's default --max-event-bytes applies here too: same events, same view.
      Message msg = m;
      std::string too_big;
      if (static_cast<int64_t>(m.value.size()) > kMaxEventBytes) {
        too_big = "event of " + std::to_string(m.value.size()) +
                  " bytes is larger than --max-event-bytes " + std::to_string(kMaxEventBytes);
        msg.error = too_big;
        msg.value = m.value.substr(0, 65536);
      }
      Value json;
      if (writer && msg.error.empty() && ParseJson(msg.value, &json, &avro_error)) {
        std::string datum;
        if (writer->Encode(json, &datum, &avro_error)) {
          avro_value.clear();
          AppendConfluentFrame(1, datum, &avro_value);
          msg.value = avro_value;
        } else {
          avro_error.insert(0, "event does not fit the Avro schema: ");
          msg.error = avro_error;
        }
      }
      auto outcome = projector.Apply(msg, &rows, &batch, &reason, observer ? &trace : nullptr);
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
    rows.EndPoll(&batch, out);
  }
  rows.Finish(&batch, out);
  return true;
}

Value ViewToJson(const std::map<std::string, RowRecord>& rows) {
  Object o;
  for (const auto& [k, rec] : rows) o.Set(k, Value::MakeObject(rec.fields));
  return Value::MakeObject(std::move(o));
}

}  // namespace projd
