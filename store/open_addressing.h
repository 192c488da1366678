// Linear probing over a power-of-two table of slots that carry their key's 64-bit hash, as
// StringSet and RowMap keep them: the removal and the growth both need, whatever a slot points
// to. A Slot has a `hash` member and is empty when default-constructed; `used(slot)` tells
// whether it holds a key.
#ifndef PROJD_STORE_OPEN_ADDRESSING_H_
#define PROJD_STORE_OPEN_ADDRESSING_H_

#include <cstddef>
#include <vector>

namespace projd {
namespace open_addressing {

// Empties slot `hole` (whose key is already released) by backward-shift deletion: later slots of
// its probe run move into the hole when their home slot does not lie (cyclically) between the
// hole and where they are, so that every key stays on its probe run.
template <typename Slot, typename Used>
void EraseAt(std::vector<Slot>* slots, size_t hole, Used used) {
  std::vector<Slot>& s = *slots;
  const size_t mask = s.size() - 1;
  for (size_t i = (hole + 1) & mask; used(s[i]); i = (i + 1) & mask) {
    size_t home = s[i].hash & mask;
    bool movable = hole <= i ? (home <= hole || home > i) : (home <= hole && home > i);
    if (movable) {
      s[hole] = s[i];
      hole = i;
    }
  }
  s[hole] = Slot();
}

// Doubles the table (16 slots at first) and puts every used slot back on its probe run.
template <typename Slot, typename Used>
void Grow(std::vector<Slot>* slots, Used used) {
  std::vector<Slot> old;
  old.swap(*slots);
  slots->assign(old.empty() ? 16 : old.size() * 2, Slot());
  const size_t mask = slots->size() - 1;
  for (const Slot& s : old) {
    if (!used(s)) continue;
    size_t i = s.hash & mask;
    while (used((*slots)[i])) i = (i + 1) & mask;
    (*slots)[i] = s;
  }
}

}  // namespace open_addressing
}  // namespace projd

#endif  // PROJD_STORE_OPEN_ADDRESSING_H_
