// Limits the language promises and the store enforces.
#ifndef PROJD_DSL_LIMITS_H_
#define PROJD_DSL_LIMITS_H_

#include <cstddef>

namespace projd {

// The longest view key, in bytes (LMDB's key limit); an empty or longer key is an event error.
constexpr size_t kMaxKeyBytes = 511;

}  // namespace projd

#endif  // PROJD_DSL_LIMITS_H_
