// The daemon's apply path for benchmarks (bench/projd_bench.cc, bench/text_bench.cc): the
// projector on the calling thread, each staged batch written by a second thread while the next
// one is applied, as a view does (engine/view.cc), in batches of ViewOptions::max_batch.
#ifndef PROJD_BENCH_APPLY_PATH_H_
#define PROJD_BENCH_APPLY_PATH_H_

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dsl/program.h"
#include "engine/projector.h"
#include "store/view_store.h"

namespace projd_bench {

// Applies `events` (values; messages on `topic` at offsets 0, 1, ...) into `store`, whose
// indexes and change log are set already. *secs: the whole time; *waited: the applying thread
// waiting for the writer. false when a write failed (told on stderr).
inline bool ApplyPipelined(const std::shared_ptr<const projd::Projection>& projection,
                           projd::ViewStore* store, const std::vector<std::string>& events,
                           const std::string& topic, double* secs, double* waited) {
  using Clock = std::chrono::steady_clock;
  auto seconds = [](Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
  };
  constexpr size_t kBatch = 10000;       // ViewOptions::max_batch
  constexpr size_t kGrownBatch = 40000;  // ViewOptions::max_grown_batch
  std::string error;
  projd::Projector projector(projection);
  projd::Batch batch;
  batch.record_changes = store->records_changes();
  batch.history_from_changes =
      batch.record_changes && projection->history() != projd::Projection::History::kNone;
  projd::StagedBatch staged, next;
  std::thread writer;
  std::atomic<bool> write_failed{false};
  *waited = 0;
  auto t0 = Clock::now();
  size_t i = 0;
  while (i < events.size()) {
    batch.ClearKeepingRows();  // the rows staged stay in the batch (ViewStore::Stage)
    store->BeginBatch(&error);
    // As the daemon's view does with a backlog: more events join this one, up to kGrownBatch.
    size_t first = i;
    do {
      size_t end = std::min(events.size(), i + kBatch);
      for (; i < end; ++i) {
        projd::Message m;
        m.topic = topic;
        m.offset = static_cast<int64_t>(i);
        m.value = events[i];
        std::string reason;
        projector.Apply(m, store, &batch, &reason);
      }
    } while (i < events.size() && i - first + kBatch <= kGrownBatch);
    store->Stage(&batch, &next);
    store->EndBatch();
    auto w0 = Clock::now();
    if (writer.joinable()) writer.join();
    *waited += seconds(w0, Clock::now());
    std::swap(staged, next);
    writer = std::thread([&] {
      std::string werror;
      if (!store->Write(staged, &werror)) {
        std::cerr << werror << "\n";
        write_failed = true;
      }
    });
  }
  if (writer.joinable()) writer.join();
  *secs = seconds(t0, Clock::now());
  return !write_failed;
}

}  // namespace projd_bench

#endif  // PROJD_BENCH_APPLY_PATH_H_
