// The rows a batch has touched, by key (Batch::rows): open addressing over 64-bit hashes in one
// flat array, as StringSet, each slot pointing to its entry. An entry stays where it is until
// it is erased or the map cleared, so pointers to entries (Batch::dirty) stay valid while the
// map grows. A lookup reads one slot and, when the hash matches, the entry's key: one cache
// miss where std::unordered_map takes three or four (the bucket, the node before, the node's
// cached hash at its end, its key), which is what applying a batch spent a seventh of its
// time on.
//
// Thread-safety: none; one owner.
#ifndef PROJD_STORE_ROW_MAP_H_
#define PROJD_STORE_ROW_MAP_H_

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace projd {

struct RowRecord;  // store/records.h

class RowMap {
 public:
  using value_type = std::pair<const std::string, RowRecord>;

 private:
  struct Slot {
    uint64_t hash = 0;
    value_type* entry = nullptr;  // nullptr: empty
  };

 public:
  // Visits the entries in no particular order.
  template <bool kConst>
  class Iter {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = RowMap::value_type;
    using difference_type = std::ptrdiff_t;
    using reference = std::conditional_t<kConst, const value_type&, value_type&>;
    using pointer = std::conditional_t<kConst, const value_type*, value_type*>;

    Iter() = default;
    // An iterator over the entries converts to one over const entries.
    // NOLINTNEXTLINE(google-explicit-constructor)
    operator Iter<true>() const { return Iter<true>(at_, end_); }
    reference operator*() const { return *at_->entry; }
    pointer operator->() const { return at_->entry; }
    Iter& operator++() {
      ++at_;
      Skip();
      return *this;
    }
    Iter operator++(int) {
      Iter old = *this;
      ++*this;
      return old;
    }
    bool operator==(const Iter& o) const { return at_ == o.at_; }
    bool operator!=(const Iter& o) const { return at_ != o.at_; }

   private:
    friend class RowMap;
    template <bool>
    friend class Iter;
    Iter(const Slot* at, const Slot* end) : at_(at), end_(end) { Skip(); }
    void Skip() {
      while (at_ != end_ && at_->entry == nullptr) ++at_;
    }
    const Slot* at_ = nullptr;
    const Slot* end_ = nullptr;
  };
  using iterator = Iter<false>;
  using const_iterator = Iter<true>;

  RowMap() = default;
  ~RowMap();
  RowMap(const RowMap&) = delete;
  RowMap& operator=(const RowMap&) = delete;
  RowMap(RowMap&& o) noexcept;
  RowMap& operator=(RowMap&& o) noexcept;

  iterator begin() { return iterator(slots_.data(), slots_.data() + slots_.size()); }
  iterator end() { return iterator(slots_.data() + slots_.size(), slots_.data() + slots_.size()); }
  const_iterator begin() const {
    return const_iterator(slots_.data(), slots_.data() + slots_.size());
  }
  const_iterator end() const {
    return const_iterator(slots_.data() + slots_.size(), slots_.data() + slots_.size());
  }

  iterator find(std::string_view key) { return find(key, Hash(key)); }
  const_iterator find(std::string_view key) const;
  // Adds an entry for `key` holding `row` (moved from) unless there is one: the entry, and
  // whether it was added.
  std::pair<iterator, bool> emplace(std::string_view key, RowRecord&& row) {
    return emplace(key, Hash(key), std::move(row));
  }
  // The same with the key's Hash known already (a reader computed it ahead).
  iterator find(std::string_view key, uint64_t hash);
  std::pair<iterator, bool> emplace(std::string_view key, uint64_t hash, RowRecord&& row);
  // The entry's row; throws std::out_of_range when there is none.
  RowRecord& at(std::string_view key);
  const RowRecord& at(std::string_view key) const;
  // Removes the entry `it` points to (pointers to other entries stay valid).
  void erase(const_iterator it);
  // Removes every entry; the table keeps its size (the next batch is usually as large).
  void clear();

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // The hash find() and emplace() use for `key`: KeyHash, the one the id set and filter use too.
  static uint64_t Hash(std::string_view key);
  // Hints for a lookup of a key of this hash a few events ahead (the table is larger than the
  // cache): PrefetchSlot asks for its slot; PrefetchEntry, later, for the entry that slot
  // holds when its hash matches.
  void PrefetchSlot(uint64_t hash) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[hash & (slots_.size() - 1)]);
  }
  void PrefetchEntry(uint64_t hash) const;

 private:
  static bool Used(const Slot& s);  // holds a key
  // The slot holding `key`, or the empty slot where it would go (the table is never full).
  size_t Probe(std::string_view key, uint64_t hash) const;
  void Grow();
  void Destroy();

  std::vector<Slot> slots_;  // a power of two in size, at most half full
  size_t size_ = 0;
};

}  // namespace projd

#endif  // PROJD_STORE_ROW_MAP_H_
