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
    null_headers.push_back(m.headers[i].is_null());
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
  for (size_t i = 0; i < headers.size(); ++i) {
    const auto& [name, v] = headers[i];
    bool null = i < null_headers.size() && null_headers[i];
    header_views_.push_back({name, null ? std::string_view() : std::string_view(v)});
  }
  m.headers = header_views_.data();
  m.header_count = header_views_.size();
  return m;
}

}  // namespace projd
