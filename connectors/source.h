// The front door of connectors/: where events come from.
//
// A Source delivers messages of some topics, partition by partition, each partition starting
// at an offset the caller chooses. Implementations: Kafka (librdkafka), JSONL files (projctl
// test). The engine owns the positions; a Source never decides where to resume.
//
// Thread-safety: one thread uses a Source at a time, except Status(), which any thread may call.
#ifndef PROJD_CONNECTORS_SOURCE_H_
#define PROJD_CONNECTORS_SOURCE_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "connectors/position.h"
#include "dsl/event_meta.h"

namespace projd {

// One message: where it sits in its log, its key and headers (EventMeta, what `meta.*` reads),
// and its value. The views are valid until the next Poll on the same Source.
struct Message : EventMeta {
  std::string_view value;
  // Set when the message could not be read as an event at all (for example a JSONL line that
  // is not JSON is still delivered, but a Source may also flag transport-level problems).
  std::string_view error;
};

// A message that owns its bytes: what a view keeps of the messages it holds across polls (the
// one an `errors stop` view stopped at, and the rest of its batch).
struct OwnedMessage {
  OwnedMessage() = default;
  explicit OwnedMessage(const Message& m);
  // A Message viewing this one's bytes (valid while this lives and is not changed).
  Message View() const;

  std::string topic, key, value, error;
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<bool> null_headers;  // per header: it has no value (null, not "")
  Partition partition = 0;
  Offset offset = 0;
  int64_t timestamp_ms = 0;
  bool has_key = false;

 private:
  mutable std::vector<MessageHeader> header_views_;  // what View() hands out
};

// Per-partition facts a Source knows, for lag: the high watermark (offset after the last
// message in the log) and the first offset still in the log.
struct PartitionInfo {
  std::optional<Offset> low_watermark;   // unknown until the source has asked
  std::optional<Offset> high_watermark;  // unknown until the source has asked
};
// A watermark as librdkafka reports it: negative (RD_KAFKA_OFFSET_INVALID) while not known.
inline std::optional<Offset> KnownOffset(int64_t offset) {
  return offset >= 0 ? std::optional<Offset>(offset) : std::nullopt;
}

struct SourceStatus {
  bool healthy = true;
  std::string problem;  // e.g. "topic account-events does not exist", "broker down: ..."
  // Consumption is held until the problem is solved (an archive that cannot be read): the
  // view is stalled, whatever its lag.
  bool held = false;
  std::map<TopicPartition, PartitionInfo> partitions;
  // What came from the archive (connectors/archive.h; `archive` set when the source reads
  // one): events delivered, objects and bytes read.
  bool archive = false;
  int64_t archive_events = 0, archive_objects = 0, archive_bytes = 0;
  // Kafka: times the fetchers were woken after a full consumer queue had paused them.
  int64_t fetch_wakes = 0;
};

class Source {
 public:
  virtual ~Source() = default;

  // Starts delivering `topics`. `start_offset(tp)` gives the next offset to deliver for a
  // partition (0 for one never seen); it is called for each partition when the Source first
  // learns of it (topics may appear later). Returns false and sets *error on a fatal setup
  // problem (bad configuration); a missing topic is not fatal (see Status()).
  virtual bool Start(const std::vector<std::string>& topics,
                     std::function<int64_t(const TopicPartition&)> start_offset,
                     std::string* error) = 0;

  // Waits up to `timeout` for messages and appends at most `max` to *out (cleared first).
  // Returns false when the source is exhausted for good (file sources at their end).
  virtual bool Poll(std::vector<Message>* out, size_t max, std::chrono::milliseconds timeout) = 0;

  // Tells the source that everything before these offsets is durably applied (Kafka commits
  // them to the consumer group, for external lag tools). Optional.
  virtual void Committed(const Position& /*next_offsets*/) {}

  // Moves a partition to `offset` (used to skip past a failing event).
  virtual void Seek(const TopicPartition& tp, int64_t offset) = 0;

  // The caller reads no message headers (its projection has no `meta.headers`): a source may
  // then deliver none (header_count 0), which spares librdkafka's header lookup per message.
  // Call before Start.
  virtual void SkipHeaders() {}

  virtual SourceStatus Status() const = 0;
};

// Kafka settings shared by every Kafka source of a daemon.
struct KafkaOptions {
  std::string brokers;             // bootstrap servers "host:port,..."
  std::string group_id = "projd";  // consumer group for informational offset commits
  std::vector<std::pair<std::string, std::string>> properties;  // passed to librdkafka
  int64_t max_event_bytes = 1 << 20;  // larger messages are delivered with error set
  // Where librdkafka's warnings and errors go ("warn"/"error", message); stderr when empty.
  std::function<void(const std::string& level, const std::string& message)> log;
};

// Whether librdkafka takes each of `properties` (name and value) as a consumer's setting:
// false with *error ("kafka property NAME: ...") for an unknown name or a bad value.
bool CheckKafkaProperties(const std::vector<std::pair<std::string, std::string>>& properties,
                          std::string* error);

// A Source reading Kafka through librdkafka. Partitions are assigned (not subscribed): each
// starts at the caller's offset; new topics and partitions are found by polling metadata.
std::unique_ptr<Source> NewKafkaSource(const KafkaOptions& options, std::string client_name);

// Reads events from a JSONL file (SPEC §7 projctl test format). Each line is either a bare
// event (topic = default_topic, partition 0, offsets from 0) or an envelope
// {"topic", "partition", "timestamp", "key", "value"}. A line that is not a JSON object is
// delivered as a message whose value is the raw line, so the engine handles it like any
// undecodable event. Blank lines are skipped. A poll's messages stay valid until
// `polls_kept` more polls have been made (1: until the next, as for every Source), so that a
// reader may poll ahead of the messages it has handed on.
std::unique_ptr<Source> NewFileSource(const std::string& path, const std::string& default_topic,
                                      std::string* error, size_t polls_kept = 1);

// The embedded, in-memory Kafka-protocol broker (librdkafka's mock cluster) for trying projd
// out. Lives as long as the object.
class EmbeddedBroker {
 public:
  static std::unique_ptr<EmbeddedBroker> Start(int partitions, std::string* error);
  virtual ~EmbeddedBroker() = default;
  virtual const std::string& bootstrap() const = 0;
  // Creates the topic if missing (with the broker's partition count).
  virtual bool CreateTopic(const std::string& topic, std::string* error) = 0;
  // The next requests with this Kafka API key (8: OffsetCommit, ...) are answered with these
  // error codes, one request each, before the broker answers normally again: clients' retries
  // can be tried against a coordinator still loading, say. For tests.
  virtual void FailRequests(int16_t api_key, const std::vector<int>& errors) = 0;
};

// A simple producer, for --demo and tests. Produce waits for the delivery report and returns
// the offset, or false with *error.
class Producer {
 public:
  static std::unique_ptr<Producer> Create(
      const std::string& brokers, const std::vector<std::pair<std::string, std::string>>& props,
      std::string* error);
  virtual ~Producer() = default;
  // Partition -1: by key hash (librdkafka's default partitioner).
  virtual bool Produce(const std::string& topic, int32_t partition, std::string_view key,
                       std::string_view value, int64_t timestamp_ms, int32_t* partition_out,
                       int64_t* offset_out, std::string* error) = 0;
  // Queues without waiting; Flush waits for all queued messages.
  virtual bool ProduceAsync(const std::string& topic, std::string_view key, std::string_view value,
                            std::string* error) = 0;
  // The same with message headers (name, value), sent in this order.
  virtual bool ProduceAsync(const std::string& topic, std::string_view key, std::string_view value,
                            const std::vector<std::pair<std::string, std::string>>& headers,
                            std::string* error) = 0;
  virtual bool Flush(std::chrono::milliseconds timeout, std::string* error) = 0;
};

// Where librdkafka's warnings go when no client has a log function of its own (the embedded
// broker, producers, admin clients): the daemon's log, in its format. Unset (the default),
// they are written to stderr as `level=warn component=kafka ...`.
using KafkaLogSink = std::function<void(const std::string& level, const std::string& message)>;
void SetKafkaLogSink(KafkaLogSink sink);

// Creates a topic on a Kafka cluster (replication factor 1) unless it exists. For tests,
// benchmarks and tools; projd itself never creates topics on a real cluster.
bool CreateKafkaTopic(const std::string& brokers, const std::string& topic, int partitions,
                      std::string* error);

// Deletes a topic from a Kafka cluster (tests: a topic deleted and created again).
bool DeleteKafkaTopic(const std::string& brokers, const std::string& topic, std::string* error);

// Asks the cluster for the first and next offsets of every partition of `topic`. Returns false
// with *error when the cluster cannot be asked or the topic does not exist.
bool QueryWatermarks(const std::string& brokers,
                     const std::vector<std::pair<std::string, std::string>>& props,
                     const std::string& topic, std::map<int32_t, PartitionInfo>* out,
                     std::string* error);

// Deletes the records of a partition before `before_offset` (what retention does), so the log
// no longer starts at 0. For tests and tools.
bool DeleteKafkaRecords(const std::string& brokers, const std::string& topic, int32_t partition,
                        int64_t before_offset, std::string* error);

// The offsets a consumer group has committed for the partitions of `topic` (-1: none).
bool QueryCommitted(const std::string& brokers, const std::string& group, const std::string& topic,
                    int partitions, std::map<int32_t, int64_t>* out, std::string* error);

}  // namespace projd

#endif  // PROJD_CONNECTORS_SOURCE_H_
