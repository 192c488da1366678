#include "connectors/source.h"

namespace projd {

OwnedMessage::OwnedMessage(const Message& m)
    : topic(m.topic),
      key(m.key),
      value(m.value),
      error(m.error),
      partition(m.partition),
      offset(m.offset),
      timestamp_ms(m.timestamp_ms),
      has_key(m.has_key) {
  for (size_t i = 0; i < m.header_count; ++i) {
    headers.emplace_back(m.headers[i].name, m.headers[i].value);
  }
}

Message OwnedMessage::View() const {
  Message m;
  m.topic = topic;
  m.partition = partition;
  m.offset = offset;
  m.timestamp_ms = timestamp_ms;
  m.has_key = has_key;
  m.key = key;
  m.value = value;
  m.error = error;
  header_views_.clear();
  for (const auto& [name, v] : headers) header_views_.push_back({name, v});
  m.headers = header_views_.data();
  m.header_count = header_views_.size();
  return m;
}

}  // namespace projd
