// The one hash of a key or event id that every table of the apply path uses: the batch's row
// map (RowMap) and id set (StringSet), and the dedupe id filter (IdFilter). The reader
// computes it once per event (ReadEvent::key_hash, id_hash) and each table takes it as given,
// so they must agree; this is where they do.
#ifndef PROJD_STORE_KEY_HASH_H_
#define PROJD_STORE_KEY_HASH_H_

#include <cstdint>
#include <functional>
#include <string_view>

namespace projd {

inline uint64_t KeyHash(std::string_view s) { return std::hash<std::string_view>()(s); }

}  // namespace projd

#endif  // PROJD_STORE_KEY_HASH_H_
