// LEB128 varints (and zig-zag signed ones): the integers of projd's binary encodings (values in
// dsl/value_binary.cc, rows and dead letters in store/records.cc).
#ifndef PROJD_DSL_VARINT_H_
#define PROJD_DSL_VARINT_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace projd {

inline void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

// The bytes PutVarint appends for v.
inline size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// PutVarint through a pointer into room already made (VarintSize bytes); returns the end.
inline char* WriteVarint(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

// Copies s's bytes to p, where room is made; returns the end (the byte-copying counterpart of
// WriteVarint, for encoders that size their output first). Most are short (member names, keys,
// ids, currency codes): up to 16 bytes are copied inline, as two fixed-size moves that may
// overlap, not through a call to memcpy (a row's encoding makes one per name and string).
inline char* WriteBytes(char* p, std::string_view s) {
  const size_t n = s.size();
  const char* q = s.data();
  if (n >= 8 && n <= 16) {
    uint64_t head, tail;
    std::memcpy(&head, q, 8);
    std::memcpy(&tail, q + n - 8, 8);
    std::memcpy(p, &head, 8);
    std::memcpy(p + n - 8, &tail, 8);
  } else if (n >= 4 && n < 8) {
    uint32_t head, tail;
    std::memcpy(&head, q, 4);
    std::memcpy(&tail, q + n - 4, 4);
    std::memcpy(p, &head, 4);
    std::memcpy(p + n - 4, &tail, 4);
  } else if (n > 0 && n < 4) {
    p[0] = q[0];
    p[n / 2] = q[n / 2];
    p[n - 1] = q[n - 1];
  } else if (n > 16) {
    std::memcpy(p, q, n);
  }
  return p + n;
}

// Reads a varint at *p (before `end`), moving *p past it; false when `end` comes first or the
// varint is longer than 64 bits. For decoding loops that keep their position in a local: the
// compiler can hold it in a register, where a string_view member would be stored and reloaded
// around every byte written through a char pointer.
inline bool ReadVarint(const char** p, const char* end, uint64_t* v) {
  const char* q = *p;
  if (q < end && !(static_cast<uint8_t>(*q) & 0x80)) {
    *v = static_cast<uint8_t>(*q);
    *p = q + 1;
    return true;
  }
  uint64_t result = 0;
  for (int shift = 0; shift <= 63 && q < end; shift += 7) {
    uint8_t b = static_cast<uint8_t>(*q++);
    result |= static_cast<uint64_t>(b & 0x7F) << shift;
    if (!(b & 0x80)) {
      *v = result;
      *p = q;
      return true;
    }
  }
  return false;
}

// Reads a varint from the front of *in, consuming it; false when *in ends first or the
// varint is longer than 64 bits.
inline bool GetVarint(std::string_view* in, uint64_t* v) {
  const char* p = in->data();
  if (!ReadVarint(&p, p + in->size(), v)) return false;
  in->remove_prefix(static_cast<size_t>(p - in->data()));
  return true;
}

// The zig-zag form of a signed integer (small magnitudes, small varints).
inline uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}

inline void PutSigned(std::string* out, int64_t v) { PutVarint(out, ZigZag(v)); }

inline bool GetSigned(std::string_view* in, int64_t* v) {
  uint64_t u;
  if (!GetVarint(in, &u)) return false;
  *v = static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1));
  return true;
}

}  // namespace projd

#endif  // PROJD_DSL_VARINT_H_
