// Where a consumer stands in its logs: partitions of topics, offsets in them, and positions
// (the next offset to apply per partition). The text form of a position,
// TOPIC:PARTITION:OFFSET,..., is what X-Projd-Position shows and min_position takes.
#ifndef PROJD_CONNECTORS_POSITION_H_
#define PROJD_CONNECTORS_POSITION_H_

#include <map>
#include <string>
#include <string_view>

#include "dsl/event_meta.h"

namespace projd {

// A partition of a topic.
struct TopicPartition {
  std::string topic;
  Partition partition = 0;
  bool operator<(const TopicPartition& o) const {
    return topic != o.topic ? topic < o.topic : partition < o.partition;
  }
  bool operator==(const TopicPartition& o) const {
    return topic == o.topic && partition == o.partition;
  }
};

// Per partition, the next offset to apply: every offset below it is applied. A partition that
// is not listed is at offset 0.
class Position {
 public:
  using Map = std::map<TopicPartition, Offset>;

  Position() = default;
  explicit Position(Map next) : next_(std::move(next)) {}

  // Parses TOPIC:PARTITION:OFFSET,... (topics may hold ':'; the last two fields are numbers).
  // false with *error naming the item that is not one.
  static bool Parse(std::string_view text, Position* out, std::string* error);
  // TOPIC:PARTITION:OFFSET,... in partition order; "" for an empty position.
  std::string ToString() const;

  // Whether every offset below `required` is applied here.
  bool Reached(const Position& required) const;
  // The next offset to apply on a partition (0 when it is not listed).
  Offset NextOf(const TopicPartition& tp) const;

  // The map underneath, for iteration and updates.
  Offset& operator[](const TopicPartition& tp) { return next_[tp]; }
  Map::const_iterator begin() const { return next_.begin(); }
  Map::const_iterator end() const { return next_.end(); }
  Map::const_iterator find(const TopicPartition& tp) const { return next_.find(tp); }
  Map::iterator find(const TopicPartition& tp) { return next_.find(tp); }
  Map::iterator end() { return next_.end(); }
  Map::iterator begin() { return next_.begin(); }
  const Offset& at(const TopicPartition& tp) const { return next_.at(tp); }
  size_t count(const TopicPartition& tp) const { return next_.count(tp); }
  bool empty() const { return next_.empty(); }
  size_t size() const { return next_.size(); }
  void clear() { next_.clear(); }
  const Map& map() const { return next_; }
  bool operator==(const Position& o) const { return next_ == o.next_; }
  bool operator!=(const Position& o) const { return next_ != o.next_; }

 private:
  Map next_;
};

}  // namespace projd

#endif  // PROJD_CONNECTORS_POSITION_H_
