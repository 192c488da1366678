#include "dsl/decimal.h"

#include <cstring>

namespace projd {
namespace {

using u128 = unsigned __int128;

constexpr uint64_t kOne = 1000000000000000000ULL;  // 10^18, the scale factor

// 10^0 .. 10^38 as unsigned 128-bit integers.
struct Pow10Table {
  u128 v[39];
  constexpr Pow10Table() : v() {
    v[0] = 1;
    for (int i = 1; i < 39; ++i) v[i] = v[i - 1] * 10;
  }
};
constexpr Pow10Table kPow10;

// Raw magnitudes must stay below 10^38 (values below 10^20).
constexpr u128 kRawLimit = kPow10.v[38];

u128 Magnitude(__int128 raw) { return raw < 0 ? -static_cast<u128>(raw) : static_cast<u128>(raw); }

// Builds a Decimal from sign and magnitude; false when the magnitude is out of range.
bool MakeSigned(bool negative, u128 mag, Decimal* out) {
  if (mag >= kRawLimit) return false;
  __int128 raw = static_cast<__int128>(mag);
  *out = Decimal::FromRaw(negative ? -raw : raw);
  return true;
}

// Rounds quotient q half-even given remainder r of a division by d (r < d).
u128 RoundHalfEven(u128 q, u128 r, u128 d) {
  // r and d - r are both below d, so comparing them avoids computing 2*r (which may not fit).
  u128 rest = d - r;
  if (r > rest || (r == rest && (q & 1) != 0)) ++q;
  return q;
}

// A 256-bit unsigned integer as four little-endian 64-bit limbs. Only as much arithmetic as
// exact Mul and Div need.
struct U256 {
  uint64_t limb[4] = {0, 0, 0, 0};

  static U256 Mul(u128 a, u128 b) {
    uint64_t a0 = static_cast<uint64_t>(a), a1 = static_cast<uint64_t>(a >> 64);
    uint64_t b0 = static_cast<uint64_t>(b), b1 = static_cast<uint64_t>(b >> 64);
    u128 p00 = static_cast<u128>(a0) * b0;
    u128 p01 = static_cast<u128>(a0) * b1;
    u128 p10 = static_cast<u128>(a1) * b0;
    u128 p11 = static_cast<u128>(a1) * b1;
    U256 r;
    r.limb[0] = static_cast<uint64_t>(p00);
    // Column 1 collects up to three 64-bit terms; the carry goes into column 2.
    u128 col1 = (p00 >> 64) + static_cast<uint64_t>(p01) + static_cast<uint64_t>(p10);
    r.limb[1] = static_cast<uint64_t>(col1);
    u128 col2 = (col1 >> 64) + (p01 >> 64) + (p10 >> 64) + static_cast<uint64_t>(p11);
    r.limb[2] = static_cast<uint64_t>(col2);
    r.limb[3] = static_cast<uint64_t>((col2 >> 64) + (p11 >> 64));
    return r;
  }

  bool FitsU128() const { return limb[2] == 0 && limb[3] == 0; }
  u128 Low() const { return (static_cast<u128>(limb[1]) << 64) | limb[0]; }
};

// Schoolbook division (Knuth, TAOCP vol. 2, 4.3.1, algorithm D) of a 256-bit number by a
// 128-bit divisor d != 0. Sets *q (quotient, 256 bits) and *r (remainder).
void DivMod(const U256& u, u128 d, U256* q, u128* r) {
  uint64_t d0 = static_cast<uint64_t>(d), d1 = static_cast<uint64_t>(d >> 64);
  *q = U256();
  if (d1 == 0) {
    // Single-limb divisor: the running remainder stays below d0, so each step fits 128 bits.
    u128 rem = 0;
    for (int i = 3; i >= 0; --i) {
      u128 cur = (rem << 64) | u.limb[i];
      q->limb[i] = static_cast<uint64_t>(cur / d0);
      rem = cur % d0;
    }
    *r = rem;
    return;
  }
  // Normalize so the divisor's top bit is set (this makes the quotient digit estimates
  // below close), then divide limb by limb keeping a running remainder below the divisor.
  const int s = __builtin_clzll(d1);
  const u128 vn = d << s;
  const uint64_t v1 = static_cast<uint64_t>(vn >> 64), v0 = static_cast<uint64_t>(vn);
  uint64_t un[5];
  un[4] = s ? u.limb[3] >> (64 - s) : 0;
  for (int i = 3; i > 0; --i) {
    un[i] = s ? (u.limb[i] << s) | (u.limb[i - 1] >> (64 - s)) : u.limb[i];
  }
  un[0] = u.limb[0] << s;
  // un[4] < 2^s <= v1, so the starting remainder is below the divisor.
  u128 rem = (static_cast<u128>(un[4]) << 64) | un[3];
  for (int j = 2; j >= 0; --j) {
    // Quotient digit of (rem * 2^64 + un[j]) / vn, estimated from the top limbs and then
    // corrected. With a two-limb divisor the correction test compares against the whole
    // divisor, so qhat ends up exact (Knuth's "add back" step cannot occur).
    u128 qhat = rem / v1;
    u128 rhat = rem % v1;
    while ((qhat >> 64) != 0 || qhat * v0 > ((rhat << 64) | un[j])) {
      --qhat;
      rhat += v1;
      if ((rhat >> 64) != 0) break;
    }
    // The new remainder is below vn < 2^128, so wrapping 128-bit arithmetic gives it exactly.
    rem = ((rem << 64) | un[j]) - (qhat * v0 + ((qhat * v1) << 64));
    q->limb[j] = static_cast<uint64_t>(qhat);
  }
  *r = rem >> s;
}

// Writes the decimal digits of v (no sign) at the end of buf, returning the first digit.
char* FormatU64(uint64_t v, char* end) {
  char* p = end;
  do {
    *--p = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  return p;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

Decimal Decimal::FromInt(int64_t v) { return FromRaw(static_cast<__int128>(v) * kOne); }

bool Decimal::Parse(std::string_view text, Decimal* out) {
  // Strict JSON grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  const char* s = text.data();
  size_t n = text.size();
  size_t i = 0;
  bool negative = false;
  if (i < n && s[i] == '-') {
    negative = true;
    ++i;
  }
  if (i >= n || !IsDigit(s[i])) return false;
  // The digits as one integer, as they are read: exact while there are at most 19 of them (the
  // short path below), and not used when there are more.
  uint64_t d = 0;
  size_t int_begin = i;
  if (s[i] == '0') {
    ++i;
  } else {
    for (; i < n && IsDigit(s[i]); ++i) d = d * 10 + static_cast<uint64_t>(s[i] - '0');
  }
  size_t int_end = i;
  size_t frac_begin = i, frac_end = i;
  if (i < n && s[i] == '.') {
    ++i;
    frac_begin = i;
    for (; i < n && IsDigit(s[i]); ++i) d = d * 10 + static_cast<uint64_t>(s[i] - '0');
    if (i == frac_begin) return false;
    frac_end = i;
  }
  int64_t exponent = 0;
  const bool has_exponent = i < n && (s[i] == 'e' || s[i] == 'E');
  if (has_exponent) {
    ++i;
    bool exp_negative = false;
    if (i < n && (s[i] == '+' || s[i] == '-')) {
      exp_negative = s[i] == '-';
      ++i;
    }
    size_t exp_begin = i;
    while (i < n && IsDigit(s[i])) {
      // Saturate: anything this large is an overflow or rounds to zero anyway.
      if (exponent < 1000000000) exponent = exponent * 10 + (s[i] - '0');
      ++i;
    }
    if (i == exp_begin) return false;
    if (exp_negative) exponent = -exponent;
  }
  if (i != n) return false;

  // The digits D (integer part then fraction) denote D * 10^(exponent - frac_len); the raw
  // value is D * 10^shift.
  const int64_t int_len = static_cast<int64_t>(int_end - int_begin);
  const int64_t frac_len = static_cast<int64_t>(frac_end - frac_begin);
  const int64_t total = int_len + frac_len;
  // The usual number (an amount, a count): no exponent, at most 19 digits, no more after the
  // point than the scale — D fits in 64 bits and needs no rounding.
  if (!has_exponent && total <= 19 && frac_len <= kScale) {
    return MakeSigned(negative && d != 0, static_cast<u128>(d) * kPow10.v[kScale - frac_len], out);
  }
  auto digit = [&](int64_t k) -> int {
    return k < int_len ? s[int_begin + k] - '0' : s[frac_begin + (k - int_len)] - '0';
  };
  int64_t first = 0;
  while (first < total && digit(first) == 0) ++first;
  if (first == total) {  // zero, whatever the exponent; never -0
    *out = Decimal();
    return true;
  }
  const int64_t significant = total - first;
  const int64_t shift = exponent - frac_len + kScale;
  // Digits of the raw integer before rounding; the leading one is non-zero.
  const int64_t keep = significant + shift;
  if (keep > 38) return false;
  u128 mag = 0;
  if (keep <= 0) {
    // Below one raw unit: only 0.5 < x < 1 (or 0.5 exactly, to even: 0) rounds up.
    if (keep == 0) {
      int d = digit(first);
      bool above_half = d > 5;
      if (d == 5) {
        for (int64_t k = first + 1; k < total; ++k) {
          if (digit(k) != 0) {
            above_half = true;
            break;
          }
        }
      }
      mag = above_half ? 1 : 0;
    }
  } else if (keep >= significant) {
    for (int64_t k = first; k < total; ++k) mag = mag * 10 + digit(k);
    mag *= kPow10.v[keep - significant];
  } else {
    for (int64_t k = first; k < first + keep; ++k) mag = mag * 10 + digit(k);
    int round_digit = digit(first + keep);
    bool sticky = false;
    for (int64_t k = first + keep + 1; k < total && !sticky; ++k) sticky = digit(k) != 0;
    if (round_digit > 5 || (round_digit == 5 && (sticky || (mag & 1) != 0))) ++mag;
  }
  return MakeSigned(negative && mag != 0, mag, out);
}

std::string Decimal::ToString() const {
  std::string s;
  AppendTo(&s);
  return s;
}

void Decimal::AppendTo(std::string* out) const {
  u128 mag = Magnitude(raw_);
  uint64_t frac;
  u128 int_part;
  if ((mag >> 64) == 0) {  // common case: plain 64-bit arithmetic
    uint64_t m = static_cast<uint64_t>(mag);
    int_part = m / kOne;
    frac = m % kOne;
  } else {
    int_part = mag / kOne;
    frac = static_cast<uint64_t>(mag - int_part * kOne);  // one 128-bit division, not two
  }
  // Up to 39 integer digits (FromRaw is unchecked), a sign, a point and 18 fraction digits.
  char buf[64];
  char* end = buf + sizeof(buf);
  char* p = end;
  if (frac != 0) {
    int width = kScale;
    while (frac % 10 == 0) {
      frac /= 10;
      --width;
    }
    char* digits_end = p;
    p = FormatU64(frac, p);
    while (digits_end - p < width) *--p = '0';
    *--p = '.';
  }
  constexpr uint64_t kTen19 = 10000000000000000000ULL;
  if ((int_part >> 64) == 0) {
    p = FormatU64(static_cast<uint64_t>(int_part), p);
  } else {
    uint64_t int_lo = static_cast<uint64_t>(int_part % kTen19);
    u128 high = int_part / kTen19;
    char* lo_end = p;
    p = FormatU64(int_lo, p);
    while (lo_end - p < 19) *--p = '0';
    if ((high >> 64) == 0) {
      p = FormatU64(static_cast<uint64_t>(high), p);
    } else {  // only for raw values near the 128-bit limit
      char* mid_end = p;
      p = FormatU64(static_cast<uint64_t>(high % kTen19), p);
      while (mid_end - p < 19) *--p = '0';
      p = FormatU64(static_cast<uint64_t>(high / kTen19), p);
    }
  }
  if (raw_ < 0) *--p = '-';
  out->append(p, end);
}

bool Decimal::Add(Decimal a, Decimal b, Decimal* out) {
  __int128 r;
  if (__builtin_add_overflow(a.raw_, b.raw_, &r)) return false;
  if (Magnitude(r) >= kRawLimit) return false;
  *out = FromRaw(r);
  return true;
}

bool Decimal::Sub(Decimal a, Decimal b, Decimal* out) {
  __int128 r;
  if (__builtin_sub_overflow(a.raw_, b.raw_, &r)) return false;
  if (Magnitude(r) >= kRawLimit) return false;
  *out = FromRaw(r);
  return true;
}

bool Decimal::Mul(Decimal a, Decimal b, Decimal* out) {
  // The exact product has 36 places; it is rounded half-even back to 18.
  u128 ma = Magnitude(a.raw_), mb = Magnitude(b.raw_);
  bool negative = (a.raw_ < 0) != (b.raw_ < 0);
  u128 product;
  u128 q;
  if (!__builtin_mul_overflow(ma, mb, &product)) {
    q = RoundHalfEven(product / kOne, product % kOne, kOne);
  } else {
    U256 wide = U256::Mul(ma, mb);
    U256 wq;
    u128 r;
    DivMod(wide, kOne, &wq, &r);
    if (!wq.FitsU128()) return false;
    q = RoundHalfEven(wq.Low(), r, kOne);
  }
  return MakeSigned(negative && q != 0, q, out);
}

bool Decimal::Div(Decimal a, Decimal b, Decimal* out) {
  if (b.raw_ == 0) return false;
  u128 ma = Magnitude(a.raw_), mb = Magnitude(b.raw_);
  bool negative = (a.raw_ < 0) != (b.raw_ < 0);
  // raw result = a.raw * 10^18 / b.raw, rounded half-even.
  u128 numerator;
  u128 q;
  if (!__builtin_mul_overflow(ma, static_cast<u128>(kOne), &numerator)) {
    q = RoundHalfEven(numerator / mb, numerator % mb, mb);
  } else {
    U256 wide = U256::Mul(ma, kOne);
    U256 wq;
    u128 r;
    DivMod(wide, mb, &wq, &r);
    if (!wq.FitsU128()) return false;
    q = RoundHalfEven(wq.Low(), r, mb);
  }
  return MakeSigned(negative && q != 0, q, out);
}

bool Decimal::Mod(Decimal a, Decimal b, Decimal* out) {
  if (b.raw_ == 0) return false;
  // Both operands share the scale, so the remainder of the raw values is exact. Working on
  // magnitudes avoids the undefined INT128_MIN % -1.
  u128 r = Magnitude(a.raw_) % Magnitude(b.raw_);
  return MakeSigned(a.raw_ < 0 && r != 0, r, out);
}

bool Decimal::Rounded(int places, Decimal* out) const {
  if (places >= kScale) {
    *out = *this;
    return true;
  }
  if (places < 0) places = 0;
  u128 unit = kPow10.v[kScale - places];
  u128 mag = Magnitude(raw_);
  u128 q = RoundHalfEven(mag / unit, mag % unit, unit);
  return MakeSigned(raw_ < 0 && q != 0, q * unit, out);
}

bool Decimal::IsInteger() const { return raw_ % static_cast<__int128>(kOne) == 0; }

bool Decimal::ToInt64(int64_t* out) const {
  if (!IsInteger()) return false;
  __int128 v = raw_ / static_cast<__int128>(kOne);
  if (v < INT64_MIN || v > INT64_MAX) return false;
  *out = static_cast<int64_t>(v);
  return true;
}

}  // namespace projd
