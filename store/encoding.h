// The small encodings the store's records and keys are made of (store/README.md): varint-length
// strings and big-endian integers (sequence keys sort in number order).
#ifndef PROJD_STORE_ENCODING_H_
#define PROJD_STORE_ENCODING_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "dsl/varint.h"

namespace projd {

inline void PutString(std::string* out, std::string_view s) {
  PutVarint(out, s.size());
  out->append(s);
}

// PutString in two steps, for encoders that size their output first: the bytes it takes, and
// the string written at p (that much room made), returning the end.
inline size_t StringSize(std::string_view s) { return VarintSize(s.size()) + s.size(); }
inline char* WriteString(char* p, std::string_view s) {
  return WriteBytes(WriteVarint(p, s.size()), s);
}

inline bool GetString(std::string_view* in, std::string_view* s) {
  uint64_t n;
  if (!GetVarint(in, &n) || n > in->size()) return false;
  *s = in->substr(0, n);
  in->remove_prefix(n);
  return true;
}

inline bool GetString(std::string_view* in, std::string* s) {
  std::string_view v;
  if (!GetString(in, &v)) return false;
  s->assign(v.data(), v.size());
  return true;
}

inline std::string BigEndian64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 7; i >= 0; --i) {
    s[static_cast<size_t>(i)] = static_cast<char>(v & 0xFF);
    v >>= 8;
  }
  return s;
}

inline uint64_t ReadBigEndian64(std::string_view s) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < s.size(); ++i) v = (v << 8) | static_cast<uint8_t>(s[i]);
  return v;
}

}  // namespace projd

#endif  // PROJD_STORE_ENCODING_H_
