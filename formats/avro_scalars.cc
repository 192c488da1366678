// The conversions of Avro's scalar and logical types to and from projd's values: base64 for
// bytes and fixed, UTF-8 checks for strings, two's-complement decimals, dates, times of day and
// timestamps, and floating point as exact decimals.
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "dsl/time.h"
#include "formats/avro_internal.h"

namespace projd {
namespace avro_internal {

namespace {

const char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

}  // namespace

void AppendBase64(const unsigned char* p, size_t n, std::string* out) {
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8) | p[i + 2];
    out->push_back(kBase64[v >> 18]);
    out->push_back(kBase64[(v >> 12) & 63]);
    out->push_back(kBase64[(v >> 6) & 63]);
    out->push_back(kBase64[v & 63]);
  }
  if (n - i == 1) {
    uint32_t v = uint32_t{p[i]} << 16;
    out->push_back(kBase64[v >> 18]);
    out->push_back(kBase64[(v >> 12) & 63]);
    out->append("==");
  } else if (n - i == 2) {
    uint32_t v = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8);
    out->push_back(kBase64[v >> 18]);
    out->push_back(kBase64[(v >> 12) & 63]);
    out->push_back(kBase64[(v >> 6) & 63]);
    out->push_back('=');
  }
}

bool DecodeBase64(std::string_view s, std::string* out) {
  out->clear();
  if (s.size() % 4 != 0) return false;
  uint32_t acc = 0;
  int bits = 0;
  size_t pad = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    int v;
    if (c == '=') {
      if (i + 2 < s.size()) return false;
      ++pad;
      continue;
    }
    if (pad) return false;
    const char* at = std::strchr(kBase64, c);
    if (c == 0 || at == nullptr) return false;
    v = static_cast<int>(at - kBase64);
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return true;
}

bool ValidUtf8(const unsigned char* s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

namespace {

__int128 Pow10(int n) {
  __int128 r = 1;
  for (int i = 0; i < n; ++i) r *= 10;
  return r;
}

const __int128 kMaxRaw = Pow10(38);  // Decimal magnitude bound 10^20, scaled by 10^18

}  // namespace

// An exact Decimal from a big-endian two's-complement unscaled integer and a scale.
bool DecimalFromTwosComplement(const unsigned char* p, size_t n, int scale, Decimal* out,
                               std::string* error) {
  if (n == 0) {
    *out = Decimal();
    return true;
  }
  bool negative = (p[0] & 0x80) != 0;
  // Only 16 bytes fit __int128: longer values must be sign extension in front.
  while (n > 16) {
    if (p[0] != (negative ? 0xFF : 0x00)) {
      *error = "decimal out of range (magnitude 10^20 or more)";
      return false;
    }
    ++p;
    --n;
  }
  if (n == 16 && ((p[0] & 0x80) != 0) != negative) {
    *error = "decimal out of range (magnitude 10^20 or more)";
    return false;
  }
  unsigned __int128 u = negative ? ~static_cast<unsigned __int128>(0) : 0;
  for (size_t i = 0; i < n; ++i) u = (u << 8) | p[i];
  __int128 v = static_cast<__int128>(u);
  if (negative && v == -static_cast<__int128>(~static_cast<unsigned __int128>(0) >> 1) - 1) {
    *error = "decimal out of range (magnitude 10^20 or more)";
    return false;
  }
  __int128 mag = v < 0 ? -v : v;
  __int128 raw;
  if (scale <= Decimal::kScale) {
    if (mag >= Pow10(20 + scale)) {
      *error = "decimal out of range (magnitude 10^20 or more)";
      return false;
    }
    raw = mag * Pow10(Decimal::kScale - scale);
  } else if (scale - Decimal::kScale > 38) {
    raw = 0;  // below half of the smallest unit at 18 places
  } else {
    __int128 div = Pow10(scale - Decimal::kScale);
    __int128 q = mag / div, r = mag % div;
    if (r * 2 > div || (r * 2 == div && (q & 1))) ++q;  // half-even
    raw = q;
  }
  if (raw >= kMaxRaw) {
    *error = "decimal out of range (magnitude 10^20 or more)";
    return false;
  }
  *out = Decimal::FromRaw(v < 0 ? -raw : raw);
  return true;
}

// The unscaled integer of `d` at `scale`, as minimal big-endian two's complement (or
// sign-extended to `width` bytes when width > 0).
bool DecimalToTwosComplement(Decimal d, int scale, int64_t width, std::string* out,
                             std::string* error) {
  __int128 raw = d.raw();
  __int128 unscaled;
  if (scale <= Decimal::kScale) {
    __int128 div = Pow10(Decimal::kScale - scale);
    if (raw % div != 0) {
      *error = "decimal " + d.ToString() + " has more than " + std::to_string(scale) +
               " digits after the point";
      return false;
    }
    unscaled = raw / div;
  } else {
    int up = scale - Decimal::kScale;
    __int128 mag = raw < 0 ? -raw : raw;
    if (up > 38 || (mag != 0 && static_cast<unsigned __int128>(mag) >
                                    (~static_cast<unsigned __int128>(0) >> 1) / Pow10(up))) {
      *error = "decimal scale " + std::to_string(scale) + " is too large to encode " + d.ToString();
      return false;
    }
    unscaled = raw * Pow10(up);
  }
  unsigned char buf[16];
  unsigned __int128 u = static_cast<unsigned __int128>(unscaled);
  for (int i = 15; i >= 0; --i) {
    buf[i] = static_cast<unsigned char>(u & 0xFF);
    u >>= 8;
  }
  int start = 0;
  bool negative = unscaled < 0;
  while (start < 15 && buf[start] == (negative ? 0xFF : 0x00) &&
         ((buf[start + 1] & 0x80) != 0) == negative) {
    ++start;
  }
  size_t len = 16 - static_cast<size_t>(start);
  out->clear();
  if (width > 0) {
    if (static_cast<int64_t>(len) > width) {
      *error = "decimal " + d.ToString() + " does not fit fixed(" + std::to_string(width) + ")";
      return false;
    }
    out->assign(static_cast<size_t>(width) - len, negative ? '\xFF' : '\0');
  }
  out->append(reinterpret_cast<const char*>(buf) + start, len);
  return true;
}

namespace {

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

}  // namespace

std::string FormatDate(int64_t days) {
  CivilTime t = ToCivil(days * 86400000);
  char buf[32];
  snprintf(buf, sizeof(buf), "%04lld-%02d-%02d", static_cast<long long>(t.year), t.month, t.day);
  return buf;
}

// "HH:MM:SS" with ".fff" or ".ffffff" when there is a fraction.
std::string FormatTimeOfDay(int64_t micros) {
  int64_t secs = FloorDiv(micros, 1000000);
  int64_t frac = micros - secs * 1000000;
  secs = ((secs % 86400) + 86400) % 86400;
  char buf[48];
  int n = snprintf(buf, sizeof(buf), "%02d:%02d:%02d", static_cast<int>(secs / 3600),
                   static_cast<int>(secs / 60 % 60), static_cast<int>(secs % 60));
  if (frac != 0) {
    if (frac % 1000 == 0) {
      snprintf(buf + n, sizeof(buf) - static_cast<size_t>(n), ".%03d",
               static_cast<int>(frac / 1000));
    } else {
      snprintf(buf + n, sizeof(buf) - static_cast<size_t>(n), ".%06d", static_cast<int>(frac));
    }
  }
  return buf;
}

std::string FormatTimestampMicros(int64_t micros) {
  int64_t ms = FloorDiv(micros, 1000);
  int64_t sub = micros - ms * 1000;
  std::string s = FormatRfc3339(ms);
  if (sub == 0) return s;
  // "...:SS[.mmm]Z" -> "...:SS.mmmuuuZ"
  s.pop_back();  // Z
  size_t dot = s.find('.', s.size() >= 4 ? s.size() - 4 : 0);
  int64_t ms_part = ((ms % 1000) + 1000) % 1000;
  if (dot != std::string::npos) s.resize(dot);
  char buf[16];
  int64_t micros_part = ms_part * 1000 + sub;  // 0 to 999999
  snprintf(buf, sizeof(buf), ".%06lld", static_cast<long long>(micros_part));
  return s + buf + "Z";
}

bool NumberFromDouble(double d, Decimal* out, std::string* error) {
  if (!std::isfinite(d)) {
    *error = "floating-point value is not a finite number";
    return false;
  }
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), d);
  std::string_view text(buf, static_cast<size_t>(r.ptr - buf));
  if (!Decimal::Parse(text, out)) {
    *error = "floating-point value " + std::string(text) + " is out of range";
    return false;
  }
  return true;
}

bool NumberFromFloat(float f, Decimal* out, std::string* error) {
  if (!std::isfinite(f)) {
    *error = "floating-point value is not a finite number";
    return false;
  }
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), f);
  std::string_view text(buf, static_cast<size_t>(r.ptr - buf));
  if (!Decimal::Parse(text, out)) {
    *error = "floating-point value " + std::string(text) + " is out of range";
    return false;
  }
  return true;
}

}  // namespace avro_internal
}  // namespace projd
