#include "dsl/decimal.h"

#include <catch2/catch.hpp>
#include <random>
#include <string>

namespace projd {
namespace {

using u128 = unsigned __int128;

Decimal D(const std::string& text) {
  Decimal d;
  INFO("parsing " << text);
  REQUIRE(Decimal::Parse(text, &d));
  return d;
}

std::string Str(const std::string& text) { return D(text).ToString(); }

bool Parses(const std::string& text) {
  Decimal d;
  return Decimal::Parse(text, &d);
}

const char* kMax = "99999999999999999999.999999999999999999";

// A deliberately simple reference for Mul and Div: 256-bit numbers as (hi, lo) pairs, the
// product by shift-and-add and the quotient by restoring binary long division. Slow, but
// written independently of the limb-based code under test.
struct Wide {
  u128 hi = 0, lo = 0;
};

Wide WideAdd(Wide a, Wide b) {
  Wide r;
  r.lo = a.lo + b.lo;
  r.hi = a.hi + b.hi + (r.lo < a.lo ? 1 : 0);
  return r;
}

Wide WideMul(u128 a, u128 b) {
  Wide acc, shifted{0, a};
  for (int bit = 0; bit < 128; ++bit) {
    if ((b >> bit) & 1) acc = WideAdd(acc, shifted);
    shifted.hi = (shifted.hi << 1) | (shifted.lo >> 127);
    shifted.lo <<= 1;
  }
  return acc;
}

// Quotient rounded half-even; false when it does not fit below 10^38. d < 2^127.
bool WideDivRound(Wide n, u128 d, u128* q_out) {
  u128 q_hi = 0, q_lo = 0, r = 0;
  for (int bit = 255; bit >= 0; --bit) {
    u128 in = bit >= 128 ? (n.hi >> (bit - 128)) & 1 : (n.lo >> bit) & 1;
    r = (r << 1) | in;
    u128 qbit = 0;
    if (r >= d) {
      r -= d;
      qbit = 1;
    }
    q_hi = (q_hi << 1) | (q_lo >> 127);
    q_lo = (q_lo << 1) | qbit;
  }
  if (2 * r > d || (2 * r == d && (q_lo & 1))) {
    ++q_lo;
    if (q_lo == 0) ++q_hi;
  }
  u128 limit = static_cast<u128>(10000000000000000000ULL) * 10000000000000000000ULL;
  if (q_hi != 0 || q_lo >= limit) return false;
  *q_out = q_lo;
  return true;
}

u128 Mag(__int128 v) { return v < 0 ? -static_cast<u128>(v) : static_cast<u128>(v); }

bool RefMul(Decimal a, Decimal b, Decimal* out) {
  u128 q;
  if (!WideDivRound(WideMul(Mag(a.raw()), Mag(b.raw())), 1000000000000000000ULL, &q)) {
    return false;
  }
  bool neg = (a.raw() < 0) != (b.raw() < 0);
  *out = Decimal::FromRaw(neg ? -static_cast<__int128>(q) : static_cast<__int128>(q));
  return true;
}

bool RefDiv(Decimal a, Decimal b, Decimal* out) {
  if (b.IsZero()) return false;
  u128 q;
  if (!WideDivRound(WideMul(Mag(a.raw()), 1000000000000000000ULL), Mag(b.raw()), &q)) {
    return false;
  }
  bool neg = (a.raw() < 0) != (b.raw() < 0);
  *out = Decimal::FromRaw(neg ? -static_cast<__int128>(q) : static_cast<__int128>(q));
  return true;
}

// Random in-range decimals of every size, from one raw unit up to the limit.
Decimal RandomDecimal(std::mt19937_64& rng) {
  int digits = static_cast<int>(rng() % 38) + 1;
  u128 v = 0;
  for (int i = 0; i < digits; ++i) v = v * 10 + rng() % 10;
  __int128 raw = static_cast<__int128>(v);
  return Decimal::FromRaw(rng() % 2 ? -raw : raw);
}

// Decimals whose 64-bit halves sit on limb boundaries (0, 1, 2^63, 2^64 - 1, ...), where
// long division needs its quotient-digit corrections most.
Decimal EdgeDecimal(std::mt19937_64& rng) {
  auto half = [&rng]() -> uint64_t {
    switch (rng() % 6) {
      case 0:
        return 0;
      case 1:
        return 1 + rng() % 4;
      case 2:
        return (1ULL << 63) + rng() % 4 - 2;
      case 3:
        return ~0ULL - rng() % 4;
      case 4:
        return rng() >> (rng() % 64);
      default:
        return rng();
    }
  };
  u128 limit = static_cast<u128>(10000000000000000000ULL) * 10000000000000000000ULL;
  u128 v = ((static_cast<u128>(half()) << 64) | half()) % limit;
  __int128 raw = static_cast<__int128>(v);
  return Decimal::FromRaw(rng() % 2 ? -raw : raw);
}

TEST_CASE("Decimal parses and prints the shortest exact form", "[dsl]") {
  CHECK(Str("0") == "0");
  CHECK(Str("-0") == "0");
  CHECK(Str("-0.000") == "0");
  CHECK(Str("12") == "12");
  CHECK(Str("-3.25") == "-3.25");
  CHECK(Str("0.30") == "0.3");
  CHECK(Str("10000") == "10000");
  CHECK(Str("10000.000") == "10000");
  CHECK(Str("-0.5") == "-0.5");
  CHECK(Str("0.000000000000000001") == "0.000000000000000001");
  CHECK(Str("-0.000000000000000001") == "-0.000000000000000001");
  CHECK(Str("1234567890.0987654321") == "1234567890.0987654321");
  CHECK(Str(kMax) == kMax);
  CHECK(Str(std::string("-") + kMax) == std::string("-") + kMax);
  CHECK(Str("18446744073709551616") == "18446744073709551616");  // 2^64: wide integer part
  CHECK(Decimal().ToString() == "0");
  CHECK(Decimal::FromInt(-42).ToString() == "-42");
  CHECK(Decimal::FromRaw(-1).ToString() == "-0.000000000000000001");

  std::string appended = "x=";
  D("-7.5").AppendTo(&appended);
  CHECK(appended == "x=-7.5");
}

TEST_CASE("Decimal parses exponents", "[dsl]") {
  CHECK(Str("1e3") == "1000");
  CHECK(Str("1E+2") == "100");
  CHECK(Str("2.5E-2") == "0.025");
  CHECK(Str("-2.5e-2") == "-0.025");
  CHECK(Str("123.456e1") == "1234.56");
  CHECK(Str("123456e-3") == "123.456");
  CHECK(Str("1e-18") == "0.000000000000000001");
  CHECK(Str("1e19") == "10000000000000000000");
  CHECK(Str("0.000e5") == "0");
  CHECK(Str("0e999999999999999999") == "0");
  CHECK(Str("1e-30") == "0");
  CHECK(Str("-1e-30") == "0");  // never -0
  CHECK(Str("1e-999999999999999999") == "0");
  CHECK(Str("100000000000000000000e-1") == "10000000000000000000");
}

TEST_CASE("Decimal parse rounds past 18 places half-even", "[dsl]") {
  CHECK(Str("0.1234567890123456789") == "0.123456789012345679");
  CHECK(Str("0.1234567890123456785") == "0.123456789012345678");  // tie, 8 is even
  CHECK(Str("0.1234567890123456775") == "0.123456789012345678");  // tie, 7 is odd
  CHECK(Str("0.12345678901234567850001") == "0.123456789012345679");
  CHECK(Str("0.0000000000000000005") == "0");  // tie to even zero
  CHECK(Str("0.00000000000000000050000000001") == "0.000000000000000001");
  CHECK(Str("0.0000000000000000015") == "0.000000000000000002");
  CHECK(Str("0.0000000000000000025") == "0.000000000000000002");
  CHECK(Str("5e-19") == "0");
  CHECK(Str("1.5e-18") == "0.000000000000000002");
  CHECK(Str("2.5e-18") == "0.000000000000000002");
  CHECK(Str("-3.5e-18") == "-0.000000000000000004");
  CHECK(Str("0.00000000000000000049999999999") == "0");
  CHECK(Str("-0.0000000000000000004") == "0");
}

TEST_CASE("Decimal parse rejects overflow at 10^20", "[dsl]") {
  CHECK(Parses("99999999999999999999"));
  CHECK_FALSE(Parses("100000000000000000000"));
  CHECK_FALSE(Parses("-100000000000000000000"));
  CHECK_FALSE(Parses("1e20"));
  CHECK_FALSE(Parses("-1e20"));
  CHECK_FALSE(Parses("1e25"));
  CHECK_FALSE(Parses("1e999999999999999999"));
  CHECK_FALSE(Parses("100000000000000000000.000000"));
  // Rounds up to exactly 10^20.
  CHECK_FALSE(Parses("99999999999999999999.9999999999999999995"));
  CHECK(Parses("99999999999999999999.9999999999999999994"));
}

TEST_CASE("Decimal parse follows the JSON number grammar strictly", "[dsl]") {
  for (const char* bad :
       {"",          "-",   "1.",    ".5",    "01", "-01",   "00",  "+1",  "1e",
        "1e+",       "1E-", "1.e3",  " 1",    "1 ", "0x10",  "1,5", "NaN", "Infinity",
        "-Infinity", "--1", "1e1.5", "1.5.2", "١",  "1_000", "e5",  "-.5", "1ee5"}) {
    INFO("input: '" << bad << "'");
    CHECK_FALSE(Parses(bad));
  }
  CHECK(Parses("0"));
  CHECK(Parses("-0"));
  CHECK(Parses("0.0"));
  CHECK(Parses("0e0"));
  CHECK(Parses("10"));
}

TEST_CASE("Decimal 0.1 + 0.2 == 0.3 exactly", "[dsl]") {
  Decimal sum;
  REQUIRE(Decimal::Add(D("0.1"), D("0.2"), &sum));
  CHECK(sum == D("0.3"));
  CHECK(sum.ToString() == "0.3");
  CHECK(sum != D("0.30000000000000004"));
}

TEST_CASE("Decimal a million additions of 0.01 make exactly 10000", "[dsl]") {
  Decimal cent = D("0.01");
  Decimal total;
  for (int i = 0; i < 1000000; ++i) REQUIRE(Decimal::Add(total, cent, &total));
  CHECK(total == Decimal::FromInt(10000));
  CHECK(total.ToString() == "10000");
}

TEST_CASE("Decimal Add and Sub detect overflow and handle signs", "[dsl]") {
  Decimal r;
  CHECK_FALSE(Decimal::Add(D(kMax), D("0.000000000000000001"), &r));
  CHECK_FALSE(Decimal::Add(D("50000000000000000000"), D("50000000000000000000"), &r));
  CHECK_FALSE(Decimal::Add(D("-50000000000000000000"), D("-50000000000000000000"), &r));
  CHECK_FALSE(Decimal::Sub(D("-50000000000000000000"), D("50000000000000000000"), &r));
  CHECK_FALSE(Decimal::Sub(D(kMax), D(std::string("-") + kMax), &r));
  // Even with unchecked raw values near the 128-bit limit there is no wrap-around.
  __int128 huge = static_cast<__int128>(~static_cast<u128>(0) >> 1);
  CHECK_FALSE(Decimal::Add(Decimal::FromRaw(huge), Decimal::FromRaw(huge), &r));

  REQUIRE(Decimal::Add(D("99999999999999999999"), D("0.999999999999999999"), &r));
  CHECK(r.ToString() == kMax);
  REQUIRE(Decimal::Add(D("-1.25"), D("0.5"), &r));
  CHECK(r.ToString() == "-0.75");
  REQUIRE(Decimal::Sub(D("0.3"), D("0.1"), &r));
  CHECK(r.ToString() == "0.2");
  REQUIRE(Decimal::Sub(D("-3"), D("-5.5"), &r));
  CHECK(r.ToString() == "2.5");
  REQUIRE(Decimal::Sub(D("1.1"), D("1.1"), &r));
  CHECK(r.ToString() == "0");
}

TEST_CASE("Decimal Mul is exact and rounds beyond 18 places half-even", "[dsl]") {
  auto mul = [](const char* a, const char* b) {
    Decimal r;
    INFO(a << " * " << b);
    REQUIRE(Decimal::Mul(D(a), D(b), &r));
    return r.ToString();
  };
  CHECK(mul("1.5", "2") == "3");
  CHECK(mul("-1.5", "2") == "-3");
  CHECK(mul("-2", "-2") == "4");
  CHECK(mul("0.1", "0.1") == "0.01");
  CHECK(mul("0", "-5") == "0");
  CHECK(mul("0.000000001", "0.000000001") == "0.000000000000000001");
  CHECK(mul("0.0000000001", "0.0000000001") == "0");
  CHECK(mul("0.000000000000000005", "0.1") == "0");  // 5e-19: tie to even
  CHECK(mul("0.000000000000000015", "0.1") == "0.000000000000000002");
  CHECK(mul("-0.000000000000000015", "0.1") == "-0.000000000000000002");
  CHECK(mul("-0.000000000000000001", "0.1") == "0");  // no -0
  CHECK(mul("9999999999", "10000000000") == "99999999990000000000");
  CHECK(mul("12345678901.123456789", "1234567.891") == "15241578763923183.578625361999");
  CHECK(mul(kMax, "0.5") == "50000000000000000000");
  CHECK(mul("3.14159265358979323", "-2.71828182845904523") == "-8.539734222673567026");

  Decimal r;
  CHECK_FALSE(Decimal::Mul(D("10000000000"), D("10000000000"), &r));  // exactly 10^20
  CHECK_FALSE(Decimal::Mul(D("-10000000000"), D("10000000000"), &r));
  CHECK_FALSE(Decimal::Mul(D(kMax), D(kMax), &r));
  CHECK_FALSE(Decimal::Mul(D(kMax), D("1.000000000000000001"), &r));
}

TEST_CASE("Decimal Div rounds half-even to 18 places", "[dsl]") {
  auto div = [](const char* a, const char* b) {
    Decimal r;
    INFO(a << " / " << b);
    REQUIRE(Decimal::Div(D(a), D(b), &r));
    return r.ToString();
  };
  CHECK(div("1", "3") == "0.333333333333333333");
  CHECK(div("2", "3") == "0.666666666666666667");
  CHECK(div("-2", "3") == "-0.666666666666666667");
  CHECK(div("2", "-3") == "-0.666666666666666667");
  CHECK(div("-2", "-3") == "0.666666666666666667");
  CHECK(div("10", "4") == "2.5");
  CHECK(div("0", "7") == "0");
  CHECK(div("0.000000000000000001", "2") == "0");  // 0.5 unit: to even 0
  CHECK(div("0.000000000000000003", "2") == "0.000000000000000002");
  CHECK(div("0.000000000000000005", "2") == "0.000000000000000002");
  CHECK(div("-0.000000000000000005", "2") == "-0.000000000000000002");
  CHECK(div("0.000000000000000007", "2") == "0.000000000000000004");
  CHECK(div("-0.000000000000000001", "3") == "0");  // no -0
  CHECK(div("99999999999999999999", "1") == "99999999999999999999");
  CHECK(div("12345678901234567890.123", "7") == "1763668414462081127.160428571428571429");
  CHECK(div("-98765432109876543210.987654321", "123456789.000000001") ==
        "-800000007370.000060596000491727");
  CHECK(div(kMax, kMax) == "1");

  Decimal r;
  CHECK_FALSE(Decimal::Div(D("1"), Decimal(), &r));
  CHECK_FALSE(Decimal::Div(Decimal(), Decimal(), &r));
  CHECK_FALSE(Decimal::Div(D("-5"), D("0.000"), &r));
  CHECK_FALSE(Decimal::Div(D("10000000000000000000"), D("0.01"), &r));
  CHECK_FALSE(Decimal::Div(D("50000000000000000000"), D("0.5"), &r));
  REQUIRE(Decimal::Div(D("1"), D("0.000000000000000001"), &r));
  CHECK(r.ToString() == "1000000000000000000");
  CHECK_FALSE(Decimal::Div(D("100"), D("0.000000000000000001"), &r));
}

TEST_CASE("Decimal Mod has the sign of the dividend and is exact", "[dsl]") {
  auto mod = [](const char* a, const char* b) {
    Decimal r;
    INFO(a << " % " << b);
    REQUIRE(Decimal::Mod(D(a), D(b), &r));
    return r.ToString();
  };
  CHECK(mod("7", "3") == "1");
  CHECK(mod("-7", "3") == "-1");
  CHECK(mod("7", "-3") == "1");
  CHECK(mod("-7", "-3") == "-1");
  CHECK(mod("5.5", "2") == "1.5");
  CHECK(mod("-5.5", "2") == "-1.5");
  CHECK(mod("-6", "3") == "0");
  CHECK(mod("0.3", "0.1") == "0");
  CHECK(mod("1", "0.3") == "0.1");
  CHECK(mod(kMax, "7") == "1.999999999999999999");  // (10^20 - 1) % 7 == 1
  Decimal r;
  CHECK_FALSE(Decimal::Mod(D("1"), Decimal(), &r));
}

std::string Round(Decimal d, int places) {
  Decimal r;
  return d.Rounded(places, &r) ? r.ToString() : "overflow";
}

TEST_CASE("Decimal Rounded rounds half-even", "[dsl]") {
  CHECK(Round(D("0.5"), 0) == "0");
  CHECK(Round(D("1.5"), 0) == "2");
  CHECK(Round(D("2.5"), 0) == "2");
  CHECK(Round(D("3.5"), 0) == "4");
  CHECK(Round(D("2.5000001"), 0) == "3");
  CHECK(Round(D("2.4999999"), 0) == "2");
  CHECK(Round(D("-0.5"), 0) == "0");
  CHECK(Round(D("-1.5"), 0) == "-2");
  CHECK(Round(D("-2.5"), 0) == "-2");
  CHECK(Round(D("2.675"), 2) == "2.68");
  CHECK(Round(D("2.665"), 2) == "2.66");
  CHECK(Round(D("1.005"), 2) == "1");
  CHECK(Round(D("-1.015"), 2) == "-1.02");
  CHECK(Round(D("0.123456789012345678"), 17) == "0.12345678901234568");
  CHECK(Round(D("0.123456789012345678"), 18) == "0.123456789012345678");
  CHECK(Round(D("0.123456789012345678"), 40) == "0.123456789012345678");
  CHECK(Round(D("7.5"), -3) == "8");
  // Rounding up to 10^20 overflows (a value the store could not read back).
  CHECK(Round(D(kMax), 0) == "overflow");
  CHECK(Round(D(kMax).Negated(), 17) == "overflow");
  CHECK(Round(D("99999999999999999999.5"), 0) == "overflow");
  CHECK(Round(D("99999999999999999999.4"), 0) == "99999999999999999999");
  CHECK(Round(D(kMax), 18) == kMax);
}

TEST_CASE("Decimal integer queries, comparisons and sign helpers", "[dsl]") {
  int64_t v = 0;
  CHECK(D("5").IsInteger());
  CHECK(D("-5.000").IsInteger());
  CHECK_FALSE(D("5.5").IsInteger());
  CHECK_FALSE(D("-0.000000000000000001").IsInteger());
  REQUIRE(D("-42").ToInt64(&v));
  CHECK(v == -42);
  CHECK_FALSE(D("4.2").ToInt64(&v));
  CHECK_FALSE(D("10000000000000000000").ToInt64(&v));  // above INT64_MAX
  REQUIRE(Decimal::FromInt(INT64_MIN).ToInt64(&v));
  CHECK(v == INT64_MIN);
  REQUIRE(Decimal::FromInt(INT64_MAX).ToInt64(&v));
  CHECK(v == INT64_MAX);
  CHECK(Decimal::FromInt(INT64_MIN).ToString() == "-9223372036854775808");

  CHECK(D("-1").Compare(D("1")) == -1);
  CHECK(D("1").Compare(D("-1")) == 1);
  CHECK(D("1.0").Compare(D("1")) == 0);
  CHECK(D("-2") < D("-1.5"));
  CHECK(D("-2.5").Abs() == D("2.5"));
  CHECK(D("2.5").Negated() == D("-2.5"));
  CHECK(Decimal().IsZero());
  CHECK(D("-0").IsZero());
}

TEST_CASE("Decimal Mul and Div agree with a bit-serial reference", "[dsl]") {
  std::mt19937_64 rng(20250714);
  for (int i = 0; i < 20000; ++i) {
    Decimal a = RandomDecimal(rng), b = RandomDecimal(rng);
    Decimal got, want;
    bool got_ok = Decimal::Mul(a, b, &got);
    bool want_ok = RefMul(a, b, &want);
    INFO(a.ToString() << " * " << b.ToString());
    REQUIRE(got_ok == want_ok);
    if (got_ok) REQUIRE(got == want);
  }
  for (int i = 0; i < 40000; ++i) {
    Decimal a = i % 2 ? RandomDecimal(rng) : EdgeDecimal(rng);
    Decimal b = i % 4 < 2 ? RandomDecimal(rng) : EdgeDecimal(rng);
    Decimal got, want;
    bool got_ok = Decimal::Div(a, b, &got);
    bool want_ok = RefDiv(a, b, &want);
    INFO(a.ToString() << " / " << b.ToString());
    REQUIRE(got_ok == want_ok);
    if (got_ok) REQUIRE(got == want);
  }
}

TEST_CASE("Decimal random values round-trip through text and obey identities", "[dsl]") {
  std::mt19937_64 rng(42);
  Decimal one = Decimal::FromInt(1);
  for (int i = 0; i < 20000; ++i) {
    Decimal a = RandomDecimal(rng), b = RandomDecimal(rng);
    INFO(a.ToString() << " , " << b.ToString());
    Decimal back;
    REQUIRE(Decimal::Parse(a.ToString(), &back));
    REQUIRE(back == a);

    Decimal r;
    REQUIRE(Decimal::Mul(a, one, &r));
    CHECK(r == a);
    REQUIRE(Decimal::Div(a, one, &r));
    CHECK(r == a);
    REQUIRE(Decimal::Div(a, a.IsZero() ? one : a, &r));
    CHECK(r == (a.IsZero() ? Decimal() : one));

    Decimal sum, diff;
    if (Decimal::Add(a, b, &sum)) {
      REQUIRE(Decimal::Sub(sum, b, &diff));
      CHECK(diff == a);
    }

    // a % b: |r| < |b|, sign of a (or zero), and a - r a multiple of b.
    if (!b.IsZero()) {
      REQUIRE(Decimal::Mod(a, b, &r));
      CHECK(r.Abs() < b.Abs());
      CHECK((r.IsZero() || (r.raw() < 0) == (a.raw() < 0)));
      CHECK((a.raw() - r.raw()) % b.raw() == 0);
    }
  }
}

TEST_CASE("Decimal parses plain numbers the same on the short path and the general one", "[dsl]") {
  // Without an exponent and with at most 19 digits (at most 18 after the point) Parse takes a
  // 64-bit path; the same text with "e0" appended takes the general one. Both must agree, and
  // on the edges of the short path too.
  auto same = [](const std::string& text) {
    INFO(text);
    Decimal a, b;
    bool ok = Decimal::Parse(text, &a);
    REQUIRE(ok == Decimal::Parse(text + "e0", &b));
    if (ok) {
      CHECK(a == b);
      CHECK(a.raw() == b.raw());
    }
  };
  for (const char* text : {"0",
                           "-0",
                           "0.0",
                           "-0.000",
                           "1",
                           "-1",
                           "7.5",
                           "-2683.88",
                           "1590.70",
                           "0.000000000000000001",
                           "-0.000000000000000001",
                           "0.123456789012345678",
                           "9999999999999999999",
                           "-9999999999999999999",
                           "1234567890123456789",
                           "18446744073709551615",
                           "99999999999999999999",
                           "0.1234567890123456789",
                           "1.234567890123456789",
                           "99999999999999999.99",
                           "0.0000000000000000001",
                           "10000000000000000000"}) {
    same(text);
  }
  std::mt19937_64 rng(7);
  for (int i = 0; i < 50000; ++i) {
    std::string text = rng() % 4 == 0 ? "-" : "";
    const int int_digits = 1 + static_cast<int>(rng() % 20);
    const int frac_digits = static_cast<int>(rng() % 21);
    for (int k = 0; k < int_digits; ++k) {
      text.push_back(
          static_cast<char>('0' + (k == 0 && int_digits > 1 ? 1 + rng() % 9 : rng() % 10)));
    }
    if (frac_digits > 0) {
      text.push_back('.');
      for (int k = 0; k < frac_digits; ++k) text.push_back(static_cast<char>('0' + rng() % 10));
    }
    same(text);
  }
  // The short path's numbers print back as they were written (less trailing zeros).
  CHECK(Str("-2683.88") == "-2683.88");
  CHECK(Str("1590.70") == "1590.7");
  CHECK(Str("9999999999999999999") == "9999999999999999999");
  CHECK(Str("0.000000000000000001") == "0.000000000000000001");
  CHECK(Str("-0") == "0");
}

}  // namespace
}  // namespace projd
