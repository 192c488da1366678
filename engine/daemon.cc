#include "engine/daemon.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>

#include "dsl/time.h"
#include "dsl/value.h"

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

bool IsLoopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" ||
         host.rfind("127.", 0) == 0;
}

}  // namespace

Daemon::Daemon(DaemonOptions options) : options_(std::move(options)) {}

Daemon::~Daemon() { Stop(); }

void Daemon::Log(const std::string& level, const std::string& view, const std::string& message) {
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
    std::cerr << ts << " " << level << (view.empty() ? "" : " view=" + view) << " " << message
              << "\n";
  }
  std::cerr.flush();
}

std::unique_ptr<Source> Daemon::MakeSource(const std::string& view) {
  KafkaOptions ko;
  ko.brokers = brokers_;
  ko.group_id = options_.group_id;
  ko.properties = options_.kafka_props;
  ko.max_event_bytes = options_.max_event_bytes;
  ko.log = [this, view](const std::string& level, const std::string& message) {
    Log(level, view, "kafka " + message);
  };
  return NewKafkaSource(ko, "projd-" + view);
}

bool Daemon::StartView(std::shared_ptr<const Projection> p, std::string* error) {
  std::string dir = options_.data_dir + "/views/" + p->name();
  KvOptions kv;
  kv.sync = options_.sync;
  auto store = ViewStore::Open(dir, kv, error);
  if (!store) {
    *error = "view " + p->name() + ": " + *error;
    return false;
  }
  std::string old_hash = store->GetMeta("definition_hash");
  if (!old_hash.empty() && old_hash != p->definition_hash()) {
    // The definition changed while projd was down: start the view over from offset zero.
    Log("info", p->name(), "definition changed (" + old_hash + " -> " + p->definition_hash() +
                               "); rebuilding from offset 0");
    store.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
    store = ViewStore::Open(dir, kv, error);
    if (!store) return false;
  }
  if (!store->PutMeta("definition_hash", p->definition_hash(), error) ||
      !store->PutMeta("definition", p->definition(), error)) {
    return false;
  }
  if (embedded_) {
    for (const auto& t : p->topics()) {
      if (!embedded_->CreateTopic(t, error)) return false;
    }
  }
  ViewOptions vo;
  if (options_.sync == SyncMode::kFull) vo.max_batch = 100;
  auto view = std::make_shared<View>(
      p, std::move(store), [this](const std::string& name) { return MakeSource(name); }, vo,
      [this](const std::string& level, const std::string& v, const std::string& m) {
        Log(level, v, m);
      });
  view->Start();
  std::lock_guard<std::mutex> lock(views_mu_);
  views_[p->name()] = std::move(view);
  return true;
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
  if (!IsLoopback(host) && !options_.insecure_listen_any) {
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
  std::error_code ec;
  fs::create_directories(options_.data_dir + "/views", ec);
  if (ec) {
    *error = "cannot create data folder " + options_.data_dir + ": " + ec.message();
    return false;
  }
  if (options_.brokers.empty()) {
    embedded_ = EmbeddedBroker::Start(options_.partitions, error);
    if (!embedded_) return false;
    brokers_ = embedded_->bootstrap();
    Log("info", "", "embedded Kafka broker listening on " + brokers_ +
                        " (in memory; at most ~5 MiB or 100000 messages per partition)");
  } else {
    brokers_ = options_.brokers;
  }
  for (const auto& p : compiled.projections) {
    if (!StartView(p, error)) return false;
    Log("info", p->name(), "loaded from " + p->file() + " (definition " + p->definition_hash() +
                               ")");
  }
  HttpServerOptions ho = options_.http;
  ho.address = host;
  ho.port = port;
  ho.threads = options_.http_threads;
  http_ = HttpServer::Start(
      ho, [this](HttpRequest&& r, Responder respond) { Handle(std::move(r), std::move(respond)); },
      error);
  if (!http_) return false;
  Log("info", "", "HTTP API listening on " + host + ":" + std::to_string(http_->port()));
  if (options_.demo && !ProduceDemo(error)) return false;
  monitor_ = std::thread([this] { Monitor(); });
  return true;
}

bool Daemon::ProduceDemo(std::string* error) {
  std::string path = options_.demo_events;
  std::ifstream in(path);
  if (!in) {
    *error = "--demo: cannot read the example events " + path;
    return false;
  }
  auto producer = Producer::Create(brokers_, options_.kafka_props, error);
  if (!producer) return false;
  std::set<std::string> topics;
  {
    std::lock_guard<std::mutex> lock(views_mu_);
    for (const auto& [name, v] : views_) {
      for (const auto& t : v->projection().topics()) topics.insert(t);
    }
  }
  std::string line;
  int64_t n = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    Value v;
    std::string err;
    std::string topic = topics.empty() ? "account-events" : *topics.begin();
    std::string key, value = line;
    if (ParseJson(line, &v, &err) && v.is_object() && v.as_object().Find("value") &&
        v.as_object().Find("topic")) {
      const Object& o = v.as_object();
      if (o.Find("topic")->is_string()) topic = o.Find("topic")->as_string();
      if (const Value* k = o.Find("key"); k && k->is_string()) key = k->as_string();
      value = ToJson(*o.Find("value"));
    }
    if (embedded_ && !embedded_->CreateTopic(topic, error)) return false;
    if (!producer->ProduceAsync(topic, key, value, error)) return false;
    ++n;
  }
  if (!producer->Flush(std::chrono::seconds(30), error)) return false;
  Log("info", "", "--demo: produced " + std::to_string(n) + " example events from " + path);
  return true;
}

void Daemon::Monitor() {
  // Status() logs state changes; asking every second keeps the logs timely.
  while (!stopping_) {
    for (const auto& v : Views()) v->Status();
    for (int i = 0; i < 10 && !stopping_; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

void Daemon::Stop() {
  if (stopping_.exchange(true)) return;
  if (monitor_.joinable()) monitor_.join();
  if (http_) http_->Stop();
  for (const auto& v : Views()) v->Stop();
  for (const auto& v : Views()) v->store().Sync();
  {
    std::lock_guard<std::mutex> lock(views_mu_);
    views_.clear();
  }
  embedded_.reset();
}

bool Daemon::Reload(std::string* errors) {
  CompiledFile compiled = CompileDirectory(options_.projections_dir);
  if (!compiled.ok()) {
    for (const auto& d : compiled.diagnostics) *errors += d.Format();
    Log("error", "", "reload refused, nothing changed:\n" + *errors);
    return false;
  }
  std::set<std::string> names;
  for (const auto& p : compiled.projections) {
    names.insert(p->name());
    auto old = FindView(p->name());
    if (old && old->projection().definition_hash() == p->definition_hash()) continue;
    if (old) {
      Log("info", p->name(), "definition changed; rebuilding from offset 0");
      old->Stop();
      {
        std::lock_guard<std::mutex> lock(views_mu_);
        views_.erase(p->name());
      }
    } else {
      Log("info", p->name(), "new projection; starting from offset 0");
    }
    std::string error;
    if (!StartView(p, &error)) {
      Log("error", p->name(), "cannot start: " + error);
      *errors += error + "\n";
    }
  }
  for (const auto& v : Views()) {
    if (!names.count(v->projection().name())) {
      Log("info", v->projection().name(), "removed from the projections folder; no longer served");
      v->Stop();
      std::lock_guard<std::mutex> lock(views_mu_);
      views_.erase(v->projection().name());
    }
  }
  return errors->empty();
}

std::shared_ptr<View> Daemon::FindView(const std::string& name) {
  std::lock_guard<std::mutex> lock(views_mu_);
  auto it = views_.find(name);
  return it == views_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<View>> Daemon::Views() {
  std::lock_guard<std::mutex> lock(views_mu_);
  std::vector<std::shared_ptr<View>> out;
  for (const auto& [n, v] : views_) out.push_back(v);
  return out;
}

uint16_t Daemon::http_port() const { return http_ ? http_->port() : 0; }

}  // namespace projd
