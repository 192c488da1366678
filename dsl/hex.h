// Lower-case hexadecimal: the opaque cursors of the HTTP API (a key, or a query's JSON cursor)
// and digests are written with HexEncode and read back with HexDecode.
#ifndef PROJD_DSL_HEX_H_
#define PROJD_DSL_HEX_H_

#include <string>
#include <string_view>

namespace projd {

inline std::string HexEncode(std::string_view bytes) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

// false when `hex` is not an even number of lower-case hex digits.
inline bool HexDecode(std::string_view hex, std::string* out) {
  if (hex.size() % 2 != 0) return false;
  auto digit = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  out->clear();
  out->reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = digit(hex[i]), lo = digit(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
  }
  return true;
}

}  // namespace projd

#endif  // PROJD_DSL_HEX_H_
