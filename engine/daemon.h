// The front door of engine/: the projd daemon. Loads projections, runs one View per
// projection, and answers the HTTP API (engine/http_api.cc) through a request→response
// function that knows nothing of sockets.
#ifndef PROJD_ENGINE_DAEMON_H_
#define PROJD_ENGINE_DAEMON_H_

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "connectors/source.h"
#include "dsl/compiler.h"
#include "engine/http_server.h"
#include "engine/kv.h"
#include "engine/metrics.h"
#include "engine/view.h"

namespace projd {

struct DaemonOptions {
  std::string projections_dir;                 // required
  std::string data_dir;                        // required
  std::string listen = "127.0.0.1:8080";       // HOST:PORT; port 0 picks a free one
  std::string brokers;                         // empty: start the embedded broker
  std::string group_id;                        // empty: "projd-" + host name
  std::vector<std::pair<std::string, std::string>> kafka_props;
  bool demo = false;                           // create and fill the example topics
  std::string demo_events;                     // JSONL file produced by --demo
  int partitions = 4;                          // embedded broker: partitions per topic
  SyncMode sync = SyncMode::kBatch;
  int64_t max_event_bytes = 1 << 20;
  bool log_json = false;
  bool insecure_listen_any = false;
  int http_threads = 2;
  HttpServerOptions http;                      // limits (address/port come from listen)
};

class Daemon {
 public:
  explicit Daemon(DaemonOptions options);
  ~Daemon();

  // Loads and starts everything. false with *error when projd cannot start (a broken .proj
  // file, an unusable data folder, a port in use).
  bool Start(std::string* error);
  // Finishes each view's batch in hand, commits, and stops. Idempotent.
  void Stop();
  // Re-reads the projections folder: new projections start, changed ones start over from
  // offset zero, removed ones stop being served. A folder that does not compile changes
  // nothing. Returns false with the errors.
  bool Reload(std::string* errors);

  uint16_t http_port() const;
  const std::string& brokers() const { return brokers_; }

  // The HTTP API as a pure function (also used by tests without sockets).
  void Handle(HttpRequest&& request, Responder respond);

  void Log(const std::string& level, const std::string& view, const std::string& message);

 private:
  std::shared_ptr<View> FindView(const std::string& name);
  std::vector<std::shared_ptr<View>> Views();
  bool StartView(std::shared_ptr<const Projection> p, std::string* error);
  std::unique_ptr<Source> MakeSource(const std::string& view);
  void Monitor();
  HttpResponse Metrics();
  bool ProduceDemo(std::string* error);

  DaemonOptions options_;
  std::string brokers_;
  std::unique_ptr<EmbeddedBroker> embedded_;
  std::unique_ptr<HttpServer> http_;
  std::mutex views_mu_;
  std::map<std::string, std::shared_ptr<View>> views_;  // guarded by views_mu_
  std::mutex log_mu_;
  std::atomic<bool> stopping_{false};
  std::thread monitor_;
  Histogram query_seconds_;  // reads of views (rows, scans, history)
};

}  // namespace projd

#endif  // PROJD_ENGINE_DAEMON_H_
