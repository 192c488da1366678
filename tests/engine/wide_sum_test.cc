// sum() and avg() add every row exactly, past 10^20 on the way (engine/query_group.h WideSum):
// checked against arbitrary-precision integers on random rows near the bound.
#include <boost/multiprecision/cpp_int.hpp>
#include <catch2/catch.hpp>
#include <random>

#include "engine/query_group.h"

namespace {

using boost::multiprecision::cpp_int;
using projd::Decimal;
using projd::query_detail::WideSum;

cpp_int Big(__int128 v) {
  bool negative = v < 0;
  unsigned __int128 m = negative ? -static_cast<unsigned __int128>(v) : v;
  cpp_int r = static_cast<uint64_t>(m >> 64);
  r <<= 64;
  r += static_cast<uint64_t>(m);
  return negative ? cpp_int(-r) : r;
}

// total / n rounded half-even to an integer (raw units: 18 places).
cpp_int HalfEven(const cpp_int& total, int64_t n) {
  cpp_int mag = abs(total), q = mag / n, r = mag % n;
  if (2 * r > n || (2 * r == n && (q & 1) != 0)) ++q;
  return total < 0 ? cpp_int(-q) : q;
}

}  // namespace

TEST_CASE("WideSum: sums and averages are exact past 10^20", "[engine]") {
  const cpp_int kBound = cpp_int("100000000000000000000000000000000000000");  // 10^38 raw
  std::mt19937_64 rng(7);
  for (int round = 0; round < 2000; ++round) {
    int64_t n = 1 + static_cast<int64_t>(rng() % 40);
    WideSum sum;
    cpp_int total = 0;
    bool big = round % 2 == 0;  // near the bound, or small
    for (int64_t i = 0; i < n; ++i) {
      unsigned __int128 r = (static_cast<unsigned __int128>(rng()) << 64) | rng();
      // Raw values below 10^38 (|v| < 10^20), or below 10^21 (|v| < 1000).
      const unsigned __int128 e19 = 10000000000000000000ULL;
      unsigned __int128 limit = big ? e19 * e19 : e19 * 100;
      __int128 raw = static_cast<__int128>(r % limit);
      if (rng() & 1) raw = -raw;
      sum.Add(Decimal::FromRaw(raw));
      total += Big(raw);
    }
    INFO("round " << round << " n " << n << " total " << total);
    Decimal got;
    bool fits = abs(total) < kBound;
    REQUIRE(sum.ToDecimal(&got) == fits);
    if (fits) CHECK(Big(got.raw()) == total);
    REQUIRE(sum.Average(n, &got));
    CHECK(Big(got.raw()) == HalfEven(total, n));
  }
  // A tie: 5 raw units over 2 rows is 2.5, which rounds to the even 2.
  WideSum tie;
  tie.Add(Decimal::FromRaw(5));
  tie.Add(Decimal::FromRaw(0));
  Decimal avg;
  REQUIRE(tie.Average(2, &avg));
  CHECK(avg.raw() == 2);
}
