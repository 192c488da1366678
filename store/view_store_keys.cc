// The keys and values of a view's tables (store/README.md): history keys, dedupe id keys, row
// versions, index entries and their value encoding, offset keys and correlation prefixes. User
// values too long for an LMDB key are kept as their first bytes and their SHA-256.
#include "store/view_store_keys.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cstring>

#include "dsl/limits.h"
#include "store/view_store.h"

namespace projd {
namespace view_store_keys {
namespace {

// The 32-byte SHA-256 digest of s: what stands for the part of a user value that does not fit
// in an LMDB key.
std::string Digest(std::string_view s) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), md);
  return std::string(reinterpret_cast<const char*>(md), sizeof(md));
}
constexpr size_t kDigestBytes = SHA256_DIGEST_LENGTH;

}  // namespace

// History keys: 4-byte big-endian key length, the row key, 8-byte big-endian sequence, so a
// row's versions are adjacent and in the order they were made. A row key too long for that
// (over kHistoryKeyInline bytes) is written as its first bytes and its digest, with the top bit
// of the length set, and the entry of sequence 0 under that prefix holds the whole key.
constexpr size_t kHistoryKeyInline = kMaxKeyBytes - 4 - 8;
constexpr size_t kHistoryKeyHead = kHistoryKeyInline - kDigestBytes;

bool LongHistoryKey(const std::string& key) { return key.size() > kHistoryKeyInline; }

std::string HistoryPrefix(const std::string& key) {
  std::string k;
  uint32_t n = static_cast<uint32_t>(key.size());
  if (LongHistoryKey(key)) n |= kLongHistoryKey;
  for (int i = 3; i >= 0; --i) k.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
  if (LongHistoryKey(key)) {
    k.append(key, 0, kHistoryKeyHead);
    k += Digest(key);
  } else {
    k += key;
  }
  return k;
}

// The key of the dedupe table for an event id: the id itself, or its first bytes and its digest
// when it is empty or too long for an LMDB key (a length no plain id has).
constexpr size_t kIdHead = kMaxKeyBytes - kDigestBytes;
bool PlainId(std::string_view id) { return !id.empty() && id.size() < kIdHead; }
void IdKeyOf(std::string_view id, std::string* key) {
  key->assign(id.substr(0, kIdHead));
  if (!PlainId(id)) *key += Digest(id);
}

bool ValidKey(std::string_view key) { return !key.empty() && key.size() <= kMaxKeyBytes; }

bool DecodeVersion(std::string_view in, RowRecord* out) {
  if (in.empty()) return false;
  bool exists = in[0] == 1;
  if (!DecodeRow(in.substr(1), out)) return false;
  out->exists = exists;
  return true;
}

// Index keys: u16 field length · field · IndexEncode(value) · row key. The encoded value is
// self-delimiting, so the row key follows it unambiguously. An entry that would not fit in an
// LMDB key (a long row key) is written with the row key's first bytes and its digest instead,
// and the entry's value holds the whole row key (the value is empty otherwise).
std::string IndexPrefix(const std::string& field) {
  std::string k;
  k.push_back(static_cast<char>((field.size() >> 8) & 0xFF));
  k.push_back(static_cast<char>(field.size() & 0xFF));
  k += field;
  return k;
}

// Escaped text bytes kept whole in an index key; a longer text is cut and ends with its digest.
constexpr size_t kIndexValueInline = 160;

// IndexEncode, and for range bounds: a cut text bound stands for every text with the same first
// bytes (the digest replaced by the lowest or highest 32 bytes), so that a range never misses
// an entry whose cut text equals the bound's.
std::string EncodeIndexValue(const Value& v, Bound bound) {
  std::string out;
  auto bytes = [&out, bound](std::string_view s) {
    size_t start = out.size();
    size_t i = 0;
    for (; i < s.size(); ++i) {
      size_t need = s[i] == 0 ? 2 : 1;
      if (out.size() - start + need > kIndexValueInline) break;
      out.push_back(s[i]);
      if (s[i] == 0) out.push_back(1);  // 0 -> 00 01, so 00 00 can end the string
    }
    out.push_back(0);
    if (i == s.size()) {
      out.push_back(0);
      return;
    }
    out.push_back(2);  // cut: 00 02 and the digest of the whole text
    if (bound == Bound::kExact) {
      out += Digest(s);
    } else {
      out.append(kDigestBytes, bound == Bound::kLower ? '\0' : '\xff');
    }
  };
  switch (v.type()) {
    case Value::Type::kNull:
      out.push_back(0);
      break;
    case Value::Type::kBool:
      out.push_back(v.as_bool() ? 2 : 1);
      break;
    case Value::Type::kNumber: {
      out.push_back(3);
      // Two's complement with the sign bit flipped sorts as unsigned bytes.
      unsigned __int128 u = static_cast<unsigned __int128>(v.as_number().raw()) ^
                            (static_cast<unsigned __int128>(1) << 127);
      for (int i = 15; i >= 0; --i) out.push_back(static_cast<char>((u >> (8 * i)) & 0xFF));
      break;
    }
    case Value::Type::kString:
      out.push_back(4);
      bytes(v.as_string());
      break;
    default:
      out.push_back(5);
      bytes(ToJson(v));
      break;
  }
  return out;
}

// Length of the encoded value at the start of s.
size_t EncodedValueLength(std::string_view s) {
  if (s.empty()) return 0;
  char tag = s[0];
  if (tag == 0 || tag == 1 || tag == 2) return 1;
  if (tag == 3) return 17;
  for (size_t i = 1; i + 1 < s.size(); ++i) {
    if (s[i] == 0) {
      if (s[i + 1] == 0) return i + 2;
      if (s[i + 1] == 2) return std::min(s.size(), i + 2 + kDigestBytes);
      ++i;  // an escaped 0
    }
  }
  return s.size();
}

// Bytes of a row key kept in an index entry whose head (prefix and value) has head_size bytes:
// row keys up to that many bytes are kept whole.
size_t IndexKeyRoom(size_t head_size) {
  return head_size + kDigestBytes >= kMaxKeyBytes ? 0 : kMaxKeyBytes - head_size - kDigestBytes;
}

// The index entry (LMDB key and value) of a row key under `head` (prefix and encoded value).
void IndexEntry(const std::string& head, const std::string& row_key, std::string* key,
                std::string* value) {
  *key = head;
  value->clear();
  if (head.size() + row_key.size() <= kMaxKeyBytes) {
    *key += row_key;
    return;
  }
  key->append(row_key, 0, IndexKeyRoom(head.size()));
  *key += Digest(row_key);
  *value = row_key;
}

}  // namespace view_store_keys

using view_store_keys::Bound;
using view_store_keys::Digest;
using view_store_keys::EncodeIndexValue;

// The correlation index's key prefix for an id: u16 length · the id, or for an id over 400
// bytes, u16 (length | 0x8000) · its first 360 bytes · its SHA-256 (then applied ms and the
// change sequence follow, both u64 big-endian).
std::string CorrelationPrefix(const std::string& id) {
  constexpr size_t kInline = 400, kHead = 360;
  std::string k;
  bool long_id = id.size() > kInline;
  uint16_t n = static_cast<uint16_t>(std::min<size_t>(id.size(), 0x7FFF) | (long_id ? 0x8000 : 0));
  k.push_back(static_cast<char>(n >> 8));
  k.push_back(static_cast<char>(n & 0xFF));
  if (!long_id) return k + id;
  return k + id.substr(0, kHead) + Digest(id);
}

std::string IndexEncode(const Value& v) { return EncodeIndexValue(v, Bound::kExact); }

std::string EncodeOffsetKey(const TopicPartition& tp) {
  std::string k = tp.topic;
  k.push_back('\0');
  uint32_t p = static_cast<uint32_t>(tp.partition);
  for (int i = 3; i >= 0; --i) k.push_back(static_cast<char>((p >> (8 * i)) & 0xFF));
  return k;
}

bool DecodeOffsetKey(std::string_view key, TopicPartition* tp) {
  size_t z = key.find('\0');
  if (z == std::string_view::npos || key.size() != z + 5) return false;
  tp->topic = std::string(key.substr(0, z));
  uint32_t p = 0;
  for (size_t i = z + 1; i < key.size(); ++i) p = (p << 8) | static_cast<uint8_t>(key[i]);
  tp->partition = static_cast<int32_t>(p);
  return true;
}

}  // namespace projd
