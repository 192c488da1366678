#include "engine/projector.h"

#include "dsl/time.h"

namespace projd {
namespace {

constexpr size_t kMaxDeadLetterEvent = 64 * 1024;

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

bool GetVarint(std::string_view* in, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift <= 63 && !in->empty(); shift += 7) {
    uint8_t b = static_cast<uint8_t>(in->front());
    in->remove_prefix(1);
    result |= static_cast<uint64_t>(b & 0x7F) << shift;
    if (!(b & 0x80)) {
      *v = result;
      return true;
    }
  }
  return false;
}

void PutSigned(std::string* out, int64_t v) {
  PutVarint(out, (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
}

bool GetSigned(std::string_view* in, int64_t* v) {
  uint64_t u;
  if (!GetVarint(in, &u)) return false;
  *v = static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1));
  return true;
}

void PutString(std::string* out, std::string_view s) {
  PutVarint(out, s.size());
  out->append(s);
}

bool GetString(std::string_view* in, std::string* s) {
  uint64_t n;
  if (!GetVarint(in, &n) || n > in->size()) return false;
  s->assign(in->data(), n);
  in->remove_prefix(n);
  return true;
}

// Members are listed in name order, so the objects are built without a sort or inserts.
Value ProvenanceToJson(const Provenance& p) {
  std::vector<Object::Member> m;
  m.reserve(5);
  m.emplace_back("event_id", p.has_id ? Value::String(p.id) : Value());
  m.emplace_back("event_time", Value::String(FormatRfc3339(p.event_time_ms)));
  m.emplace_back("offset", Value::Number(Decimal::FromInt(p.offset)));
  m.emplace_back("partition", Value::Number(Decimal::FromInt(p.partition)));
  m.emplace_back("topic", Value::String(p.topic));
  return Value::MakeObject(Object::FromMembers(std::move(m)));
}

}  // namespace

void EncodeRow(const RowRecord& row, std::string* out) {
  out->clear();
  out->push_back(1);  // format version
  PutVarint(out, row.version);
  PutString(out, row.updated_by.topic);
  PutVarint(out, static_cast<uint32_t>(row.updated_by.partition));
  PutSigned(out, row.updated_by.offset);
  PutSigned(out, row.updated_by.event_time_ms);
  out->push_back(row.updated_by.has_id ? 1 : 0);
  if (row.updated_by.has_id) PutString(out, row.updated_by.id);
  // The row body: an object value in the binary value encoding.
  EncodeBinary(row.fields, out);
}

bool DecodeRow(std::string_view in, RowRecord* out) {
  if (in.empty() || in[0] != 1) return false;
  in.remove_prefix(1);
  uint64_t version, partition;
  if (!GetVarint(&in, &version) || !GetString(&in, &out->updated_by.topic) ||
      !GetVarint(&in, &partition) || !GetSigned(&in, &out->updated_by.offset) ||
      !GetSigned(&in, &out->updated_by.event_time_ms) || in.empty()) {
    return false;
  }
  out->version = version;
  out->updated_by.partition = static_cast<int32_t>(partition);
  out->updated_by.has_id = in[0] == 1;
  in.remove_prefix(1);
  if (out->updated_by.has_id && !GetString(&in, &out->updated_by.id)) return false;
  Value body;
  if (!DecodeBinary(in, &body) || !body.is_object()) return false;
  out->fields = std::move(body.as_object());
  out->exists = true;
  return true;
}

Value RowToJson(const std::string& key, const RowRecord& row) {
  RowRecord copy = row;
  return RowToJson(key, std::move(copy));
}

Value RowToJson(const std::string& key, RowRecord&& row) {
  std::vector<Object::Member> m;
  m.reserve(4);
  m.emplace_back("key", Value::String(key));
  m.emplace_back("row", Value::MakeObject(std::move(row.fields)));
  m.emplace_back("updated_by", ProvenanceToJson(row.updated_by));
  m.emplace_back("version", Value::Number(Decimal::FromInt(static_cast<int64_t>(row.version))));
  return Value::MakeObject(Object::FromMembers(std::move(m)));
}

Value DeadLetterToJson(const DeadLetter& d) {
  Object o;
  o.Set("topic", Value::String(d.topic));
  o.Set("partition", Value::Number(Decimal::FromInt(d.partition)));
  o.Set("offset", Value::Number(Decimal::FromInt(d.offset)));
  o.Set("timestamp", Value::String(FormatRfc3339(d.timestamp_ms)));
  o.Set("reason", Value::String(d.reason));
  o.Set("key", d.has_key ? Value::String(d.key) : Value());
  // The event as JSON when it is JSON, else as a string.
  Value ev;
  std::string err;
  if (ParseJson(d.event, &ev, &err)) {
    o.Set("event", std::move(ev));
  } else {
    o.Set("event", Value::String(d.event));
  }
  return Value::MakeObject(std::move(o));
}

void EncodeDeadLetter(const DeadLetter& d, std::string* out) {
  out->clear();
  out->push_back(1);
  PutString(out, d.topic);
  PutVarint(out, static_cast<uint32_t>(d.partition));
  PutSigned(out, d.offset);
  PutSigned(out, d.timestamp_ms);
  PutString(out, d.reason);
  out->push_back(d.has_key ? 1 : 0);
  PutString(out, d.key);
  PutString(out, d.event);
}

bool DecodeDeadLetter(std::string_view in, DeadLetter* d) {
  if (in.empty() || in[0] != 1) return false;
  in.remove_prefix(1);
  uint64_t partition;
  if (!GetString(&in, &d->topic) || !GetVarint(&in, &partition) || !GetSigned(&in, &d->offset) ||
      !GetSigned(&in, &d->timestamp_ms) || !GetString(&in, &d->reason) || in.empty()) {
    return false;
  }
  d->partition = static_cast<int32_t>(partition);
  d->has_key = in[0] == 1;
  in.remove_prefix(1);
  return GetString(&in, &d->key) && GetString(&in, &d->event);
}

void Batch::Clear() {
  rows.clear();
  dirty.clear();
  dead_letters.clear();
  history.clear();
  new_ids.Clear();
  next_offsets.clear();
  last_timestamps.clear();
  events = applied = ignored = duplicates = 0;
  last_event_time_ms = 0;
  max_timestamp_ms = 0;
  cached_offset_ = nullptr;
  cached_partition_ = -1;
}

int64_t& Batch::NextOffset(std::string_view topic, int32_t partition) {
  if (cached_offset_ && partition == cached_partition_ && topic == cached_topic_) {
    return *cached_offset_;
  }
  cached_topic_.assign(topic);
  cached_partition_ = partition;
  cached_offset_ = &next_offsets[TopicPartition{cached_topic_, partition}];
  return *cached_offset_;
}

void Projector::DeadLetterMessage(const Message& msg, const std::string& reason, Batch* batch) {
  DeadLetter d;
  d.topic = std::string(msg.topic);
  d.partition = msg.partition;
  d.offset = msg.offset;
  d.timestamp_ms = msg.timestamp_ms;
  d.reason = reason;
  d.event = std::string(msg.value.substr(0, kMaxDeadLetterEvent));
  batch->dead_letters.push_back(std::move(d));
  batch->NextOffset(msg.topic, msg.partition) = msg.offset + 1;
  ++batch->events;
}

void Projector::UseAvro(std::shared_ptr<SchemaRegistry> registry) {
  avro_ = std::make_unique<AvroEventDecoder>(std::move(registry));
}

bool Projector::PrefetchSchemas(const std::vector<Message>& messages, std::string* problem) {
  return !avro_ || avro_->Prefetch(messages, problem);
}

bool Projector::Decode(const Message& msg, EventInput* event, std::string* error,
                       bool* unavailable) {
  if (avro_) {
    if (!avro_->Decode(msg.value, &event_, error, unavailable)) return false;
    *event = EventInput::Whole(event_);
    return true;
  }
  if (use_slots_) {
    switch (ParseJsonMembers(msg.value, projection_->event_fields(), slots_.data(), error)) {
      case MemberRead::kObject:
        *event = EventInput::Slots(slots_.data());
        return true;
      case MemberRead::kInvalid:
        return false;
      case MemberRead::kNotObject:
        break;  // parsed whole below: Prepare says what it is, or ParseJson what is wrong
    }
  }
  if (!ParseJson(msg.value, &event_, error)) return false;
  *event = EventInput::Whole(event_);
  return true;
}

Projector::Outcome Projector::Apply(const Message& msg, RowSource* rows, Batch* batch,
                                    std::string* stop_reason, std::vector<TraceStep>* trace) {
  const Projection& p = *projection_;
  const EventMeta& meta = msg;  // what `meta.*` reads

  std::string error;
  bool has_key = false;
  std::string key;
  auto event_error = [&](const std::string& reason) {
    if (p.errors() == Projection::ErrorPolicy::kStop) {
      *stop_reason = reason;
      return Outcome::kStop;
    }
    DeadLetterMessage(msg, reason, batch);
    batch->dead_letters.back().has_key = has_key;
    batch->dead_letters.back().key = key;
    return Outcome::kDeadLetter;
  };
  if (msg.timestamp_ms > batch->max_timestamp_ms) batch->max_timestamp_ms = msg.timestamp_ms;
  if (!msg.error.empty()) return event_error(std::string(msg.error));
  EventInput event;
  bool unavailable = false;
  if (!Decode(msg, &event, &error, &unavailable)) {
    if (!unavailable) return event_error(error);
    *stop_reason = error;  // never a dead letter for a registry outage
    return Outcome::kStop;
  }
  PreparedEvent prepared;
  if (!p.Prepare(event, meta, &prepared, &error)) {
    // A key computed before the failure still counts: the row says it missed an event.
    has_key = prepared.has_key;
    if (has_key) key = prepared.key;
    return event_error(error);
  }
  if (!prepared.handler) {
    batch->NextOffset(msg.topic, msg.partition) = msg.offset + 1;
    ++batch->events;
    ++batch->ignored;
    return Outcome::kIgnored;
  }
  has_key = true;
  key = prepared.key;
  // With dedupe the id is claimed in the batch at once (one hash operation), and given back
  // if the event turns out to be a duplicate of an earlier batch or fails.
  // The row, when the batch has it already: found first, and its fields asked into the cache,
  // so that fetching them overlaps the dedupe lookup below (both are cache misses).
  auto it = batch->rows.find(prepared.key);
  if (it != batch->rows.end()) {
    const auto& members = it->second.fields.members();
    const char* data = reinterpret_cast<const char*>(members.data());
    size_t bytes = members.size() * sizeof(members[0]);
    for (size_t off = 0; off < bytes && off < 512; off += 64) __builtin_prefetch(data + off);
  }
  bool claimed_id = false;
  if (p.dedupe() && prepared.has_id) {
    bool fresh;
    if (rows->ClaimsIds()) {
      fresh = !rows->ClaimId(prepared.id);
    } else {
      fresh = batch->new_ids.Insert(prepared.id);
      if (fresh && rows->ClaimId(prepared.id)) {
        batch->new_ids.Erase(prepared.id);
        fresh = false;
      }
    }
    if (!fresh) {
      batch->NextOffset(msg.topic, msg.partition) = msg.offset + 1;
      ++batch->events;
      ++batch->duplicates;
      return Outcome::kDuplicate;
    }
    claimed_id = true;
  }
  if (it == batch->rows.end()) {
    RowRecord rec;
    if (!rows->LoadRow(prepared.key, &rec)) rec = RowRecord();
    rec.in_dirty = false;
    it = batch->rows.emplace(prepared.key, std::move(rec)).first;
  }
  RowRecord& rec = it->second;
  RowState row;
  row.exists = rec.exists;
  row.fields = std::move(rec.fields);
  bool existed = row.exists;
  bool ok = p.Apply(prepared, event, meta, &row, &error, trace);
  if (!ok) {
    rec.fields = std::move(row.fields);  // as before the event: it applies atomically
    if (claimed_id) {
      if (!rows->ClaimsIds()) batch->new_ids.Erase(prepared.id);
      rows->ForgetId(prepared.id);
    }
    return event_error(error);
  }
  rec.version = row.exists ? (existed ? rec.version + 1 : 1) : 0;
  rec.exists = row.exists;
  rec.fields = std::move(row.fields);
  if (rec.updated_by.topic != msg.topic) rec.updated_by.topic.assign(msg.topic);
  rec.updated_by.partition = msg.partition;
  rec.updated_by.offset = msg.offset;
  rec.updated_by.event_time_ms = prepared.event_time_ms;
  rec.updated_by.has_id = prepared.has_id;
  rec.updated_by.id = prepared.id;
  batch->MarkDirty(&*it);
  batch->last_key = prepared.key;
  if (p.history() != Projection::History::kNone) {
    batch->history.push_back({prepared.key, rec});
    if (!rec.exists) batch->history.back().row.version = 0;
  }
  batch->NextOffset(msg.topic, msg.partition) = msg.offset + 1;
  batch->last_event_time_ms = prepared.event_time_ms;
  ++batch->events;
  ++batch->applied;
  return Outcome::kApplied;
}

}  // namespace projd
