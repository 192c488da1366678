// Limits the language promises and the store enforces.
#ifndef PROJD_DSL_LIMITS_H_
#define PROJD_DSL_LIMITS_H_

#include <cstddef>

namespace projd {

// The longest view key, in bytes (LMDB's key limit); an empty or longer key is an event error.
constexpr size_t kMaxKeyBytes = 511;

// The longest string a handler or query makes (`+`, concat()), and the most a value pushed
// onto a list may hold (its strings' bytes, its elements counted a few bytes each): beyond it,
// an event error. Rows cannot grow without end (`s = s + s` per event would exhaust memory).
constexpr size_t kMaxValueBytes = size_t{64} << 20;
// The deepest list a push makes (lists in lists: `push l l`), as deep as an event may nest.
constexpr int kMaxValueDepth = 64;

// The longest projection name (it names the view's folder) and the longest name of an indexed
// field (it heads each of the index's LMDB keys), in bytes: longer ones are load-time errors.
constexpr size_t kMaxNameBytes = 128;

// The most rows one query answer holds (its `limit` at most); more are paged with next_cursor.
constexpr size_t kMaxQueryRows = 10000;

}  // namespace projd

#endif  // PROJD_DSL_LIMITS_H_
