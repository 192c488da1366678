#include "connectors/position.h"

#include <algorithm>

namespace projd {

bool Position::Parse(std::string_view text, Position* out, std::string* error) {
  out->clear();
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string_view piece = text.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    // Spaces around an item are dropped (HTTP joins a repeated header field's values with ", ").
    while (!piece.empty() && (piece.front() == ' ' || piece.front() == '\t'))
      piece.remove_prefix(1);
    while (!piece.empty() && (piece.back() == ' ' || piece.back() == '\t')) piece.remove_suffix(1);
    std::string item(piece);
    // Kafka's topic names are printable ASCII: any other byte names no topic.
    if (std::any_of(item.begin(), item.end(), [](char c) {
          auto u = static_cast<unsigned char>(c);
          return u < 0x20 || u >= 0x7F;
        })) {
      *error =
          "a position item holds a byte that is not printable ASCII (a control character, "
          "or not ASCII): no Kafka topic is named so";
      return false;
    }
    size_t c2 = item.rfind(':');
    size_t c1 = c2 == std::string::npos || c2 == 0 ? std::string::npos : item.rfind(':', c2 - 1);
    if (c1 == std::string::npos || c1 == 0) {
      *error = "position item '" + item + "' is not TOPIC:PARTITION:OFFSET";
      return false;
    }
    std::string part = item.substr(c1 + 1, c2 - c1 - 1);
    std::string off = item.substr(c2 + 1);
    if (part.empty() || off.empty() || part.size() > 9 || off.size() > 18 ||
        part.find_first_not_of("0123456789") != std::string::npos ||
        off.find_first_not_of("0123456789") != std::string::npos) {
      *error = "position item '" + item + "' is not TOPIC:PARTITION:OFFSET";
      return false;
    }
    // A partition named twice counts with its larger offset: a position is "at least these
    // offsets" (a client merging its delivery reports may repeat a partition).
    int64_t& at = (*out)[TopicPartition{item.substr(0, c1), std::stoi(part)}];
    at = std::max<int64_t>(at, std::stoll(off));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return true;
}

std::string Position::ToString() const {
  std::string s;
  for (const auto& [tp, off] : next_) {
    if (!s.empty()) s.push_back(',');
    s += tp.topic;
    s.push_back(':');
    s += std::to_string(tp.partition);
    s.push_back(':');
    s += std::to_string(off);
  }
  return s;
}

bool Position::Reached(const Position& required) const {
  for (const auto& [tp, off] : required) {
    if (NextOf(tp) < off) return false;
  }
  return true;
}

Offset Position::NextOf(const TopicPartition& tp) const {
  auto it = next_.find(tp);
  return it == next_.end() ? 0 : it->second;
}

}  // namespace projd
