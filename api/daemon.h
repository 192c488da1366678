// The front door of engine/: the projd daemon. Loads projections, runs one View per
// projection, and answers the HTTP API (api/http_api.cc) through a request→response
// function that knows nothing of sockets.
#ifndef PROJD_ENGINE_DAEMON_H_
#define PROJD_ENGINE_DAEMON_H_

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/auth.h"
#include "api/change_feed.h"
#include "api/http_server.h"
#include "connectors/log_limiter.h"
#include "connectors/source.h"
#include "dsl/compiler.h"
#include "dsl/value.h"
#include "engine/metrics.h"
#include "engine/view.h"
#include "engine/work_pool.h"
#include "store/kv.h"

namespace projd {

class Archive;

struct DaemonOptions {
  std::string projections_dir;            // required
  std::string data_dir;                   // required
  std::string listen = "127.0.0.1:8080";  // HOST:PORT; port 0 picks a free one
  std::string brokers;                    // empty: start the embedded broker
  std::string group_id;                   // empty: "projd-" + host name
  std::vector<std::pair<std::string, std::string>> kafka_props;
  bool demo = false;        // create and fill the example topics, then keep a stream going
  std::string demo_events;  // JSONL file produced by --demo
  // --demo's live stream after the example events: events per second (0: none), with a burst
  // of five times that rate for 5 s at the start of every minute, so that lag moves.
  int demo_rate = 10;
  int partitions = 4;  // embedded broker: partitions per topic
  SyncMode sync = SyncMode::kBatch;
  int64_t max_event_bytes = 1 << 20;
  bool log_json = false;
  bool insecure_listen_any = false;
  std::string auth_file;        // --auth: tokens and roles (SPEC §5)
  std::string schema_registry;  // --schema-registry URL: writer schemas of format avro
  // --archive file:///DIR | s3://BUCKET/PREFIX: the Kafka Connect S3 sink archive that new
  // views and rebuilds read below the log start (SPEC §13); --s3-endpoint for S3-compatible
  // servers.
  std::string archive;
  std::string s3_endpoint;
  // HTTP I/O threads (--http-threads); 0: one per two cores, at least one. Requests are light
  // on them (long work goes to the query pool), and an I/O thread that shares a core with the
  // views' threads or a client is descheduled for whole time slices: fewer threads give a
  // lower tail latency.
  int http_threads = 0;
  // Long work of the API (queries, scans, history and dead-letter pages, as-of reads) runs on
  // a pool of its own: this many threads (0: one per core, at least 2), and at most
  // query_queue requests waiting for one (more: 503).
  int query_threads = 0;
  int query_queue = 64;
  HttpServerOptions http;  // limits (address/port come from listen)
  // Change feeds (SPEC §9): changes kept per view (--changes-keep), and the feeds' limits
  // (--max-subscribers; the slow-consumer buffer and heartbeat interval).
  uint64_t changes_keep = 1000000;
  FeedOptions feeds;
};

class Daemon {
 public:
  friend struct DaemonApi;  // the HTTP API's handlers (daemon_api.h)
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

  // The HTTP API as a pure function (also used by tests without sockets). Long work is
  // handed to the query pool once Start has made it (before that it runs on the caller).
  void Handle(HttpRequest&& request, Responder respond);
  // The point read GET /v1/views/{view}/rows/{key} of a row that exists, by a caller that may
  // read it, answered from the request target and its Authorization field alone
  // (HttpServerOptions::quick_get): the answer Handle gives, with the same metrics. False for
  // anything else (then Handle answers): another path, a percent escape, an unknown view or
  // row, under --auth a token that is missing or may not read the view.
  bool QuickGet(const QuickGetRequest& request, QuickAnswer* answer);

  // Starts rebuilding a view from offset zero in a shadow store; the current view serves until
  // the shadow has caught up, then they swap. With !allow_gap, refuses (false, *gap set to
  // {"first_offsets", "missing"}) when a topic's log no longer starts at offset 0 and the
  // archive (--archive) does not cover what it lacks. false with *error for other failures.
  bool Rebuild(const std::string& view, bool allow_gap, std::string* error, Value* gap);
  // The partitions whose offsets from 0 are neither in Kafka nor in the archive: true with
  // *detail {"first_offsets": {"T:P": N}, "missing": {"T:P": {"first", "last"}}}.
  bool RetentionGap(const Projection& projection, Value* detail);
  // Deletes the kept data of a view that is not loaded. 1 deleted, 0 no such data, -1 loaded.
  int Drop(const std::string& view, std::string* error);

  // One log line (level, view or "", message); a line repeated in a loop is written only now
  // and then (LogLimiter).
  void Log(const std::string& level, const std::string& view, const std::string& message);

 private:
  // A loaded projection: the view that serves, and while rebuilding, the shadow that will
  // replace it. Each lives in DATA/views/NAME/gen-N; DATA/views/NAME/CURRENT names the serving
  // one, so a crash during a rebuild leaves the old view serving.
  struct Entry {
    std::shared_ptr<View> active;
    int active_gen = 0;
    std::shared_ptr<View> shadow;
    int shadow_gen = 0;
    // A changed definition not rebuilt because Kafka (and the archive) no longer hold the
    // start of a topic's log: the old one serves; POST rebuild?allow_gap=true applies it.
    std::shared_ptr<const Projection> held_definition;
    std::string held_reason;
  };
  // The rebuild a changed definition asks for, unless a retention gap would make it silently
  // incomplete: then the definition is held (Entry::held_definition) and said so.
  bool RebuildForDefinition(const std::shared_ptr<const Projection>& p, std::string* error);
  std::shared_ptr<View> FindView(const std::string& name);
  std::vector<std::shared_ptr<View>> Views();
  std::vector<std::pair<std::shared_ptr<View>, std::shared_ptr<View>>> ViewsWithShadows();
  std::shared_ptr<View> FindShadow(const std::string& name);
  // The serving view's status, with the rebuild's progress while a shadow is being built.
  ViewStatus StatusOf(const std::shared_ptr<View>& view);
  bool StartView(const std::shared_ptr<const Projection>& p, std::string* error);
  // ViewStore::Open, and a log line when the open moved history from the older layout.
  std::unique_ptr<ViewStore> OpenStore(const std::string& view, const std::string& dir,
                                       const KvOptions& kv, std::string* error);
  // pass_holes: the view's archive source passes offsets neither the archive nor Kafka holds
  // (a rebuild asked for with allow_gap) instead of holding the view there.
  // shadow: a rebuild's view (ViewOptions::shadow).
  std::shared_ptr<View> OpenView(const std::shared_ptr<const Projection>& p, int gen,
                                 std::string* error, bool pass_holes = false, bool shadow = false);
  // The generation a rebuild of `name` builds (the serving one's next), or -1 with *error when
  // a rebuild of it already runs.
  int ShadowGeneration(const std::string& name, std::string* error);
  bool StartShadow(const std::string& name, const std::shared_ptr<const Projection>& p,
                   std::string* error, bool pass_holes = false);
  void SwapIfCaughtUp(const std::string& name);
  std::string ViewDir(const std::string& name) const;
  int CurrentGen(const std::string& name) const;
  bool SetCurrentGen(const std::string& name, int gen, std::string* error);
  std::unique_ptr<Source> MakeSource(const std::string& view, bool pass_holes);
  void Monitor();
  bool ProduceDemo(std::string* error);
  // --demo's live stream (a thread until Stop): banking events at options_.demo_rate.
  void DemoStream(std::vector<std::array<std::string, 3>> accounts, const std::string& topic);
  // projd_http_requests_total and projd_http_request_seconds: an answer of a route (index in
  // ApiRoutes(), -1 when none matched), and their text for /metrics.
  void CountRequest(int route, int status, double seconds);
  void WriteHttpMetrics(std::string* out);
  // One projd per data folder: an exclusive flock on DATA/LOCK, which holds the pid. false
  // with *error naming the holder's pid when another process has it.
  bool LockDataDir(std::string* error);
  // Raises the open files limit to its hard limit and keeps the HTTP connection cap below it.
  void RaiseFileLimit(size_t views);

  DaemonOptions options_;
  std::string brokers_;
  std::unique_ptr<EmbeddedBroker> embedded_;
  // Before http_: the server's streams call into the feeds until it has stopped.
  std::unique_ptr<ChangeFeeds> feeds_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<Auth> auth_;                // null without --auth
  std::shared_ptr<SchemaRegistry> registry_;  // null without --schema-registry
  std::unique_ptr<Archive> archive_;          // null without --archive; sources use clones
  std::mutex views_mu_;
  std::map<std::string, Entry> views_;  // guarded by views_mu_
  std::mutex log_mu_;
  LogLimiter log_limiter_;
  int lock_fd_ = -1;  // DATA/LOCK, held while the daemon lives
  // Changes to which views exist and which generation serves, one at a time: Reload, Rebuild,
  // Drop and a rebuild's swap (SwapIfCaughtUp, which lets go of it while the serving view is
  // held and takes it again to swap). Taken before views_mu_, never inside it.
  std::mutex admin_mu_;
  std::atomic<bool> stopping_{false};
  std::thread monitor_;
  std::thread demo_;                     // --demo's live stream
  Histogram query_seconds_;              // reads of views (rows, scans, history)
  std::unique_ptr<WorkPool> work_pool_;  // long work of the API; made by Start
  std::mutex http_metrics_mu_;
  std::map<std::pair<int, int>, uint64_t> http_requests_;  // guarded: (route, status) -> count
  // The 200 answers per route (then no route), counted without the mutex: most answers.
  std::unique_ptr<std::atomic<uint64_t>[]> http_ok_;
  std::vector<std::unique_ptr<Histogram>> http_seconds_;  // per route, then one for no route
};

}  // namespace projd

#endif  // PROJD_ENGINE_DAEMON_H_
