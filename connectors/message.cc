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
      has_key(m.has_key) {}

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
  return m;
}

}  // namespace projd
