// The id filter of the dedupe table (store/id_filter.h): never a false negative, few false
// positives, at every size as its levels grow.
#include "store/id_filter.h"

#include <catch2/catch.hpp>
#include <string>

TEST_CASE("IdFilter finds every key added and few others", "[engine]") {
  projd::IdFilter f;
  CHECK_FALSE(f.MayContain("anything"));
  const int n = 600000;  // past several levels (65,536 keys, then twice as many each)
  for (int i = 0; i < n; ++i) f.Add("evt-" + std::to_string(i));
  CHECK(f.size() == static_cast<size_t>(n));
  bool all = true;
  for (int i = 0; i < n; ++i) all = all && f.MayContain("evt-" + std::to_string(i));
  CHECK(all);
  int false_positives = 0;
  for (int i = 0; i < n; ++i) false_positives += f.MayContain("other-" + std::to_string(i)) ? 1 : 0;
  INFO(false_positives << " false positives of " << n);
  CHECK(false_positives < n / 50);  // under 2 % over all its levels
  CHECK(f.bytes() < static_cast<size_t>(n) * 4);
  f.Clear();
  CHECK(f.size() == 0);
  CHECK_FALSE(f.MayContain("evt-1"));
  f.Add("");
  CHECK(f.MayContain(""));
}

TEST_CASE("IdFilter reserved for a known count tests one level, then grows as before", "[engine]") {
  const int n = 300000;
  projd::IdFilter grown;
  for (int i = 0; i < n; ++i) grown.Add("evt-" + std::to_string(i));
  CHECK(grown.levels() == 3);  // 65,536 + 131,072 + 262,144 keys

  projd::IdFilter f;
  f.Reserve(n + n / 2);
  for (int i = 0; i < n; ++i) f.Add("evt-" + std::to_string(i));
  CHECK(f.levels() == 1);
  bool all = true;
  for (int i = 0; i < n; ++i) all = all && f.MayContain("evt-" + std::to_string(i));
  CHECK(all);
  int false_positives = 0;
  for (int i = 0; i < n; ++i) false_positives += f.MayContain("other-" + std::to_string(i)) ? 1 : 0;
  INFO(false_positives << " false positives of " << n);
  CHECK(false_positives < n / 200);  // one level: under 0.5 %
  // Past the reserved count it grows by doubling, and still finds every key.
  for (int i = n; i < 2 * n; ++i) f.Add("evt-" + std::to_string(i));
  CHECK(f.levels() == 2);
  for (int i = 0; i < 2 * n; ++i) all = all && f.MayContain("evt-" + std::to_string(i));
  CHECK(all);
  // A reservation after the first key changes nothing.
  projd::IdFilter late;
  late.Add("a");
  late.Reserve(1000000);
  CHECK(late.levels() == 1);
  CHECK(late.bytes() < 200000);
}
