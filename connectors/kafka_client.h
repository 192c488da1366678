// Inside connectors/: the librdkafka handles and helpers the Kafka files share. kafka.cc (the
// consuming Source), kafka_producer.cc (the producer and the embedded broker), kafka_admin.cc
// (topics, watermarks, record deletion, committed offsets) and kafka_client.cc are the only
// files that include librdkafka; nothing outside connectors/ includes this.
#ifndef PROJD_CONNECTORS_KAFKA_CLIENT_H_
#define PROJD_CONNECTORS_KAFKA_CLIENT_H_

#include <librdkafka/rdkafka.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace projd {
namespace kafka_client {

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};
struct HandleDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
struct QueueDeleter {
  void operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
};
struct ListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;
using HandlePtr = std::unique_ptr<rd_kafka_t, HandleDeleter>;
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, QueueDeleter>;
using ListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, ListDeleter>;

// Sets one property of `conf`; false and *error ("kafka property KEY: ...") when librdkafka
// refuses it.
bool SetConf(rd_kafka_conf_t* conf, const std::string& key, const std::string& value,
             std::string* error);

// librdkafka logs go to our stderr only at warning level and above, in one line each, and a
// line repeated in a loop (the embedded broker failing to accept, say) only now and then.
// Through the sink of SetKafkaLogSink when one is set.
void LogCallback(const rd_kafka_t*, int level, const char* fac, const char* buf);
// One line ("FACILITY: message") at `level` (warn or error), to the sink or to stderr.
void WriteKafkaLog(const std::string& level, const std::string& line);

// A handle made with `conf`. rd_kafka_new takes the configuration over only when it succeeds:
// then the handle owns it; on failure `conf` still frees it. nullptr and *error ("cannot create
// WHAT: ...") on failure.
HandlePtr NewHandle(rd_kafka_type_t type, ConfPtr conf, const char* what, std::string* error);

// A client handle for the short-lived admin and query helpers (kafka_admin.cc): `settings`
// applied in order, warnings through LogCallback. nullptr and *error on failure.
HandlePtr NewClient(rd_kafka_type_t type,
                    const std::vector<std::pair<std::string, std::string>>& settings,
                    std::string* error);

}  // namespace kafka_client
}  // namespace projd

#endif  // PROJD_CONNECTORS_KAFKA_CLIENT_H_
