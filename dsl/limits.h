// Limits the language promises and the store enforces.
#ifndef PROJD_DSL_LIMITS_H_
#define PROJD_DSL_LIMITS_H_

#include <cstddef>

namespace projd {

// The longest view key, in bytes (LMDB's key limit); an empty or longer key is an event error.
constexpr size_t kMaxKeyBytes = 511;

// The most rows one query answer holds (its `limit` at most); more are paged with next_cursor.
constexpr size_t kMaxQueryRows = 10000;

}  // namespace projd

#endif  // PROJD_DSL_LIMITS_H_
