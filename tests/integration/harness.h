// Helpers for end-to-end tests: run the real projd and projctl programs, talk HTTP to them,
// produce to Kafka.
#ifndef PROJD_TESTS_INTEGRATION_HARNESS_H_
#define PROJD_TESTS_INTEGRATION_HARNESS_H_

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "api/http_server.h"
#include "dsl/value.h"

namespace projd::testing {

// A fresh, empty folder under the build's temp area.
std::string TempDir(const std::string& name);
void WriteFile(const std::string& path, const std::string& content);
std::string ReadFile(const std::string& path);
// A fresh folder TempDir(name) laid out as the tests run projd in it: DIR/projections/FILE
// holding `text` (the data goes to DIR/data: see ProjdProcess::StartIn). Returns DIR.
std::string ProjectionFolder(const std::string& name, const std::string& file,
                             const std::string& text);

// The real broker's bootstrap address from PROJD_KAFKA_BROKERS, or "".
std::string RealKafka();

// The real broker for [kafka] tests (PROJD_KAFKA_BROKERS); "" with a warning when it is not
// set, and a failed test when PROJD_KAFKA_REQUIRED is set too.
std::string KafkaOrSkip();
// A topic name of its own for a test: BASE-PID-N.
std::string UniqueTopic(const std::string& base);
// Produces `values` (no message key) to `topic` and waits until Kafka has them all (REQUIREs).
void ProduceValues(const std::string& brokers, const std::string& topic,
                   const std::vector<std::string>& values);
// A member of a JSON object as text: a string as it is, anything else as JSON; "(none)" when
// absent.
std::string FieldText(const Value& v, const std::string& name);

// Runs a shell command, capturing stdout+stderr; returns the exit code.
int Run(const std::string& command, std::string* output);

class ProjdProcess {
 public:
  // Starts projd with these arguments (--listen 127.0.0.1:0 is added unless given) and waits
  // until its HTTP API listens. Logs go to `log_path`. nullptr and *error on failure.
  static std::unique_ptr<ProjdProcess> Start(const std::vector<std::string>& args,
                                             const std::string& log_path, std::string* error);
  // Starts projd on a folder laid out as ProjectionFolder makes it: --projections DIR/projections
  // --data DIR/data, then `more`; the log is DIR/LOG.
  static std::unique_ptr<ProjdProcess> StartIn(const std::string& dir,
                                               const std::vector<std::string>& more,
                                               std::string* error,
                                               const std::string& log = "projd.log");
  ~ProjdProcess();

  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  // The embedded broker's address (when started without --brokers).
  const std::string& embedded_brokers() const { return embedded_; }
  std::string Log() const;

  void Kill9();
  // SIGTERM and wait; returns the exit status (or -1 on timeout, then SIGKILL).
  int Terminate(std::chrono::seconds timeout = std::chrono::seconds(30));
  void Signal(int sig);

  HttpClientResult Call(const std::string& method, const std::string& target,
                        const std::string& body = "",
                        const std::vector<std::pair<std::string, std::string>>& headers = {});
  // Headers GetJson (and so WaitCaughtUp) sends, e.g. an Authorization header.
  void set_json_headers(std::vector<std::pair<std::string, std::string>> h) {
    json_headers_ = std::move(h);
  }
  // GET and parse JSON; fails the test on transport errors.
  Value GetJson(const std::string& target, int* status = nullptr);
  // Waits until GET /v1/views/{view} reports lag 0 with every partition known and the
  // position covers at least `min_events` events (sum of offsets). false on timeout.
  bool WaitCaughtUp(const std::string& view, int64_t min_events,
                    std::chrono::seconds timeout = std::chrono::seconds(60));
  // Waits until GET /v1/views/{view} reports no rebuild running (the rebuilt view swapped in,
  // or none asked for). false on timeout: two minutes by default, as a rebuild replays every
  // event so far, under ASan on loaded cores too.
  bool WaitRebuilt(const std::string& view,
                   std::chrono::seconds timeout = std::chrono::seconds(120));

 private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::string embedded_;
  std::string log_path_;
  std::vector<std::pair<std::string, std::string>> json_headers_;
};

}  // namespace projd::testing

#endif  // PROJD_TESTS_INTEGRATION_HARNESS_H_
