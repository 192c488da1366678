#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "engine/metrics.h"

namespace projd {
namespace {

TEST_CASE("a tally added to a histogram counts as its observations one by one", "[metrics]") {
  // Values on and between the bounds, below the first, past the last, negative, repeated.
  const std::vector<double> seconds = {0,      0.00005, 0.0001, 0.00011, 0.001,  0.0042,
                                       0.0042, 0.7,     1,      2.5,     9.99,   60,
                                       61,     3600,    -1,     0.25,    0.2501, 1e-9};
  Histogram one_by_one, tallied;
  Histogram::Tally tally;
  for (double s : seconds) {
    one_by_one.Observe(s);
    tally.Observe(s);
  }
  tallied.Add(tally);
  std::string a, b;
  one_by_one.Write("x", "", &a);
  tallied.Write("x", "", &b);
  CHECK(a == b);
  CHECK(a.find("x_count " + std::to_string(seconds.size())) != std::string::npos);
  CHECK(a.find("x_bucket{le=\"0.0001\"} 5\n") != std::string::npos);  // 0, 5e-5, 1e-4, -1, 1e-9
  CHECK(a.find("x_bucket{le=\"60\"} 16\n") != std::string::npos);

  // Added twice, and an empty tally: each observation counts once per addition.
  tallied.Add(tally);
  tallied.Add(Histogram::Tally());
  for (double s : seconds) one_by_one.Observe(s);
  std::string c, d;
  one_by_one.Write("x", "v=\"1\"", &c);
  tallied.Write("x", "v=\"1\"", &d);
  CHECK(c == d);
}

}  // namespace
}  // namespace projd
