// The librdkafka helpers the Kafka files share: configuration, logging, handles.
#include "connectors/kafka_client.h"

#include <cstdio>
#include <cstring>
#include <mutex>

#include "connectors/log_limiter.h"
#include "connectors/source.h"

namespace projd {
namespace kafka_client {

bool SetConf(rd_kafka_conf_t* conf, const std::string& key, const std::string& value,
             std::string* error) {
  char errstr[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr, sizeof(errstr)) !=
      RD_KAFKA_CONF_OK) {
    *error = "kafka property " + key + ": " + errstr;
    return false;
  }
  return true;
}

}  // namespace kafka_client

bool CheckKafkaProperties(const std::vector<std::pair<std::string, std::string>>& properties,
                          std::string* error) {
  kafka_client::ConfPtr conf(rd_kafka_conf_new());
  for (const auto& [name, value] : properties) {
    if (!kafka_client::SetConf(conf.get(), name, value, error)) return false;
  }
  return true;
}

namespace kafka_client {

// librdkafka logs go to our stderr only at warning level and above, in one line each, and a
// line repeated in a loop (the embedded broker failing to accept, say) only now and then.
namespace {

std::mutex sink_mu;
KafkaLogSink& Sink() {  // guarded by sink_mu
  static KafkaLogSink sink;
  return sink;
}

}  // namespace

void LogCallback(const rd_kafka_t*, int level, const char* fac, const char* buf) {
  // The embedded broker answers metadata requests with an old protocol version, which makes
  // librdkafka warn about topic auto-creation on every request: noise, not news.
  if (strcmp(fac, "AUTOCREATE") == 0 || level > 4) return;
  static LogLimiter limiter;
  std::string line = std::string(fac) + ": " + buf;
  uint64_t suppressed;
  if (!limiter.Allow(line, &suppressed)) return;
  if (suppressed > 0) {
    line += " (" + std::to_string(suppressed) + " similar lines suppressed)";
  }
  WriteKafkaLog(level <= 3 ? "error" : "warn", line);
}

void WriteKafkaLog(const std::string& level, const std::string& line) {
  {
    std::lock_guard<std::mutex> lock(sink_mu);
    if (Sink()) {
      Sink()(level, line);
      return;
    }
  }
  fprintf(stderr, "level=%s component=kafka %s\n", level.c_str(), line.c_str());
}

// A handle made with `conf`. rd_kafka_new takes the configuration over only when it succeeds:
// then the handle owns it; on failure `conf` still frees it. nullptr and *error ("cannot create
// WHAT: ...") on failure.
HandlePtr NewHandle(rd_kafka_type_t type, ConfPtr conf, const char* what, std::string* error) {
  char errstr[512];
  HandlePtr rk(rd_kafka_new(type, conf.get(), errstr, sizeof(errstr)));
  if (!rk) {
    *error = std::string("cannot create ") + what + ": " + errstr;
    return nullptr;
  }
  // The configuration is the handle's now: let go of it without freeing it.
  static_cast<void>(conf.release());
  return rk;
}

// A client handle for the short-lived admin and query helpers (kafka_admin.cc): `settings`
// applied in order, warnings through LogCallback. nullptr and *error on failure.
HandlePtr NewClient(rd_kafka_type_t type,
                    const std::vector<std::pair<std::string, std::string>>& settings,
                    std::string* error) {
  ConfPtr conf(rd_kafka_conf_new());
  for (const auto& [k, v] : settings) {
    if (!SetConf(conf.get(), k, v, error)) return nullptr;
  }
  rd_kafka_conf_set_log_cb(conf.get(), LogCallback);
  return NewHandle(type, std::move(conf), "Kafka client", error);
}

}  // namespace kafka_client

void SetKafkaLogSink(KafkaLogSink sink) {
  std::lock_guard<std::mutex> lock(kafka_client::sink_mu);
  kafka_client::Sink() = std::move(sink);
}
}  // namespace projd
