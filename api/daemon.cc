// The daemon (see daemon.h): its start (options, the data folder's lock, the broker, the views,
// the HTTP API), the monitor thread, stop, and its logs. The views by name, their generations
// and rebuilds are in daemon_views.cc; --demo is in daemon_demo.cc.
#include "api/daemon.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "api/api_routes.h"
#include "connectors/archive.h"
#include "dsl/thread_name.h"
#include "dsl/time.h"
#include "dsl/value.h"
#include "store/data_lock.h"

namespace projd {
namespace {

namespace fs = std::filesystem;

std::string HostName() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "local";
  return buf;
}

bool SplitHostPort(const std::string& s, std::string* host, uint16_t* port) {
  size_t colon = s.rfind(':');
  if (colon == std::string::npos) return false;
  *host = s.substr(0, colon);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  std::string p = s.substr(colon + 1);
  if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  int v = std::stoi(p);
  if (v > 65535) return false;
  *port = static_cast<uint16_t>(v);
  return true;
}

// The schema registry's HTTP exchanges, through the blocking client of api/http_client.cc.
bool RegistryHttp(const RegistryHttpRequest& req, RegistryHttpResponse* resp, std::string* error) {
  HttpClientResult r;
  std::vector<std::pair<std::string, std::string>> headers = {
      {"Accept", "application/vnd.schemaregistry.v1+json, application/json"}};
  if (req.method == "POST") {
    headers.emplace_back("Content-Type", "application/vnd.schemaregistry.v1+json");
  }
  if (!HttpCall(req.host, req.port, req.method, req.target, headers, req.body, req.timeout, &r,
                error)) {
    return false;
  }
  resp->status = r.status;
  resp->body = std::move(r.body);
  return true;
}

bool IsLoopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

}  // namespace

Daemon::Daemon(DaemonOptions options)
    : options_(std::move(options)), feeds_(std::make_unique<ChangeFeeds>(options_.feeds)) {
  for (size_t i = 0; i <= ApiRoutes().size(); ++i) {
    http_seconds_.push_back(std::make_unique<Histogram>());
  }
  http_ok_ = std::make_unique<std::atomic<uint64_t>[]>(http_seconds_.size());
  for (size_t i = 0; i < http_seconds_.size(); ++i) http_ok_[i].store(0);
  // librdkafka's warnings from clients without a log of their own (the embedded broker, the
  // demo's producer) go through this log too: one format, JSON lines with --log-format json.
  SetKafkaLogSink([this](const std::string& level, const std::string& message) {
    Log(level, "", "kafka " + message);
  });
}

Daemon::~Daemon() {
  Stop();
  SetKafkaLogSink(nullptr);
  if (lock_fd_ >= 0) close(lock_fd_);  // releases the data folder's lock
}

bool Daemon::LockDataDir(std::string* error) {
  std::string path = options_.data_dir + "/LOCK";
  bool held;
  std::string holder;
  int fd = LockDataFolder(options_.data_dir, &held, &holder, error);
  if (fd < 0) {
    if (held) {
      *error = options_.data_dir + " is in use by another projd" +
               (holder.empty() ? "" : " (pid " + holder + ")") + ", which holds " + path;
    }
    return false;
  }
  std::string pid = std::to_string(getpid()) + "\n";
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    Log("warn", "", "cannot write the pid into " + path + ": " + strerror(errno));
  }
  lock_fd_ = fd;
  return true;
}

void Daemon::RaiseFileLimit(size_t views) {
  // Every connection is a descriptor: the soft limit (often 1024) goes up to the hard one, and
  // the connection cap stays below what is left after the views' own files and sockets.
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  if (rl.rlim_cur < rl.rlim_max) {
    struct rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  size_t limit = rl.rlim_cur == RLIM_INFINITY ? size_t{1} << 20 : static_cast<size_t>(rl.rlim_cur);
  // Per view (and its rebuild): LMDB files, Kafka sockets and pipes; then the broker, logs.
  size_t reserve = 128 + 32 * views;
  size_t cap = options_.http.max_connections;
  if (cap + reserve > limit) cap = limit > reserve + 16 ? limit - reserve : 16;
  if (cap != options_.http.max_connections) {
    Log("warn", "",
        "HTTP connections capped at " + std::to_string(cap) + " (not " +
            std::to_string(options_.http.max_connections) + "): the open files limit is " +
            std::to_string(limit));
    options_.http.max_connections = cap;
  } else {
    Log("info", "",
        "HTTP connections capped at " + std::to_string(cap) + " (open files limit " +
            std::to_string(limit) + ")");
  }
}

void Daemon::Log(const std::string& level, const std::string& view, const std::string& raw) {
  uint64_t suppressed;
  if (!log_limiter_.Allow(level + " " + view + " " + raw, &suppressed)) return;
  std::string message =
      suppressed == 0 ? raw
                      : raw + " (" + std::to_string(suppressed) + " similar lines suppressed)";
  std::lock_guard<std::mutex> lock(log_mu_);
  std::string ts = FormatRfc3339(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  if (options_.log_json) {
    Object o;
    o.Set("time", Value::String(ts));
    o.Set("level", Value::String(level));
    if (!view.empty()) o.Set("view", Value::String(view));
    o.Set("msg", Value::String(message));
    std::cerr << ToJson(Value::MakeObject(std::move(o))) << "\n";
  } else {
    // One line per event of note: line breaks inside a message are written as \n.
    for (size_t at = message.find('\n'); at != std::string::npos; at = message.find('\n', at)) {
      message.replace(at, 1, "\\n");
    }
    std::cerr << ts << " " << level << (view.empty() ? "" : " view=" + view) << " " << message
              << "\n";
  }
  std::cerr.flush();
}

std::unique_ptr<Source> Daemon::MakeSource(const std::string& view, bool pass_holes) {
  KafkaOptions ko;
  ko.brokers = brokers_;
  ko.group_id = options_.group_id;
  ko.properties = options_.kafka_props;
  ko.max_event_bytes = options_.max_event_bytes;
  ko.log = [this, view](const std::string& level, const std::string& message) {
    Log(level, view, "kafka " + message);
  };
  auto kafka = NewKafkaSource(ko, "projd-" + view);
  if (!archive_) return kafka;
  std::string brokers = brokers_;
  auto props = options_.kafka_props;
  return NewArchiveSource(
      std::move(kafka), archive_->Clone(),
      [brokers, props](const std::string& topic, std::map<int32_t, PartitionInfo>* marks,
                       std::string* werr) {
        return QueryWatermarks(brokers, props, topic, marks, werr);
      },
      pass_holes);
}

bool Daemon::Start(std::string* error) {
  if (options_.projections_dir.empty() || options_.data_dir.empty()) {
    *error = "--projections and --data are required";
    return false;
  }
  if (options_.group_id.empty()) options_.group_id = "projd-" + HostName();
  std::string host;
  uint16_t port;
  if (!SplitHostPort(options_.listen, &host, &port)) {
    *error = "--listen wants HOST:PORT, got '" + options_.listen + "'";
    return false;
  }
  if (!options_.auth_file.empty()) {
    auth_ = Auth::Load(options_.auth_file, error);
    if (!auth_) return false;
  }
  if (!IsLoopback(host) && !options_.insecure_listen_any && !auth_) {
    *error = "refusing to listen on " + host +
             " without --auth; use a loopback address or --insecure-listen-any";
    return false;
  }
  CompiledFile compiled = CompileDirectory(options_.projections_dir);
  if (!compiled.ok()) {
    std::string all;
    for (const auto& d : compiled.diagnostics) all += d.Format();
    *error = "projections do not compile:\n" + all;
    return false;
  }
  if (!options_.schema_registry.empty()) {
    registry_ = SchemaRegistry::Connect(options_.schema_registry, RegistryHttp, error);
    if (!registry_) return false;
  }
  if (!options_.archive.empty()) {
    archive_ = OpenArchive(options_.archive, options_.s3_endpoint, error);
    if (!archive_) return false;
  }
  for (const auto& p : compiled.projections) {
    if (p->format() == Projection::Format::kAvro && !registry_) {
      *error = p->file() + ": projection " + p->name() +
               " has format avro: start projd with --schema-registry URL";
      return false;
    }
  }
  std::error_code ec;
  fs::create_directories(options_.data_dir + "/views", ec);
  if (ec) {
    *error = "cannot create data folder " + options_.data_dir + ": " + ec.message();
    return false;
  }
  if (!LockDataDir(error)) return false;
  if (options_.demo && options_.brokers.empty()) {
    // The embedded broker keeps nothing across restarts: views kept from an earlier demo would
    // stand beyond the new logs' ends. A demo starts from empty views.
    fs::remove_all(options_.data_dir + "/views", ec);
    fs::create_directories(options_.data_dir + "/views", ec);
    Log("info", "",
        "--demo with the embedded broker: starting from empty views in " + options_.data_dir);
  }
  RaiseFileLimit(compiled.projections.size());
  if (options_.brokers.empty()) {
    embedded_ = EmbeddedBroker::Start(options_.partitions, error);
    if (!embedded_) return false;
    brokers_ = embedded_->bootstrap();
    Log("info", "",
        "embedded Kafka broker listening on " + brokers_ +
            " (in memory; at most ~5 MiB or 100000 messages per partition)");
  } else {
    brokers_ = options_.brokers;
  }
  feeds_->Start();
  for (const auto& p : compiled.projections) {
    if (!StartView(p, error)) return false;
    Log("info", p->name(),
        "loaded from " + p->file() + " (definition " + p->definition_hash() + ")");
  }
  size_t pool_threads = options_.query_threads > 0
                            ? static_cast<size_t>(options_.query_threads)
                            : std::max<size_t>(2, std::thread::hardware_concurrency());
  work_pool_ = std::make_unique<WorkPool>(pool_threads,
                                          static_cast<size_t>(std::max(1, options_.query_queue)));
  HttpServerOptions ho = options_.http;
  ho.address = host;
  ho.port = port;
  ho.threads = options_.http_threads > 0
                   ? options_.http_threads
                   : static_cast<int>(std::max(1u, std::thread::hardware_concurrency() / 2));
  ho.quick_get = [this](const QuickGetRequest& request, QuickAnswer* answer) {
    return QuickGet(request, answer);
  };
  http_ = HttpServer::Start(
      ho, [this](HttpRequest&& r, Responder respond) { Handle(std::move(r), std::move(respond)); },
      error);
  if (!http_) return false;
  Log("info", "", "HTTP API listening on " + host + ":" + std::to_string(http_->port()));
  if (options_.demo && !ProduceDemo(error)) return false;
  monitor_ = std::thread([this] {
    NameThisThread("monitor");
    Monitor();
  });
  return true;
}

void Daemon::Monitor() {
  // Status() logs state changes; asking every second keeps the logs timely.
  while (!stopping_) {
    int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    for (const auto& v : Views()) {
      ViewStatus st = StatusOf(v);  // also logs state changes
      v->AddLagSample({now_ms, st.lag_events, st.lag_seconds, st.events_per_second});
    }
    std::vector<std::string> rebuilding;
    {
      std::lock_guard<std::mutex> lock(views_mu_);
      for (const auto& [name, e] : views_) {
        if (e.shadow) rebuilding.push_back(name);
      }
    }
    for (const auto& name : rebuilding) SwapIfCaughtUp(name);
    for (int i = 0; i < 10 && !stopping_; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

void Daemon::Stop() {
  if (stopping_.exchange(true)) return;
  if (demo_.joinable()) demo_.join();
  if (monitor_.joinable()) monitor_.join();
  if (http_) http_->Stop();
  feeds_->Stop();      // after the server: its streams are closed by now
  work_pool_.reset();  // finishes the requests running on it
  for (const auto& [v, shadow] : ViewsWithShadows()) {
    v->Stop();
    if (shadow) shadow->Stop();
    v->store().Sync();
    if (shadow) shadow->store().Sync();
  }
  {
    std::lock_guard<std::mutex> lock(views_mu_);
    views_.clear();
  }
  embedded_.reset();
}

uint16_t Daemon::http_port() const { return http_ ? http_->port() : 0; }

}  // namespace projd
