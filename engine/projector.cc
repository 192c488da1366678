#include "engine/projector.h"

#include "dsl/time.h"
#include "dsl/value_internal.h"
#include "dsl/varint.h"
#include "store/row_map.h"
#include "store/string_set.h"

namespace projd {
namespace {

constexpr size_t kMaxDeadLetterEvent = 64 * 1024;

// The event that made a row's new version: where it sits, its time and id, and the projection's
// audit values and correlation (the id, audit values and correlation moved out of *prepared,
// which takes the row's old strings to refill: no copy, no allocation once warm).
void SetProvenance(const Projection& p, const Message& msg, PreparedEvent* prepared,
                   Provenance* by) {
  if (by->topic != msg.topic) by->topic.assign(msg.topic);
  by->partition = msg.partition;
  by->offset = msg.offset;
  by->event_time_ms = prepared->event_time_ms;
  by->has_id = prepared->has_id;
  by->id.swap(prepared->id);
  if (!by->has_id) by->id.clear();
  if (p.has_audit()) by->audit = std::move(prepared->audit);
  if (p.has_correlation()) {
    by->has_correlation = prepared->has_correlation;
    by->correlation.swap(prepared->correlation);
  }
}

// Adds the change an applied event made to its row to the batch's change log: the record
// itself, but for the position the store appends (the entries of batch->changes are reused
// between batches, strings and all).
void RecordChange(const std::string& key, RowRecord& rec, RowState* row, Batch* batch) {
  if (batch->changes_used == batch->changes.size()) batch->changes.emplace_back();
  Batch::Change& c = batch->changes[batch->changes_used++];
  rec.last_change = static_cast<uint32_t>(batch->changes_used);
  if (c.topic != rec.updated_by.topic) c.topic.assign(rec.updated_by.topic);
  c.partition = rec.updated_by.partition;
  c.offset = rec.updated_by.offset;
  if (rec.updated_by.has_correlation) {
    c.correlation.assign(rec.updated_by.correlation);
  } else {
    c.correlation.clear();
  }
  c.history = batch->history_from_changes;
  // Written into the batch's buffer past the records before it (change_size), the buffer
  // grown only when it is short: no append per part, no zeros filled first.
  std::string& out = batch->change_bytes;
  const size_t at = batch->change_size;
  c.at = at;
  c.key_at = 1 + VarintSize(key.size());
  c.key_size = key.size();
  c.row_at = c.key_at + key.size() + 1;
  GrowTo(&out, at + c.row_at);
  char* p = out.data() + at;
  *p++ = 1;
  p = WriteBytes(WriteVarint(p, key.size()), key);
  *p = rec.exists ? 1 : 0;
  size_t end;
  if (rec.exists) {
    end = WriteRowAt(rec, &out, at + c.row_at, &rec.fields_size);
  } else {
    // A deletion: the row before it, made by the deleting event.
    RowRecord before;
    before.updated_by = rec.updated_by;
    before.fields = std::move(row->before_delete);
    end = WriteRowAt(before, &out, at + c.row_at, nullptr);
  }
  c.size = end - at;
  batch->change_size = end;
}

// The text with every number token a Decimal cannot hold (10^20 or more) replaced by `null`
// padded with blanks to the same length; strings are left alone. Used only to learn the view
// key of an event that fails on such a number, so that its dead letter names the row.
std::string NullOutOfRangeNumbers(std::string_view text) {
  std::string out(text);
  size_t i = 0;
  const size_t n = out.size();
  while (i < n) {
    char c = out[i];
    if (c == '"') {
      for (++i; i < n && out[i] != '"'; ++i) {
        if (out[i] == '\\') ++i;
      }
      ++i;
      continue;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      size_t begin = i;
      while (i < n && ((out[i] >= '0' && out[i] <= '9') || out[i] == '-' || out[i] == '+' ||
                       out[i] == '.' || out[i] == 'e' || out[i] == 'E')) {
        ++i;
      }
      Decimal d;
      if (i - begin >= 4 && !Decimal::Parse(std::string_view(out).substr(begin, i - begin), &d)) {
        out.replace(begin, 4, "null");
        for (size_t k = begin + 4; k < i; ++k) out[k] = ' ';
      }
      continue;
    }
    ++i;
  }
  return out;
}

// The text with every byte that is not part of a well-formed UTF-8 sequence replaced by '?'.
// Used only to learn the view key of an event that fails on such bytes.
std::string ReplaceInvalidUtf8(std::string_view text) {
  std::string out(text);
  const auto* p = reinterpret_cast<const unsigned char*>(out.data());
  for (size_t i = 0; i < out.size();) {
    size_t len = value_internal::Utf8SequenceLength(p, out.size(), i);
    if (len == 0) {
      out[i++] = '?';
    } else {
      i += len;
    }
  }
  return out;
}

}  // namespace

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

void Projector::DeadLetterEvent(const Message& msg, const std::string& reason,
                                const ReadEvent& read, bool has_key, const std::string& key,
                                Batch* batch) {
  DeadLetterMessage(msg, reason, batch);
  DeadLetter& d = batch->dead_letters.back();
  d.has_key = has_key;
  if (has_key) d.key = key;
  // An Avro event that decoded is kept as its JSON (the Confluent frame's bytes are no text);
  // one that did not decode keeps its bytes.
  if (avro_ &&
      (read.status == ReadEvent::Status::kReady || read.status == ReadEvent::Status::kUnprepared)) {
    d.event = ToJson(read.whole);
    if (d.event.size() > kMaxDeadLetterEvent) d.event.resize(kMaxDeadLetterEvent);
  }
}

void Projector::UseAvro(std::shared_ptr<SchemaRegistry> registry) {
  avro_ = std::make_unique<AvroEventDecoder>(std::move(registry));
}

bool Projector::PrefetchSchemas(const std::vector<Message>& messages, std::string* problem) {
  return !avro_ || avro_->Prefetch(messages, problem);
}

bool Projector::Decode(const Message& msg, ReadEvent* out) const {
  bool unavailable = false;
  if (msg.value.data() == nullptr) {  // no value at all: a tombstone (an empty one is "")
    out->error = "a tombstone (a message without a value): no event";
    out->status = ReadEvent::Status::kUnreadable;
    return false;
  }
  if (avro_) {
    if (!avro_->Decode(msg.value, &out->whole, &out->error, &unavailable)) {
      out->status = unavailable ? ReadEvent::Status::kUnavailable : ReadEvent::Status::kUnreadable;
      return false;
    }
    out->input = EventInput::Whole(out->whole);
    return true;
  }
  if (use_slots_) {
    // At least one slot, so that data() is never null.
    size_t n = std::max<size_t>(1, projection_->event_fields().size());
    if (out->slots.size() != n) out->slots.resize(n);
    switch (
        ParseJsonMembers(msg.value, projection_->event_fields(), out->slots.data(), &out->error)) {
      case MemberRead::kObject:
        out->input = EventInput::Slots(out->slots.data());
        return true;
      case MemberRead::kInvalid:
        out->status = ReadEvent::Status::kUnreadable;
        return false;
      case MemberRead::kNotObject:
        break;  // parsed whole below: Prepare says what it is, or ParseJson what is wrong
    }
  }
  if (!ParseJson(msg.value, &out->whole, &out->error)) {
    out->status = ReadEvent::Status::kUnreadable;
    return false;
  }
  out->input = EventInput::Whole(out->whole);
  return true;
}

void SetPrefetchHashes(ReadEvent* read, bool ids) {
  read->key_hash = 0;
  read->id_hash = 0;
  if (read->status != ReadEvent::Status::kReady || !read->prepared.handler) return;
  read->key_hash = RowMap::Hash(read->prepared.key);
  if (ids && read->prepared.has_id) read->id_hash = StringSet::Hash(read->prepared.id);
}

void Projector::Read(const Message& msg, ReadEvent* out) const {
  out->key_hash = out->id_hash = 0;  // until SetPrefetchHashes: not known
  out->error.clear();
  out->status = ReadEvent::Status::kReady;
  if (!msg.error.empty()) {
    out->status = ReadEvent::Status::kMessageError;
    return;
  }
  if (!Decode(msg, out)) {
    if (out->status == ReadEvent::Status::kUnreadable && !avro_ &&
        (out->error.find("number out of range") != std::string::npos ||
         out->error.find("invalid UTF-8") != std::string::npos)) {
      KeyOfUnreadable(msg, out);
    }
    return;
  }
  if (!projection_->Prepare(out->input, msg, &out->prepared, &out->error)) {
    out->status = ReadEvent::Status::kUnprepared;
  }
}

// An event that fails on a number past 10^20, or on bytes that are not UTF-8, is still an
// event error, but its row should say it missed one (dead_letters): the key is computed from
// the event with such numbers read as null and such bytes as '?'. When that gives a key (one
// the event holds as it is: not one the replaced bytes were part of), the event fails as
// prepared up to it (kUnprepared), with the same reason.
void Projector::KeyOfUnreadable(const Message& msg, ReadEvent* out) const {
  std::string utf8 = ReplaceInvalidUtf8(msg.value);
  const bool replaced = utf8 != msg.value;
  std::string text = NullOutOfRangeNumbers(utf8);
  Message m = msg;
  m.value = text;
  ReadEvent again;
  if (!Decode(m, &again)) return;
  std::string ignored;
  projection_->Prepare(again.input, m, &again.prepared, &ignored);
  if (!again.prepared.has_key) return;
  if (replaced && msg.value.find(again.prepared.key) == std::string_view::npos) return;
  out->prepared.has_key = true;
  out->prepared.key = std::move(again.prepared.key);
  out->status = ReadEvent::Status::kUnprepared;
}

Projector::Outcome Projector::Apply(const Message& msg, ReadEvent* read, RowSource* rows,
                                    Batch* batch, std::string* stop_reason,
                                    std::vector<TraceStep>* trace) {
  const Projection& p = *projection_;
  const EventMeta& meta = msg;  // what `meta.*` reads

  PreparedEvent& prepared = read->prepared;
  bool has_key = false;  // prepared.key is the event's view key
  auto event_error = [&](const std::string& reason) {
    if (p.errors() == Projection::ErrorPolicy::kStop) {
      *stop_reason = reason;
      stop_has_key_ = has_key;
      if (has_key) stop_key_ = prepared.key;
      return Outcome::kStop;
    }
    DeadLetterEvent(msg, reason, *read, has_key, prepared.key, batch);
    return Outcome::kDeadLetter;
  };
  if (msg.timestamp_ms > batch->max_timestamp_ms) batch->max_timestamp_ms = msg.timestamp_ms;
  switch (read->status) {
    case ReadEvent::Status::kReady:
      break;
    case ReadEvent::Status::kMessageError:
      return event_error(std::string(msg.error));
    case ReadEvent::Status::kUnreadable:
      return event_error(read->error);
    case ReadEvent::Status::kUnavailable:
      stop_has_key_ = false;
      *stop_reason = read->error;  // never a dead letter for a registry outage
      return Outcome::kStop;
    case ReadEvent::Status::kUnprepared:
      // A key computed before the failure still counts: the row says it missed an event.
      has_key = prepared.has_key;
      return event_error(read->error);
  }
  const EventInput& event = read->input;
  std::string error;
  if (!prepared.handler) {
    batch->NextOffset(msg.topic, msg.partition) = msg.offset + 1;
    ++batch->events;
    ++batch->ignored;
    return Outcome::kIgnored;
  }
  has_key = true;
  // With dedupe the id is claimed in the batch at once (one hash operation), and given back
  // if the event turns out to be a duplicate of an earlier batch or fails.
  // The row, when the batch has it already: found first, and its fields asked into the cache,
  // so that fetching them overlaps the dedupe lookup below (both are cache misses).
  // The reader's hashes of the key and id, when it computed them (0: not), are the ones the
  // batch's tables and the id filter use.
  const uint64_t key_hash = read->key_hash != 0 ? read->key_hash : RowMap::Hash(prepared.key);
  auto it = batch->rows.find(prepared.key, key_hash);
  if (it != batch->rows.end()) {
    const auto& members = it->second.fields.members();
    const char* data = reinterpret_cast<const char*>(members.data());
    size_t bytes = members.size() * sizeof(members[0]);
    for (size_t off = 0; off < bytes && off < 512; off += 64) __builtin_prefetch(data + off);
  }
  bool claimed_id = false;
  if (p.dedupe() && prepared.has_id) {
    bool fresh;
    const uint64_t id_hash = read->id_hash != 0 ? read->id_hash : StringSet::Hash(prepared.id);
    if (rows->ClaimsIds()) {
      fresh = !rows->ClaimId(prepared.id, id_hash);
    } else {
      fresh = batch->new_ids.Insert(prepared.id, id_hash);
      if (fresh && rows->SeenId(prepared.id, id_hash)) {
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
    rec.last_change = 0;
    it = batch->rows.emplace(prepared.key, key_hash, std::move(rec)).first;
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
  SetProvenance(p, msg, &prepared, &rec.updated_by);
  batch->MarkDirty(&*it);
  batch->last_row = &*it;
  // With a change log the history versions come from the change records (no copy of the row).
  if (p.history() != Projection::History::kNone && !batch->record_changes) {
    HistoryEntry& h = batch->history.emplace_back();
    h.key = prepared.key;
    h.at = batch->history_bytes.size();
    AppendHistoryVersion(rec, &batch->history_bytes);  // a deletion's version is 0
    h.size = batch->history_bytes.size() - h.at;
  }
  if (batch->record_changes && (existed || rec.exists))
    RecordChange(prepared.key, rec, &row, batch);
  batch->NextOffset(msg.topic, msg.partition) = msg.offset + 1;
  batch->last_event_time_ms = prepared.event_time_ms;
  ++batch->events;
  ++batch->applied;
  return Outcome::kApplied;
}

}  // namespace projd
