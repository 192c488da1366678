// The archive tests' fixture (tests/integration/archive_test.cc): a topic on the real broker
// with known events per partition, a projection over it, and the Kafka Connect S3 sink layout
// of its first offsets written to a folder.
#ifndef PROJD_TESTS_INTEGRATION_ARCHIVE_HARNESS_H_
#define PROJD_TESTS_INTEGRATION_ARCHIVE_HARNESS_H_

#include <map>
#include <string>
#include <vector>

#include "tests/integration/harness.h"

namespace projd::testing {

struct ArchiveFixture {
  static constexpr int kPartitions = 2;
  static constexpr int kPerPartition = 300;

  // A projection `ledger` over a new topic of kPartitions partitions holding kPerPartition
  // deposits each (ten accounts per partition), with the expected balances and counts.
  bool Setup(const std::string& name, const std::string& brokers);
  // Writes offsets [0, upto) of every partition (partition 1: upto + overlap) to `root` in the
  // sink's layout, per_object values per object.
  void WriteArchive(const std::string& root, int64_t upto, int64_t per_object,
                    int64_t overlap_partition1);
  // The view's rows equal the expected balances and counts.
  void CheckView(ProjdProcess& p);
  // Waits until a rebuild (after `rebuilds_before` earlier ones) has swapped in.
  bool WaitSwapped(ProjdProcess& p, size_t rebuilds_before);

  std::string dir, topic;
  std::map<int, std::vector<std::string>> values;  // partition -> value at each offset
  std::map<std::string, int64_t> balance, count;

 private:
  std::string brokers_;
};

}  // namespace projd::testing

#endif  // PROJD_TESTS_INTEGRATION_ARCHIVE_HARNESS_H_
