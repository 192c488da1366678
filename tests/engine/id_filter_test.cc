// The id filter of the dedupe table (store/id_filter.h): never a false negative, few false
// positives, at every size as its levels grow; and the hashes it shares with the batch's tables.
#include "store/id_filter.h"

#include <catch2/catch.hpp>
#include <string>

#include "store/records.h"
#include "store/row_map.h"
#include "store/string_set.h"

namespace {

// Adds keys evt-FROM .. evt-(TO-1).
void AddKeys(projd::IdFilter* f, int from, int to) {
  for (int i = from; i < to; ++i) f->Add("evt-" + std::to_string(i));
}

// Whether the filter may contain every key evt-0 .. evt-(n-1) (no false negative).
bool FindsAll(const projd::IdFilter& f, int n) {
  bool all = true;
  for (int i = 0; i < n; ++i) all = all && f.MayContain("evt-" + std::to_string(i));
  return all;
}

// How many of n keys never added the filter says it may contain.
int FalsePositives(const projd::IdFilter& f, int n) {
  int false_positives = 0;
  for (int i = 0; i < n; ++i) false_positives += f.MayContain("other-" + std::to_string(i)) ? 1 : 0;
  return false_positives;
}

}  // namespace

TEST_CASE("IdFilter finds every key added and few others", "[engine]") {
  projd::IdFilter f;
  CHECK_FALSE(f.MayContain("anything"));
  const int n = 600000;  // past several levels (65,536 keys, then twice as many each)
  AddKeys(&f, 0, n);
  CHECK(f.size() == static_cast<size_t>(n));
  CHECK(FindsAll(f, n));
  int false_positives = FalsePositives(f, n);
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
  AddKeys(&grown, 0, n);
  CHECK(grown.levels() == 3);  // 65,536 + 131,072 + 262,144 keys

  projd::IdFilter f;
  f.Reserve(n + n / 2);
  AddKeys(&f, 0, n);
  CHECK(f.levels() == 1);
  CHECK(FindsAll(f, n));
  int false_positives = FalsePositives(f, n);
  INFO(false_positives << " false positives of " << n);
  CHECK(false_positives < n / 200);  // one level: under 0.5 %
  // Past the reserved count it grows by doubling, and still finds every key.
  AddKeys(&f, n, 2 * n);
  CHECK(f.levels() == 2);
  CHECK(FindsAll(f, 2 * n));
  // A reservation after the first key changes nothing.
  projd::IdFilter late;
  late.Add("a");
  late.Reserve(1000000);
  CHECK(late.levels() == 1);
  CHECK(late.bytes() < 200000);
}

// The view's thread passes the hashes a reader computed ahead (StringSet::Hash of the id,
// RowMap::Hash of the key) instead of hashing again: each table must find by one what was
// added by the other.
TEST_CASE("the hashes computed ahead are the ones the id filter and the batch's tables use",
          "[engine]") {
  projd::IdFilter f;
  projd::StringSet set;
  projd::RowMap rows;
  for (int i = 0; i < 1000; ++i) {
    std::string id = "evt-" + std::to_string(i);
    if (i % 2) {
      f.AddHashed(projd::StringSet::Hash(id));
      set.Insert(id, projd::StringSet::Hash(id));
      rows.emplace(id, projd::RowMap::Hash(id), projd::RowRecord());
    } else {
      f.Add(id);
      set.Insert(id);
      rows.emplace(id, projd::RowRecord());
    }
  }
  for (int i = 0; i < 1000; ++i) {
    std::string id = "evt-" + std::to_string(i);
    INFO(id);
    CHECK(f.MayContain(id));
    CHECK(f.MayContainHashed(projd::StringSet::Hash(id)));
    CHECK(set.Contains(id));
    CHECK_FALSE(set.Insert(id, projd::StringSet::Hash(id)));
    CHECK(rows.find(id) != rows.end());
    CHECK(rows.find(id, projd::RowMap::Hash(id)) != rows.end());
  }
  CHECK(set.size() == 1000);
  CHECK(rows.size() == 1000);
  size_t hashed = 0;
  set.ForEachHashed([&](std::string_view s, uint64_t hash) {
    hashed += hash == projd::StringSet::Hash(s) ? 1 : 0;
  });
  CHECK(hashed == 1000);
}
