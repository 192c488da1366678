// Exact decimal numbers for projd values.
//
// A Decimal is a signed fixed-point number with 18 digits after the point, stored as a 128-bit
// integer scaled by 10^18. Its magnitude is below 10^20; any operation whose exact result does
// not fit is reported as an overflow (the caller turns it into an event error). No binary
// floating point is used anywhere.
//
// Thread-safety: Decimal is a value type; distinct objects may be used from any thread.
#ifndef PROJD_DSL_DECIMAL_H_
#define PROJD_DSL_DECIMAL_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace projd {

class Decimal {
 public:
  static constexpr int kScale = 18;  // digits after the point

  Decimal() = default;  // zero

  static Decimal FromInt(int64_t v);
  // The raw scaled integer (value * 10^18). FromRaw does not check the magnitude bound.
  static Decimal FromRaw(__int128 raw) {
    Decimal d;
    d.raw_ = raw;
    return d;
  }
  __int128 raw() const { return raw_; }

  // Parses a JSON number ("12", "-3.25", "1e3", "2.5E-2"). Digits past 18 places after the
  // point are rounded half-even. Returns false on a syntax error or when |value| >= 10^20.
  static bool Parse(std::string_view text, Decimal* out);

  // The shortest exact decimal form: "10000", "0.3", "-3.25", "0". Never an exponent.
  std::string ToString() const;
  void AppendTo(std::string* out) const;

  // Arithmetic. Each returns false (leaving *out unspecified) on overflow (|result| >= 10^20);
  // Div and Mod also on division by zero. Div rounds half-even to 18 places; Mod has the sign
  // of the dividend (like C's %) and is exact.
  static bool Add(Decimal a, Decimal b, Decimal* out);
  static bool Sub(Decimal a, Decimal b, Decimal* out);
  static bool Mul(Decimal a, Decimal b, Decimal* out);
  static bool Div(Decimal a, Decimal b, Decimal* out);
  static bool Mod(Decimal a, Decimal b, Decimal* out);

  Decimal Negated() const { return FromRaw(-raw_); }
  Decimal Abs() const { return raw_ < 0 ? Negated() : *this; }
  // Rounds half-even to `places` digits after the point (0..18; negative places are
  // treated as 0) into *out; false when the result reaches 10^20 (99999999999999999999.5
  // rounds up to it).
  bool Rounded(int places, Decimal* out) const;

  int Compare(Decimal other) const { return raw_ < other.raw_ ? -1 : (raw_ > other.raw_ ? 1 : 0); }
  bool operator==(Decimal o) const { return raw_ == o.raw_; }
  bool operator!=(Decimal o) const { return raw_ != o.raw_; }
  bool operator<(Decimal o) const { return raw_ < o.raw_; }
  bool IsZero() const { return raw_ == 0; }
  bool IsInteger() const;
  // The integer value when IsInteger() and it fits in int64_t; false otherwise.
  bool ToInt64(int64_t* out) const;

 private:
  __int128 raw_ = 0;
};

}  // namespace projd

#endif  // PROJD_DSL_DECIMAL_H_
