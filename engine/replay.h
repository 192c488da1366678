// Local replay of a JSONL events file through a projection, in memory, with the same Projector
// the daemon uses (projctl test, diff, explain; benchmarks).
#ifndef PROJD_ENGINE_REPLAY_H_
#define PROJD_ENGINE_REPLAY_H_

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "dsl/program.h"
#include "engine/projector.h"

namespace projd {

struct ReplayResult {
  std::map<std::string, RowRecord> rows;
  std::vector<DeadLetter> dead_letters;
  int64_t events = 0;  // messages of the projection's topics
  int64_t applied = 0, ignored = 0, duplicates = 0;
  bool stopped = false;  // errors stop hit an event error
  std::string stop_reason;
  std::string stop_at;  // TOPIC:PARTITION:OFFSET of the failing event
};

// Called after each applied event with the trace of its statements (explain).
using ReplayObserver =
    std::function<void(const Message& msg, const std::string& key,
                       const std::vector<TraceStep>& trace, const RowRecord& after)>;

// Replays `events_path`. `batch_size` events share a batch, as in the daemon. Returns false
// with *error when the file cannot be read (or `avro_schema` does not parse).
// `format avro` projections need `avro_schema`, the writer schema JSON (projctl test --schema):
// each event value, given as JSON, is encoded with it into the Confluent wire format and then
// decoded by the daemon's Avro path, so that logical types read as they will in projd. An
// event that does not fit the schema is an event error, and so is a line that opens a JSON
// object but does not parse (with the parser's reason); any other line that is not JSON stays as
// it is (not Avro: an event error too). `whole_events`: see Projector::ReadWholeEvents.
bool Replay(const std::shared_ptr<const Projection>& projection, const std::string& events_path,
            ReplayResult* out, std::string* error, size_t batch_size = 65536,
            const ReplayObserver& observer = nullptr, const std::string* avro_schema = nullptr,
            bool whole_events = false);

// How many threads read events ahead of the applying thread in Replay (JSON events): 0, the
// default, picks from the cores (see engine/README.md). For tests and benchmarks.
void SetReplayReaders(int readers);
// The largest event a replay applies (projd's --max-event-bytes; default 1 MiB): a larger one
// is an event error, as in the daemon.
void SetReplayMaxEventBytes(int64_t bytes);

// The view as a JSON object {key: row}, keys in order.
Value ViewToJson(const std::map<std::string, RowRecord>& rows);

}  // namespace projd

#endif  // PROJD_ENGINE_REPLAY_H_
