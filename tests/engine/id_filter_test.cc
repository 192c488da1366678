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
