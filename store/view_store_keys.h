// Inside store/: the keys and values of a view's tables as ViewStore writes and reads them
// (store/README.md has the layout): history keys, dedupe id keys, row versions and index
// entries. Defined in view_store_keys.cc; used by view_store.cc (the writer) and
// view_store_read.cc (the readers). Nothing outside store/ but its tests includes this.
#ifndef PROJD_STORE_VIEW_STORE_KEYS_H_
#define PROJD_STORE_VIEW_STORE_KEYS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "dsl/value.h"
#include "store/records.h"

namespace projd {
namespace view_store_keys {

// History keys: 4-byte big-endian key length, the row key, 8-byte big-endian sequence. The top
// bit of the length marks a row key kept as its first bytes and its digest.
constexpr uint32_t kLongHistoryKey = 0x80000000u;
// A row key too long for a whole history key.
bool LongHistoryKey(const std::string& key);
// The prefix of the history keys of a row's versions.
std::string HistoryPrefix(const std::string& key);

// The key of the dedupe table for an event id, assigned to *key (its room reused); PlainId:
// the id is its own key.
void IdKeyOf(std::string_view id, std::string* key);
bool PlainId(std::string_view id);

// A view key that fits an LMDB key.
bool ValidKey(std::string_view key);

// A history version: exists byte · row record (written by EncodeHistoryVersion, records.h).
bool DecodeVersion(std::string_view in, RowRecord* out);

// Index keys: u16 field length · field · encoded value · row key (see view_store_keys.cc).
std::string IndexPrefix(const std::string& field);
enum class Bound { kExact, kLower, kUpper };
// IndexEncode, and for range bounds the lowest or highest encoding of a cut text.
std::string EncodeIndexValue(const Value& v, Bound bound);
// Length of the encoded value at the start of s.
size_t EncodedValueLength(std::string_view s);
// Bytes of a row key kept in an index entry whose head (prefix and value) has head_size bytes.
size_t IndexKeyRoom(size_t head_size);
// The index entry (LMDB key and value) of a row key under `head` (prefix and encoded value).
void IndexEntry(const std::string& head, const std::string& row_key, std::string* key,
                std::string* value);

}  // namespace view_store_keys
}  // namespace projd

#endif  // PROJD_STORE_VIEW_STORE_KEYS_H_
