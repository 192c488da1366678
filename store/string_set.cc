#include "store/string_set.h"

#include <algorithm>
#include <stdexcept>

#include "store/key_hash.h"
#include "store/open_addressing.h"

namespace projd {

bool StringSet::Used(const Slot& s) { return s.ref != 0; }

uint64_t StringSet::Hash(std::string_view s) { return KeyHash(s); }

size_t StringSet::Probe(std::string_view s, uint64_t hash) const {
  const size_t mask = slots_.size() - 1;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& slot = slots_[i];
    if (slot.ref == 0) return i;
    if (slot.hash == hash && At(slot.ref) == s) return i;
  }
}

bool StringSet::Contains(std::string_view s) const {
  if (size_ == 0) return false;
  return slots_[Probe(s, Hash(s))].ref != 0;
}

bool StringSet::Insert(std::string_view s, uint64_t hash) {
  if (s.size() > UINT32_MAX) throw std::length_error("StringSet: member too long");
  if ((size_ + 1) * 2 > slots_.size()) Grow();
  Slot& slot = slots_[Probe(s, hash)];
  if (slot.ref != 0) return false;
  uint32_t n = static_cast<uint32_t>(s.size());
  slot.hash = hash;
  slot.ref = arena_.size() + 1;
  arena_.append(reinterpret_cast<const char*>(&n), sizeof n);
  arena_.append(s.data(), s.size());
  ++size_;
  return true;
}

bool StringSet::Erase(std::string_view s) {
  if (size_ == 0) return false;
  size_t hole = Probe(s, Hash(s));
  if (slots_[hole].ref == 0) return false;
  open_addressing::EraseAt(&slots_, hole, Used);
  --size_;
  return true;
}

void StringSet::Clear() {
  // Keeps the table's size: the next batch is usually as large as this one.
  if (size_ != 0) std::fill(slots_.begin(), slots_.end(), Slot());
  arena_.clear();
  size_ = 0;
}

void StringSet::Grow() { open_addressing::Grow(&slots_, Used); }

}  // namespace projd
