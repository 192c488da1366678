#include "store/records.h"

#include <algorithm>
#include <cstdint>

#include "store/encoding.h"

namespace projd {

void EncodeRow(const RowRecord& row, std::string* out) {
  out->clear();
  AppendRow(row, out);
}

void EncodeHistoryVersion(const RowRecord& row, std::string* out) {
  out->clear();
  AppendHistoryVersion(row, out);
}

void AppendHistoryVersion(const RowRecord& row, std::string* out) {
  out->push_back(row.exists ? 1 : 0);
  AppendRow(row, out);
}

void AppendRow(const RowRecord& row, std::string* out) { AppendRow(row, out, nullptr); }

size_t WriteRowAt(const RowRecord& row, std::string* out, size_t at, uint32_t* fields_size) {
  const Provenance& by = row.updated_by;
  // Format 1; format 2 when the event has audit values or a correlation (they follow the id).
  bool extended = !by.audit.empty() || by.has_correlation;
  // Every applied event encodes its row for the change log, written through a pointer into
  // room made once (not an append per part): the head's size is counted first; the fields are
  // written in one pass into room for the size they had the last time (*fields_size), counted
  // first only when that is not known or the row outgrew it.
  uint64_t partition = static_cast<uint32_t>(by.partition);
  uint64_t offset = ZigZag(by.offset), time = ZigZag(by.event_time_ms);
  size_t audit_size = by.audit.empty() ? 0 : EncodedBinarySize(by.audit);
  size_t head = 1 + VarintSize(row.version) + StringSize(by.topic) + VarintSize(partition) +
                VarintSize(offset) + VarintSize(time) + 1 + (by.has_id ? StringSize(by.id) : 0);
  if (extended) {
    head += 1 + (by.has_correlation ? StringSize(by.correlation) : 0) +
            (by.audit.empty() ? 0 : VarintSize(audit_size) + audit_size);
  }
  auto write_head = [&](char* p) {
    *p++ = extended ? 2 : 1;
    p = WriteVarint(p, row.version);
    p = WriteString(p, by.topic);
    p = WriteVarint(p, partition);
    p = WriteVarint(p, offset);
    p = WriteVarint(p, time);
    *p++ = by.has_id ? 1 : 0;
    if (by.has_id) p = WriteString(p, by.id);
    if (extended) {
      *p++ = static_cast<char>((by.audit.empty() ? 0 : 1) | (by.has_correlation ? 2 : 0));
      if (by.has_correlation) p = WriteString(p, by.correlation);
      if (!by.audit.empty()) {
        // A string whose bytes are the audit values' binary encoding.
        p = WriteVarint(p, audit_size);
        p = WriteBinary(by.audit, p);
      }
    }
    return p;
  };
  if (fields_size && *fields_size > 0) {
    const size_t room = *fields_size + *fields_size / 4 + 32;
    GrowTo(out, at + head + room);
    char* p = write_head(out->data() + at);
    // The row body: an object value in the binary value encoding.
    if (char* end = WriteBinaryWithin(row.fields, p, out->data() + out->size())) {
      *fields_size = static_cast<uint32_t>(end - p);
      return static_cast<size_t>(end - out->data());
    }
  }
  const size_t fields = EncodedBinarySize(row.fields);
  GrowTo(out, at + head + fields);
  WriteBinary(row.fields, write_head(out->data() + at));
  if (fields_size) *fields_size = static_cast<uint32_t>(std::min<size_t>(fields, UINT32_MAX));
  return at + head + fields;
}

void AppendRow(const RowRecord& row, std::string* out, uint32_t* fields_size) {
  const size_t at = out->size();
  out->resize(WriteRowAt(row, out, at, fields_size));
}

void GrowTo(std::string* out, size_t n) {
  if (out->size() < n) out->resize(n);  // the string's capacity grows geometrically
}

bool ReadRowHead(std::string_view in, RowHeadView* out) {
  if (in.empty() || (in[0] != 1 && in[0] != 2)) return false;
  bool extended = in[0] == 2;
  in.remove_prefix(1);
  uint64_t partition;
  if (!GetVarint(&in, &out->version) || !GetString(&in, &out->topic) ||
      !GetVarint(&in, &partition) || !GetSigned(&in, &out->offset) ||
      !GetSigned(&in, &out->event_time_ms) || in.empty()) {
    return false;
  }
  out->partition = static_cast<int32_t>(partition);
  out->has_id = in[0] == 1;
  in.remove_prefix(1);
  if (out->has_id && !GetString(&in, &out->id)) return false;
  out->has_correlation = false;
  out->correlation = {};
  out->audit = {};
  if (extended) {
    // Format 2's audit values and correlation (after the id).
    if (in.empty()) return false;
    uint8_t flags = static_cast<uint8_t>(in[0]);
    in.remove_prefix(1);
    out->has_correlation = (flags & 2) != 0;
    if (out->has_correlation && !GetString(&in, &out->correlation)) return false;
    if ((flags & 1) && (!GetString(&in, &out->audit) || !StartsEncodedObject(out->audit))) {
      return false;
    }
  }
  // The body: an object (its tag checked here; its bytes by whoever decodes them).
  if (!StartsEncodedObject(in)) return false;
  out->body = in;
  return true;
}

bool DecodeRow(std::string_view in, RowRecord* out) {
  RowHeadView h;
  if (!ReadRowHead(in, &h)) return false;
  Provenance& by = out->updated_by;
  out->version = h.version;
  by.topic.assign(h.topic);
  by.partition = h.partition;
  by.offset = h.offset;
  by.event_time_ms = h.event_time_ms;
  by.has_id = h.has_id;
  if (h.has_id) by.id.assign(h.id);
  by.has_correlation = h.has_correlation;
  by.correlation.assign(h.correlation);
  by.audit = Object();
  Value v;
  if (!h.audit.empty()) {
    if (!DecodeBinary(h.audit, &v) || !v.is_object()) return false;
    by.audit = std::move(v.as_object());
  }
  out->exists = true;
  if (!DecodeBinary(h.body, &v) || !v.is_object()) return false;
  out->fields = std::move(v.as_object());
  return true;
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
  ClearKeepingRows();
}

void Batch::ClearKeepingRows() {
  for (Rows::value_type* entry : dirty) entry->second.in_dirty = false;
  dirty.clear();
  dead_letters.clear();
  history.clear();
  history_bytes.clear();
  changes_used = 0;
  change_size = 0;
  new_ids.Clear();
  next_offsets.clear();
  last_timestamps.clear();
  events = applied = ignored = duplicates = 0;
  last_event_time_ms = 0;
  max_timestamp_ms = 0;
  last_row = nullptr;
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

}  // namespace projd
