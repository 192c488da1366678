// A filter of the dedupe ids a view store holds (ViewStore::SeenId): a blocked Bloom filter, so
// that the usual answer for a new event — "never seen" — needs no B-tree lookup.
//
// MayContain is false only for a key never added (no false negatives); it is true for about
// one key in a few hundred per level that was not (false positives, which the caller then
// looks up). The filter grows as keys are added, in levels that each hold twice the keys of the
// one before, 12 bits per key; a key is added to the newest level and looked for in all of them.
// A filter filled with a known number of keys reserves its first level for them (one level to
// test, and its false positives only).
//
// Thread-safety: none; one owner (the view's applying thread).
#ifndef PROJD_STORE_ID_FILTER_H_
#define PROJD_STORE_ID_FILTER_H_

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "store/key_hash.h"

namespace projd {

class IdFilter {
 public:
  // Makes the first level take `keys` keys, before the first Add: a filter filled from a table
  // of known size then tests one block per key instead of one per doubling past 65,536.
  void Reserve(size_t keys);
  void Add(std::string_view key) { AddHashed(KeyHash(key)); }
  bool MayContain(std::string_view key) const { return MayContainHashed(KeyHash(key)); }
  // The same for a key whose KeyHash is known already.
  void AddHashed(uint64_t hash);
  bool MayContainHashed(uint64_t hash) const;
  // Asks for the blocks MayContain will test for a key whose KeyHash is `hash`, for a
  // lookup a few events ahead (the filter is larger than the cache).
  void Prefetch(uint64_t hash) const;
  void Clear();

  size_t size() const { return size_; }  // keys added
  size_t bytes() const;                  // memory of the bit arrays
  size_t levels() const { return levels_.size(); }

 private:
  // One 512-bit block (a cache line) per key: the key's bits all lie in it.
  struct Block {
    uint64_t words[8];
  };
  struct Level {
    std::vector<Block> blocks;
    size_t capacity = 0;  // keys it takes before the next level starts
    size_t count = 0;
  };
  static uint64_t Mix(uint64_t hash);
  static bool Test(const Level& level, uint64_t h);
  void AddLevel(size_t capacity);

  std::vector<Level> levels_;
  size_t size_ = 0;
};

}  // namespace projd

#endif  // PROJD_STORE_ID_FILTER_H_
