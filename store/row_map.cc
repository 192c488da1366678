#include "store/row_map.h"

#include <algorithm>
#include <stdexcept>

#include "store/key_hash.h"
#include "store/open_addressing.h"
#include "store/records.h"

namespace projd {

RowMap::~RowMap() { Destroy(); }

RowMap::RowMap(RowMap&& o) noexcept : slots_(std::move(o.slots_)), size_(o.size_) {
  o.slots_.clear();
  o.size_ = 0;
}

RowMap& RowMap::operator=(RowMap&& o) noexcept {
  if (this != &o) {
    Destroy();
    slots_ = std::move(o.slots_);
    size_ = o.size_;
    o.slots_.clear();
    o.size_ = 0;
  }
  return *this;
}

bool RowMap::Used(const Slot& s) { return s.entry != nullptr; }

uint64_t RowMap::Hash(std::string_view key) { return KeyHash(key); }

size_t RowMap::Probe(std::string_view key, uint64_t hash) const {
  const size_t mask = slots_.size() - 1;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& slot = slots_[i];
    if (slot.entry == nullptr) return i;
    if (slot.hash == hash && slot.entry->first == key) return i;
  }
}

void RowMap::PrefetchEntry(uint64_t hash) const {
  if (slots_.empty()) return;
  const Slot& slot = slots_[hash & (slots_.size() - 1)];
  if (slot.hash == hash && slot.entry) __builtin_prefetch(slot.entry);
}

RowMap::iterator RowMap::find(std::string_view key, uint64_t hash) {
  if (size_ == 0) return end();
  size_t i = Probe(key, hash);
  if (slots_[i].entry == nullptr) return end();
  return iterator(slots_.data() + i, slots_.data() + slots_.size());
}

RowMap::const_iterator RowMap::find(std::string_view key) const {
  if (size_ == 0) return end();
  size_t i = Probe(key, Hash(key));
  if (slots_[i].entry == nullptr) return end();
  return const_iterator(slots_.data() + i, slots_.data() + slots_.size());
}

std::pair<RowMap::iterator, bool> RowMap::emplace(std::string_view key, uint64_t hash,
                                                  RowRecord&& row) {
  if ((size_ + 1) * 2 > slots_.size()) Grow();
  size_t i = Probe(key, hash);
  Slot& slot = slots_[i];
  bool added = slot.entry == nullptr;
  if (added) {
    slot.entry = new value_type(std::piecewise_construct, std::forward_as_tuple(key),
                                std::forward_as_tuple(std::move(row)));
    slot.hash = hash;
    ++size_;
  }
  return {iterator(slots_.data() + i, slots_.data() + slots_.size()), added};
}

RowRecord& RowMap::at(std::string_view key) {
  auto it = find(key);
  if (it == end()) throw std::out_of_range("RowMap::at: no row " + std::string(key));
  return it->second;
}

const RowRecord& RowMap::at(std::string_view key) const {
  auto it = find(key);
  if (it == end()) throw std::out_of_range("RowMap::at: no row " + std::string(key));
  return it->second;
}

void RowMap::erase(const_iterator it) {
  if (it.at_ == it.end_ || it.at_->entry == nullptr) return;
  size_t hole = static_cast<size_t>(it.at_ - slots_.data());
  delete slots_[hole].entry;
  open_addressing::EraseAt(&slots_, hole, Used);
  --size_;
}

void RowMap::Destroy() {
  if (size_ == 0) return;
  for (Slot& s : slots_) {
    delete s.entry;
    s = Slot();
  }
  size_ = 0;
}

void RowMap::clear() { Destroy(); }

void RowMap::Grow() { open_addressing::Grow(&slots_, Used); }

}  // namespace projd
