// What the language knows of the message an event came in (`meta.*` in expressions): where it
// sits in its log, its timestamp, key and headers. connectors/ builds its Message on it, so a
// field added here reaches every source, the projector and the evaluator at once.
#ifndef PROJD_DSL_EVENT_META_H_
#define PROJD_DSL_EVENT_META_H_

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace projd {

using Partition = int32_t;  // a partition number of a topic
using Offset = int64_t;     // an offset in a partition's log

// A message header: name and value bytes (Kafka headers; `"headers"` of a JSONL envelope). A
// Kafka header without a value (null, not empty) has value.data() == nullptr: it reads as null.
struct MessageHeader {
  std::string_view name;
  std::string_view value;
  bool is_null() const { return value.data() == nullptr; }
};

struct EventMeta {
  std::string_view topic;
  Partition partition = 0;
  Offset offset = 0;
  int64_t timestamp_ms = 0;  // the Kafka message timestamp
  bool has_key = false;
  std::string_view key;  // the Kafka message key, when has_key
  // The message's headers in the order sent (a name may repeat); valid as long as the message.
  const MessageHeader* headers = nullptr;
  size_t header_count = 0;
};

// The fields of `meta.NAME`, resolved when a projection is compiled (never compared as text
// per event).
enum class MetaField : uint8_t { kTopic, kPartition, kOffset, kTimestamp, kKey, kHeaders };

// The MetaField named `name`; false when there is none.
inline bool MetaFieldNamed(std::string_view name, MetaField* out) {
  static constexpr std::pair<std::string_view, MetaField> kFields[] = {
      {"topic", MetaField::kTopic},   {"partition", MetaField::kPartition},
      {"offset", MetaField::kOffset}, {"timestamp", MetaField::kTimestamp},
      {"key", MetaField::kKey},       {"headers", MetaField::kHeaders}};
  for (const auto& [n, f] : kFields) {
    if (n == name) {
      *out = f;
      return true;
    }
  }
  return false;
}

}  // namespace projd

#endif  // PROJD_DSL_EVENT_META_H_
