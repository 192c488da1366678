#include "store/id_filter.h"

#include <algorithm>
#include <functional>

namespace projd {
namespace {

constexpr size_t kFirstCapacity = 1 << 16;  // keys of the first level (96 KiB)
constexpr size_t kBitsPerKey = 12;
constexpr int kProbes = 6;  // bits set per key, 9 bits of the hash each

// The block of `h` among n: the high half of the hash scaled to n (no division).
size_t BlockOf(uint64_t h, size_t n) {
  return static_cast<size_t>(((h >> 32) * static_cast<uint64_t>(n)) >> 32);
}

// The bits within the block come from another mix of the hash than the block's number.
uint64_t ProbeBits(uint64_t h) { return (h ^ (h >> 29)) * 0x9e3779b97f4a7c15ULL; }

// Probe i's bit in the block (0..511), for Add and Test alike.
unsigned ProbeBit(uint64_t g, int i) { return static_cast<unsigned>(g >> (9 * i)) & 511; }

}  // namespace

uint64_t IdFilter::Mix(uint64_t h) {
  // KeyHash (std::hash's bytes hash), mixed so that every bit depends on every input bit.
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

bool IdFilter::Test(const Level& level, uint64_t h) {
  const Block& b = level.blocks[BlockOf(h, level.blocks.size())];
  uint64_t g = ProbeBits(h);
  for (int i = 0; i < kProbes; ++i) {
    unsigned bit = ProbeBit(g, i);
    if ((b.words[bit >> 6] >> (bit & 63) & 1) == 0) return false;
  }
  return true;
}

void IdFilter::AddLevel(size_t capacity) {
  Level level;
  level.capacity = capacity;
  level.blocks.assign(level.capacity * kBitsPerKey / 512 + 1, Block{});
  levels_.push_back(std::move(level));
}

void IdFilter::Reserve(size_t keys) {
  if (levels_.empty()) AddLevel(std::max(kFirstCapacity, keys));
}

void IdFilter::AddHashed(uint64_t hash) {
  if (levels_.empty()) {
    AddLevel(kFirstCapacity);
  } else if (levels_.back().count >= levels_.back().capacity) {
    AddLevel(levels_.back().capacity * 2);
  }
  Level& level = levels_.back();
  uint64_t h = Mix(hash);
  Block& b = level.blocks[BlockOf(h, level.blocks.size())];
  uint64_t g = ProbeBits(h);
  for (int i = 0; i < kProbes; ++i) {
    unsigned bit = ProbeBit(g, i);
    b.words[bit >> 6] |= uint64_t{1} << (bit & 63);
  }
  ++level.count;
  ++size_;
}

void IdFilter::Prefetch(uint64_t hash) const {
  uint64_t h = Mix(hash);
  for (const Level& level : levels_) {
    __builtin_prefetch(&level.blocks[BlockOf(h, level.blocks.size())]);
  }
}

bool IdFilter::MayContainHashed(uint64_t hash) const {
  if (levels_.empty()) return false;
  uint64_t h = Mix(hash);
  for (const Level& level : levels_) {
    if (Test(level, h)) return true;
  }
  return false;
}

void IdFilter::Clear() {
  levels_.clear();
  size_ = 0;
}

size_t IdFilter::bytes() const {
  size_t n = 0;
  for (const Level& level : levels_) n += level.blocks.size() * sizeof(Block);
  return n;
}

}  // namespace projd
