// A set of strings made for many short keys (event ids for dedupe): open addressing over
// 64-bit hashes in one flat array, the strings packed in one arena. A lookup of an absent key
// touches one cache line of the table (no node, no string), which is what replaying millions of
// events with `dedupe` spends its time on.
//
// Thread-safety: none; one owner.
#ifndef PROJD_ENGINE_STRING_SET_H_
#define PROJD_ENGINE_STRING_SET_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace projd {

class StringSet {
 public:
  StringSet() = default;

  // Adds `s`; false when it was already there.
  bool Insert(std::string_view s) { return Insert(s, Hash(s)); }
  // The same with Hash(s) known already.
  bool Insert(std::string_view s, uint64_t hash);
  bool Contains(std::string_view s) const;
  // Removes `s`; false when it was not there. (Its bytes stay in the arena until Clear.)
  bool Erase(std::string_view s);
  void Clear();

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // The hash the set uses for `s` (KeyHash, the one the row map and id filter use too), and a hint
  // to fetch its slot for a lookup a few events ahead (a large set does not fit in the cache).
  static uint64_t Hash(std::string_view s);
  void Prefetch(uint64_t hash) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[hash & (slots_.size() - 1)]);
  }

  // Calls f(std::string_view) for every member, in no particular order.
  template <typename F>
  void ForEach(F&& f) const {
    for (const Slot& s : slots_) {
      if (s.ref != 0) f(At(s.ref));
    }
  }
  // Calls f(std::string_view, uint64_t hash) for every member, in no particular order.
  template <typename F>
  void ForEachHashed(F&& f) const {
    for (const Slot& s : slots_) {
      if (s.ref != 0) f(At(s.ref), s.hash);
    }
  }

 private:
  struct Slot {
    uint64_t hash = 0;
    uint64_t ref = 0;  // 0: empty; else 1 + the offset of the entry in arena_
  };

  static bool Used(const Slot& s);  // holds a key
  // An arena entry: a 4-byte length, then the bytes.
  std::string_view At(uint64_t ref) const {
    uint32_t n;
    std::memcpy(&n, arena_.data() + ref - 1, sizeof n);
    return std::string_view(arena_.data() + ref - 1 + sizeof n, n);
  }
  // The slot holding `s`, or the empty slot where it would go.
  size_t Probe(std::string_view s, uint64_t hash) const;
  void Grow();

  std::vector<Slot> slots_;  // a power of two in size, at most half full
  std::string arena_;
  size_t size_ = 0;
};

}  // namespace projd

#endif  // PROJD_ENGINE_STRING_SET_H_
