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
#include <fstream>
#include <iostream>
#include <random>
#include <set>

#include "api/api_routes.h"
#include "connectors/archive.h"
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

// A projection name: [A-Za-z_][A-Za-z0-9_]* (the identifiers of the language).
bool IsIdentifier(const std::string& s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  for (char c : s) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
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

// A memo, and a merchant where there is one (card payments, ATM withdrawals, direct debits,
// refunds), for a money movement of the demo's live stream, from the vocabulary of the example
// events' memos (scripts/add_memos.py): card_transactions' full-text searches find new events too.
void SetDemoMemo(const std::string& type, const std::string& ts, std::mt19937_64& rng, Object* e) {
  static const char* kMonths[] = {"January",   "February", "March",    "April",
                                  "May",       "June",     "July",     "August",
                                  "September", "October",  "November", "December"};
  // {memo, merchant or null}; {month} and {n} are filled in.
  static const char* kDebits[][2] = {
      {"Card payment Coffee Fellows Berlin Hbf", "Coffee Fellows"},
      {"Card payment Café Einstein Unter den Linden", "Café Einstein"},
      {"Card payment Starbucks coffee London Victoria", "Starbucks"},
      {"Card payment REWE Markt Friedrichstraße Berlin", "REWE"},
      {"Card payment Deutsche Bahn ticket Berlin to München", "Deutsche Bahn"},
      {"Card payment Amazon order 302-{n}", "Amazon"},
      {"ATM withdrawal Paris Gare du Nord", "BNP Paribas"},
      {"ATM withdrawal Zürich Bahnhofstrasse", "UBS"},
      {"Direct debit Vodafone mobile {month}", "Vodafone"},
      {"Rent {month} Hauptstraße 12", nullptr},
      {"Transfer to savings", nullptr}};
  static const char* kCredits[][2] = {
      {"Salary {month} ACME GmbH", nullptr},
      {"Refund Amazon order 302-{n}", "Amazon"},
      {"Refund Deutsche Bahn ticket Berlin to München", "Deutsche Bahn"},
      {"Transfer from savings", nullptr},
      {"Cash deposit Berlin Alexanderplatz", nullptr}};
  const char* const* pick = type == "Withdrawn"   ? kDebits[rng() % std::size(kDebits)]
                            : type == "Deposited" ? kCredits[rng() % std::size(kCredits)]
                                                  : nullptr;
  std::string memo = pick ? pick[0] : "Interest {month}";
  auto fill = [&memo](const std::string& hole, const std::string& with) {
    size_t at = memo.find(hole);
    if (at != std::string::npos) memo.replace(at, hole.size(), with);
  };
  int month = ts.size() > 6 ? (ts[5] - '0') * 10 + (ts[6] - '0') : 1;
  fill("{month}", kMonths[(month + 11) % 12]);
  fill("{n}",
       std::to_string(1000000 + rng() % 9000000) + "-" + std::to_string(1000000 + rng() % 9000000));
  e->Set("memo", Value::String(memo));
  if (pick && pick[1]) e->Set("merchant", Value::String(pick[1]));
}

}  // namespace

Daemon::Daemon(DaemonOptions options)
    : options_(std::move(options)), feeds_(std::make_unique<ChangeFeeds>(options_.feeds)) {
  for (size_t i = 0; i <= ApiRoutes().size(); ++i) {
    http_seconds_.push_back(std::make_unique<Histogram>());
  }
}

Daemon::~Daemon() {
  Stop();
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
  auto kafka = NewKafkaSource(ko, "projd-" + view);
  if (!archive_) return kafka;
  std::string brokers = brokers_;
  auto props = options_.kafka_props;
  return NewArchiveSource(
      std::move(kafka), archive_->Clone(),
      [brokers, props](const std::string& topic, std::map<int32_t, PartitionInfo>* marks,
                       std::string* werr) {
        return QueryWatermarks(brokers, props, topic, marks, werr);
      });
}

std::string Daemon::ViewDir(const std::string& name) const {
  return options_.data_dir + "/views/" + name;
}

int Daemon::CurrentGen(const std::string& name) const {
  std::string path = ViewDir(name) + "/CURRENT";
  std::error_code ec;
  if (!fs::exists(path, ec)) return -1;
  std::ifstream in(path);
  std::string s;
  if (!std::getline(in, s) || s.rfind("gen-", 0) != 0 || s.size() > 12 ||
      s.find_first_not_of("0123456789", 4) != std::string::npos || s.size() == 4 ||
      std::stoll(s.substr(4)) < 1) {
    return -2;
  }
  return std::stoi(s.substr(4));
}

bool Daemon::SetCurrentGen(const std::string& name, int gen, std::string* error) {
  // Write then rename: CURRENT names either the old or the new generation, never neither.
  std::string tmp = ViewDir(name) + "/CURRENT.tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << "gen-" << gen << "\n";
    out.flush();
    if (!out) {
      *error = "cannot write " + tmp;
      return false;
    }
  }
  std::error_code ec;
  fs::rename(tmp, ViewDir(name) + "/CURRENT", ec);
  if (ec) {
    *error = "cannot write " + ViewDir(name) + "/CURRENT: " + ec.message();
    return false;
  }
  return true;
}

std::shared_ptr<View> Daemon::OpenView(const std::shared_ptr<const Projection>& p, int gen,
                                       std::string* error) {
  std::string dir = ViewDir(p->name()) + "/gen-" + std::to_string(gen);
  KvOptions kv;
  kv.sync = options_.sync;
  auto store = ViewStore::Open(dir, kv, error);
  if (!store) {
    *error = "view " + p->name() + ": " + *error;
    return nullptr;
  }
  store->UseIndexesOf(*p);
  store->SetChangeLog(p->topics(), options_.changes_keep);
  if (store->GetMeta("definition_hash").empty()) {
    if (!store->PutMeta("definition_hash", p->definition_hash(), error) ||
        !store->PutMeta("definition", p->definition(), error)) {
      return nullptr;
    }
  }
  if (embedded_) {
    for (const auto& t : p->topics()) {
      if (!embedded_->CreateTopic(t, error)) return nullptr;
    }
  }
  ViewOptions vo;
  if (options_.sync == SyncMode::kFull) vo.max_batch = 100;
  vo.schema_registry = registry_;
  vo.on_published = [feeds = feeds_.get()] { feeds->Notify(); };
  auto view = std::make_shared<View>(
      p, std::move(store), [this](const std::string& name) { return MakeSource(name); }, vo,
      [this](const std::string& level, const std::string& v, const std::string& m) {
        Log(level, v, m);
      });
  view->Start();
  return view;
}

bool Daemon::StartShadow(const std::string& name, const std::shared_ptr<const Projection>& p,
                         std::string* error) {
  int gen;
  {
    std::lock_guard<std::mutex> lock(views_mu_);
    auto& e = views_[name];
    if (e.shadow) {
      *error = "a rebuild of " + name + " is already running";
      return false;
    }
    gen = e.active_gen + 1;
  }
  // A shadow left by a crash resumes when it was building this same definition.
  std::string dir = ViewDir(name) + "/gen-" + std::to_string(gen);
  if (fs::exists(dir)) {
    KvOptions kv;
    std::string hash;
    {
      auto store = ViewStore::Open(dir, kv, error);
      if (store) hash = store->GetMeta("definition_hash");
    }
    if (hash != p->definition_hash()) {
      std::error_code ec;
      fs::remove_all(dir, ec);
    } else {
      Log("info", name, "resuming the rebuild in " + dir);
    }
  }
  auto shadow = OpenView(p, gen, error);
  if (!shadow) return false;
  std::lock_guard<std::mutex> lock(views_mu_);
  auto& e = views_[name];
  e.shadow = std::move(shadow);
  e.shadow_gen = gen;
  return true;
}

bool Daemon::StartView(const std::shared_ptr<const Projection>& p, std::string* error) {
  std::error_code ec;
  fs::create_directories(ViewDir(p->name()), ec);
  int gen = CurrentGen(p->name());
  if (gen == -2 || (gen > 0 && !fs::exists(ViewDir(p->name()) + "/gen-" + std::to_string(gen)))) {
    // Never silently an empty view: an operator decides what the kept data is worth.
    *error = "view " + p->name() + ": " + ViewDir(p->name()) +
             "/CURRENT is damaged (it does not name an existing generation, \"gen-N\"); "
             "restore it, or remove " +
             ViewDir(p->name()) + " to rebuild the view from offset 0";
    return false;
  }
  if (gen < 0) {
    // New projection (or data from before generations): start from offset zero.
    gen = 1;
    std::string old_dir = ViewDir(p->name()) + "/gen-1";
    fs::remove_all(old_dir, ec);
    if (!SetCurrentGen(p->name(), gen, error)) return false;
  }
  std::string dir = ViewDir(p->name()) + "/gen-" + std::to_string(gen);
  std::string stored_hash, stored_definition;
  {
    KvOptions kv;
    auto store = ViewStore::Open(dir, kv, error);
    if (!store) return false;
    stored_hash = store->GetMeta("definition_hash");
    stored_definition = store->GetMeta("definition");
    // A store installed by projctl restore is never rebuilt behind the operator's back: a
    // snapshot of another definition is refused; a matching one is accepted once, for good.
    std::string restored = store->GetMeta("restored_from_snapshot");
    if (!restored.empty() && stored_hash != p->definition_hash()) {
      *error = "view " + p->name() + ": the restored snapshot " + restored + " (in " + dir +
               ") was taken with definition " + stored_hash + ", but " + p->file() +
               " has definition " + p->definition_hash() +
               "; restore a snapshot of this definition, or remove " + dir +
               " to rebuild the view from offset 0";
      return false;
    }
    if (!restored.empty() && !store->PutMeta("restored_from_snapshot", "", error)) return false;
  }
  std::shared_ptr<const Projection> serving = p;
  bool rebuild = false;
  if (!stored_hash.empty() && stored_hash != p->definition_hash()) {
    // The definition changed: the old view goes on serving (with its own definition) while
    // the new one is built from offset zero beside it.
    CompiledFile old = CompileFile("(stored definition of " + p->name() + ")", stored_definition);
    if (old.ok() && old.projections.size() == 1 && old.projections[0]->name() == p->name()) {
      serving = old.projections[0];
      rebuild = true;
      Log("info", p->name(),
          "definition changed (" + stored_hash + " -> " + p->definition_hash() +
              "); rebuilding from offset 0 while the old view serves");
    } else {
      Log("warn", p->name(), "stored definition does not compile; starting over from offset 0");
      fs::remove_all(dir, ec);
    }
  }
  auto view = OpenView(serving, gen, error);
  if (!view) return false;
  {
    std::lock_guard<std::mutex> lock(views_mu_);
    Entry& e = views_[p->name()];
    e.active = view;
    e.active_gen = gen;
  }
  feeds_->Attach(p->name(), std::move(view));
  if (!rebuild && fs::exists(ViewDir(p->name()) + "/REBUILD")) {
    // A manual rebuild was under way when projd stopped: it goes on.
    rebuild = true;
    Log("info", p->name(), "resuming the rebuild that was running when projd stopped");
  }
  if (rebuild) return StartShadow(p->name(), p, error);
  // A newer generation left over without a rebuild to resume: drop it.
  for (int g = gen + 1; fs::exists(ViewDir(p->name()) + "/gen-" + std::to_string(g)); ++g) {
    fs::remove_all(ViewDir(p->name()) + "/gen-" + std::to_string(g), ec);
  }
  return true;
}

void Daemon::SwapIfCaughtUp(const std::string& name) {
  std::error_code ec_unused_;
  std::shared_ptr<View> active, shadow;
  int shadow_gen;
  {
    std::lock_guard<std::mutex> lock(views_mu_);
    auto it = views_.find(name);
    if (it == views_.end() || !it->second.shadow) return;
    active = it->second.active;
    shadow = it->second.shadow;
    shadow_gen = it->second.shadow_gen;
  }
  ViewStatus st = shadow->Status();
  if (!st.caught_up_once || st.failed || st.lag_events > 0) return;
  // The shadow must have reached the serving view's position on every partition (unless
  // that position lies beyond the log end: then the log end, which it has, is all there is).
  if (active->BeyondLogEnd().empty()) {
    auto live = active->CurrentPosition();
    auto built = shadow->CurrentPosition();
    for (const auto& [tp, off] : live) {
      auto b = built.find(tp);
      if ((b == built.end() ? 0 : b->second) < off) return;
    }
  }
  std::string error;
  if (!SetCurrentGen(name, shadow_gen, &error)) {
    Log("error", name, "cannot swap in the rebuilt view: " + error);
    return;
  }
  int old_gen;
  {
    std::lock_guard<std::mutex> lock(views_mu_);
    Entry& e = views_[name];
    old_gen = e.active_gen;
    shadow->TakeLagSamplesFrom(*active);  // the lag chart's past survives the swap
    e.active = shadow;
    e.active_gen = shadow_gen;
    e.shadow.reset();
    e.shadow_gen = 0;
  }
  feeds_->Attach(name, shadow);
  fs::remove(ViewDir(name) + "/REBUILD", ec_unused_);
  Log("info", name,
      "rebuild done: the rebuilt view serves now (" + std::to_string(st.rows) + " rows)");
  active->Stop();
  active.reset();  // readers still holding it finish on the old files, which stay until then
  std::error_code ec;
  fs::remove_all(ViewDir(name) + "/gen-" + std::to_string(old_gen), ec);
}

bool Daemon::RetentionGap(const View& view, Value* detail) {
  Object firsts, missing;
  std::unique_ptr<Archive> archive = archive_ ? archive_->Clone() : nullptr;
  for (const auto& topic : view.projection().topics()) {
    std::map<int32_t, PartitionInfo> marks;
    std::string werr;
    if (!QueryWatermarks(brokers_, options_.kafka_props, topic, &marks, &werr)) continue;
    for (const auto& [part, info] : marks) {
      if (info.low_watermark <= 0) continue;
      std::string name = topic + ":" + std::to_string(part);
      int64_t from = 0, to = info.low_watermark;
      if (archive) {
        std::string aerr;
        if (!ArchiveGap(archive.get(), topic, part, info.low_watermark, &from, &to, &aerr)) {
          // Unreadable now: the rebuild starts and holds (stalled) until it can read it.
          Log("warn", view.projection().name(), "rebuild: cannot check the archive: " + aerr);
          continue;
        }
        if (from == to) continue;  // the archive reaches the log start
      }
      firsts.Set(name, Value::Number(Decimal::FromInt(info.low_watermark)));
      Object range;
      range.Set("first", Value::Number(Decimal::FromInt(from)));
      range.Set("last", Value::Number(Decimal::FromInt(to - 1)));
      missing.Set(name, Value::MakeObject(std::move(range)));
    }
  }
  if (firsts.empty()) return false;
  Object d;
  d.Set("first_offsets", Value::MakeObject(std::move(firsts)));
  d.Set("missing", Value::MakeObject(std::move(missing)));
  *detail = Value::MakeObject(std::move(d));
  return true;
}

bool Daemon::Rebuild(const std::string& name, bool allow_gap, std::string* error, Value* gap) {
  auto view = FindView(name);
  if (!view) {
    *error = "unknown view " + name;
    return false;
  }
  if (!allow_gap && RetentionGap(*view, gap)) {
    *error = archive_ ? "the archive and the log leave offsets missing"
                      : "the log no longer starts at offset 0";
    return false;
  }
  // A manual rebuild keeps the definition; the shadow starts empty.
  std::lock_guard<std::mutex> lock(rebuild_mu_);
  int next_gen;
  {
    std::lock_guard<std::mutex> lock2(views_mu_);
    next_gen = views_[name].active_gen + 1;
  }
  std::error_code ec;
  fs::remove_all(ViewDir(name) + "/gen-" + std::to_string(next_gen), ec);
  // Remember the request, so a crash before the swap resumes the rebuild at the next start.
  {
    std::ofstream marker(ViewDir(name) + "/REBUILD", std::ios::trunc);
    marker << "gen-" << next_gen << "\n";
  }
  if (!StartShadow(name, view->projection_ptr(), error)) return false;
  Log("info", name, "rebuild from offset 0 started; the current view serves until it is done");
  return true;
}

int Daemon::Drop(const std::string& name, std::string* error) {
  if (FindView(name)) return -1;
  // Only a projection name can have kept data; anything else ("..", "a/../..") would name a
  // folder outside DATA/views.
  if (!IsIdentifier(name)) return 0;
  std::string dir = ViewDir(name);
  if (!fs::exists(dir)) return 0;
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) {
    *error = ec.message();
    return 0;
  }
  Log("info", name, "dropped the kept data of a removed view");
  return 1;
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
  std::set<std::string> topics;
  {
    std::lock_guard<std::mutex> lock(views_mu_);
    for (const auto& [name, e] : views_) {
      for (const auto& t : e.active->projection().topics()) topics.insert(t);
    }
  }
  std::string default_topic = topics.empty() ? "account-events" : *topics.begin();
  // The same reader as projctl test's: bare events or envelopes, one a line.
  auto events = NewFileSource(path, default_topic, error);
  if (!events) {
    *error = "--demo: cannot read the example events: " + *error;
    return false;
  }
  auto producer = Producer::Create(brokers_, options_.kafka_props, error);
  if (!producer) return false;
  int64_t n = 0;
  // The accounts the example events open (id, owner, currency): the live stream moves money
  // on them.
  std::vector<std::array<std::string, 3>> accounts;
  std::string stream_topic = default_topic;
  std::vector<Message> batch;
  bool more = true;
  while (more) {
    more = events->Poll(&batch, 10000, std::chrono::milliseconds(0));
    for (const Message& m : batch) {
      std::string topic(m.topic);
      Value v;
      std::string err;
      if (ParseJson(m.value, &v, &err) && v.is_object()) {
        const Object& e = v.as_object();
        const Value* type = e.Find("type");
        const Value* id = e.Find("account_id");
        const Value* owner = e.Find("owner");
        const Value* ccy = e.Find("currency");
        if (type && type->is_string() && type->as_string() == "AccountOpened" && id &&
            id->is_string() && owner && owner->is_string() && ccy && ccy->is_string()) {
          accounts.push_back({id->as_string(), owner->as_string(), ccy->as_string()});
          stream_topic = topic;
        }
      }
      if (embedded_ && !embedded_->CreateTopic(topic, error)) return false;
      std::vector<std::pair<std::string, std::string>> headers;  // who and which command
      for (size_t h = 0; h < m.header_count; ++h) {
        headers.emplace_back(std::string(m.headers[h].name), std::string(m.headers[h].value));
      }
      if (!producer->ProduceAsync(topic, m.has_key ? m.key : std::string_view(), m.value, headers,
                                  error)) {
        return false;
      }
      ++n;
    }
  }
  if (!producer->Flush(std::chrono::seconds(30), error)) return false;
  Log("info", "", "--demo: produced " + std::to_string(n) + " example events from " + path);
  if (options_.demo_rate > 0) {
    if (accounts.empty()) accounts.push_back({"acc-demo-0", "alice", "EUR"});
    Log("info", "",
        "--demo: a live stream of " + std::to_string(options_.demo_rate) + " events/s follows on " +
            stream_topic + " (five times that for 5 s every minute)");
    demo_ = std::thread([this, accounts = std::move(accounts), stream_topic]() mutable {
      DemoStream(std::move(accounts), stream_topic);
    });
  }
  return true;
}

void Daemon::DemoStream(std::vector<std::array<std::string, 3>> accounts,
                        const std::string& topic) {
  std::string error;
  auto producer = Producer::Create(brokers_, options_.kafka_props, &error);
  if (!producer) {
    Log("error", "", "--demo: no live stream: " + error);
    return;
  }
  static const char* kOwners[] = {"alice", "bob", "carol", "dave", "erin", "frank", "grace"};
  static const char* kCurrencies[] = {"EUR", "USD", "GBP"};
  std::mt19937_64 rng(
      static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  auto started = std::chrono::steady_clock::now();
  int64_t start_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  int64_t sent = 0;
  double owed = 0;  // events due but not sent yet (fractions carry over between ticks)
  bool planted = false;
  auto next_plant = started + std::chrono::seconds(20);
  while (!stopping_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto now = std::chrono::steady_clock::now();
    int64_t second_of_minute =
        std::chrono::duration_cast<std::chrono::seconds>(now - started).count() % 60;
    double rate = options_.demo_rate * (second_of_minute < 5 ? 5.0 : 1.0);
    owed += rate / 10;
    int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    std::string ts = FormatRfc3339(now_ms);
    for (; owed >= 1 && !stopping_; owed -= 1) {
      uint64_t dice = rng() % 100;
      std::string id = "e-live-" + std::to_string(start_ms) + "-" + std::to_string(sent++);
      std::array<std::string, 3> acc = accounts[rng() % accounts.size()];
      Object e;
      std::string type;  // of a money movement
      if (dice < 2) {
        // A new account now and then.
        acc = {"acc-live-" + std::to_string(sent), kOwners[rng() % 7], kCurrencies[rng() % 3]};
        accounts.push_back(acc);
        e.Set("type", Value::String("AccountOpened"));
      } else {
        type = dice < 4 ? "InterestPaid" : dice < 58 ? "Deposited" : "Withdrawn";
        e.Set("type", Value::String(type));
        uint64_t cents = 100 + rng() % (dice < 4 ? 5000 : 250000);
        Decimal amount;
        Decimal::Parse(std::to_string(cents / 100) + "." + std::to_string(cents % 100 / 10) +
                           std::to_string(cents % 10),
                       &amount);
        e.Set("amount", Value::Number(amount));
      }
      e.Set("account_id", Value::String(acc[0]));
      e.Set("owner", Value::String(acc[1]));
      e.Set("currency", Value::String(acc[2]));
      e.Set("ts", Value::String(ts));
      e.Set("event_id", Value::String(id));
      if (!type.empty()) SetDemoMemo(type, ts, rng, &e);
      // Who made the change and which command it belongs to (the audit trail of the demo).
      std::vector<std::pair<std::string, std::string>> headers = {
          {"user", (sent % 3 == 0 ? "teller-amy" : "app:" + acc[1])},
          {"correlation-id", "cmd-live-" + std::to_string(start_ms) + "-" + std::to_string(sent)}};
      if (!producer->ProduceAsync(topic, acc[1], ToJson(Value::MakeObject(std::move(e))), headers,
                                  &error)) {
        Log("warn", "", "--demo: " + error);
      }
    }
    if (now >= next_plant) {
      // A malformed event every few minutes: dead letters in most views, and the errors stop
      // view stops at it until it is skipped.
      next_plant = now + std::chrono::minutes(5);
      const auto& acc = accounts[rng() % accounts.size()];
      std::string bad = "{\"type\":\"Withdrawn\",\"account_id\":\"" + acc[0] + "\",\"owner\":\"" +
                        acc[1] + "\",\"currency\":\"" + acc[2] + "\",\"amount\":\"n/a\",\"ts\":\"" +
                        ts + "\",\"event_id\":\"e-live-bad-" + std::to_string(sent++) + "\"}";
      producer->ProduceAsync(topic, acc[1], bad, &error);
      if (!planted) Log("info", "", "--demo: planted a malformed event (amount \"n/a\")");
      planted = true;
    }
  }
  producer->Flush(std::chrono::seconds(5), &error);
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
    std::string error;
    if (!old) {
      Log("info", p->name(), "new projection; starting from offset 0");
      if (!StartView(p, &error)) {
        Log("error", p->name(), "cannot start: " + error);
        *errors += error + "\n";
      }
      continue;
    }
    auto shadow = FindShadow(p->name());
    const std::string& target =
        shadow ? shadow->projection().definition_hash() : old->projection().definition_hash();
    if (target == p->definition_hash()) continue;
    if (shadow) {
      // A rebuild for an older edit is under way: replace it with one for this definition.
      shadow->Stop();
      int gen;
      {
        std::lock_guard<std::mutex> lock(views_mu_);
        Entry& e = views_[p->name()];
        gen = e.shadow_gen;
        e.shadow.reset();
        e.shadow_gen = 0;
      }
      shadow.reset();
      std::error_code ec;
      fs::remove_all(ViewDir(p->name()) + "/gen-" + std::to_string(gen), ec);
    }
    if (old->projection().definition_hash() == p->definition_hash()) continue;
    Log("info", p->name(),
        "definition changed; rebuilding from offset 0 while the old view serves");
    if (!StartShadow(p->name(), p, &error)) {
      Log("error", p->name(), "cannot start the rebuild: " + error);
      *errors += error + "\n";
    }
  }
  for (const auto& [v, shadow] : ViewsWithShadows()) {
    std::string name = v->projection().name();
    if (names.count(name)) continue;
    Log("info", name,
        "removed from the projections folder; no longer served (data kept until "
        "projctl drop)");
    {
      std::lock_guard<std::mutex> lock(views_mu_);
      views_.erase(name);
    }
    feeds_->Detach(name);
    v->Stop();
    if (shadow) shadow->Stop();
  }
  return errors->empty();
}

std::shared_ptr<View> Daemon::FindView(const std::string& name) {
  std::lock_guard<std::mutex> lock(views_mu_);
  auto it = views_.find(name);
  return it == views_.end() ? nullptr : it->second.active;
}

std::shared_ptr<View> Daemon::FindShadow(const std::string& name) {
  std::lock_guard<std::mutex> lock(views_mu_);
  auto it = views_.find(name);
  return it == views_.end() ? nullptr : it->second.shadow;
}

ViewStatus Daemon::StatusOf(const std::shared_ptr<View>& view) {
  ViewStatus st = view->Status();
  auto shadow = FindShadow(view->projection().name());
  if (!shadow) return st;
  ViewStatus sh = shadow->Status();
  st.rebuilding = true;
  st.rebuild_definition_hash = sh.definition_hash;
  int64_t done = 0, end = 0;
  for (const auto& p : sh.partitions) {
    done += p.position;
    end += p.high_watermark >= 0 ? p.high_watermark : p.position;
  }
  st.rebuild_applied = done;
  st.rebuild_from_archive = sh.archive_events;
  st.rebuild_remaining = std::max<int64_t>(0, end - done);
  st.rebuild_progress = end > 0 ? static_cast<double>(done) / static_cast<double>(end) : 0;
  if (st.rebuild_progress > 1) st.rebuild_progress = 1;
  st.rebuild_events_per_second = sh.events_per_second;
  if (sh.failed) {
    st.reason = "rebuild stopped at a bad event (errors stop): " + sh.reason;
  } else if (sh.state == ViewState::kStalled) {
    // The rebuild cannot go on (an unreadable archive, a full disk): the view it would replace
    // serves meanwhile.
    st.state = ViewState::kStalled;
    st.reason = "rebuild stalled: " + sh.reason + "; this view serves meanwhile";
  } else if (st.state == ViewState::kLive || st.state == ViewState::kCatchingUp ||
             st.state == ViewState::kLagging) {
    st.state = ViewState::kRebuilding;
    st.reason = "rebuilding from offset 0 (" + std::to_string(st.rebuild_remaining) +
                " events to go); this view serves meanwhile" +
                (sh.reason.empty() ? "" : "; " + sh.reason);
  }
  return st;
}

std::vector<std::shared_ptr<View>> Daemon::Views() {
  std::lock_guard<std::mutex> lock(views_mu_);
  std::vector<std::shared_ptr<View>> out;
  for (const auto& [n, e] : views_) {
    if (e.active) out.push_back(e.active);
  }
  return out;
}

std::vector<std::pair<std::shared_ptr<View>, std::shared_ptr<View>>> Daemon::ViewsWithShadows() {
  std::lock_guard<std::mutex> lock(views_mu_);
  std::vector<std::pair<std::shared_ptr<View>, std::shared_ptr<View>>> out;
  for (const auto& [n, e] : views_) {
    if (e.active) out.emplace_back(e.active, e.shadow);
  }
  return out;
}

uint16_t Daemon::http_port() const { return http_ ? http_->port() : 0; }

}  // namespace projd
