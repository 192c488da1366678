// The daemon's views by name (see daemon.h): their generations on disk, loading a view and
// resuming or starting the rebuild a changed definition needs, swapping a rebuilt view in,
// manual rebuilds with the retention check, dropping kept data, reload, and the views' status
// with their rebuild's progress.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "api/daemon.h"
#include "connectors/archive.h"
#include "dsl/value.h"
#include "store/data_lock.h"

namespace projd {
namespace {

namespace fs = std::filesystem;

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

}  // namespace

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
  return WriteCurrentGeneration(ViewDir(name), gen, options_.sync != SyncMode::kNone, error);
}

std::unique_ptr<ViewStore> Daemon::OpenStore(const std::string& view, const std::string& dir,
                                             const KvOptions& kv, std::string* error) {
  auto store = ViewStore::Open(dir, kv, error);
  if (store && store->moved_history_versions() > 0) {
    Log("info", view,
        "moved " + std::to_string(store->moved_history_versions()) +
            " history versions to the append-ordered layout in " + dir);
  }
  return store;
}

std::shared_ptr<View> Daemon::OpenView(const std::shared_ptr<const Projection>& p, int gen,
                                       std::string* error, bool pass_holes, bool shadow) {
  std::string dir = ViewDir(p->name()) + "/gen-" + std::to_string(gen);
  KvOptions kv;
  kv.sync = options_.sync;
  auto store = OpenStore(p->name(), dir, kv, error);
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
  if (options_.sync == SyncMode::kFull) vo.max_batch = vo.max_grown_batch = 100;
  vo.schema_registry = registry_;
  vo.on_published = [feeds = feeds_.get()] { feeds->Notify(); };
  vo.shadow = shadow;
  auto view = std::make_shared<View>(
      p, std::move(store),
      [this, pass_holes](const std::string& name) { return MakeSource(name, pass_holes); }, vo,
      [this](const std::string& level, const std::string& v, const std::string& m) {
        Log(level, v, m);
      });
  view->Start();
  return view;
}

int Daemon::ShadowGeneration(const std::string& name, std::string* error) {
  std::lock_guard<std::mutex> lock(views_mu_);
  const Entry& e = views_[name];
  if (e.shadow) {
    *error = "a rebuild of " + name + " is already running";
    return -1;
  }
  return e.active_gen + 1;
}

bool Daemon::StartShadow(const std::string& name, const std::shared_ptr<const Projection>& p,
                         std::string* error, bool pass_holes) {
  int gen = ShadowGeneration(name, error);
  if (gen < 0) return false;
  // A shadow left by a crash resumes when it was building this same definition.
  std::string dir = ViewDir(name) + "/gen-" + std::to_string(gen);
  if (fs::exists(dir)) {
    KvOptions kv;
    std::string hash;
    {
      auto store = OpenStore(name, dir, kv, error);
      if (store) hash = store->GetMeta("definition_hash");
    }
    if (hash != p->definition_hash()) {
      std::error_code ec;
      fs::remove_all(dir, ec);
    } else {
      Log("info", name, "resuming the rebuild in " + dir);
    }
  }
  auto shadow = OpenView(p, gen, error, pass_holes, /*shadow=*/true);
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
  bool named_by_current = gen > 0;  // an existing view (else a new one, made below)
  if (gen < 0) {
    // No CURRENT. projd writes it before it makes a view's first store, so a store here
    // without it is kept data whose CURRENT was lost: never silently an empty view.
    for (const auto& entry : fs::directory_iterator(ViewDir(p->name()), ec)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("gen-", 0) == 0 && fs::exists(entry.path() / "data.mdb", ec)) {
        *error = "view " + p->name() + ": " + ViewDir(p->name()) + "/CURRENT is missing, but " +
                 entry.path().string() +
                 " holds a store; restore CURRENT (one line naming the serving generation, "
                 "\"gen-N\"), or remove " +
                 ViewDir(p->name()) + " to rebuild the view from offset 0";
        return false;
      }
    }
    // A new projection: start from offset zero.
    gen = 1;
    std::string old_dir = ViewDir(p->name()) + "/gen-1";
    fs::remove_all(old_dir, ec);
    if (!SetCurrentGen(p->name(), gen, error)) return false;
  }
  std::string dir = ViewDir(p->name()) + "/gen-" + std::to_string(gen);
  if (named_by_current && !fs::exists(dir + "/data.mdb", ec)) {
    // The generation CURRENT names lost its store file: an empty one in its place would
    // silently be a view without its rows (and a catch-up from the log's start).
    *error = "view " + p->name() + ": the store file " + dir +
             "/data.mdb is missing; restore it, or remove " + ViewDir(p->name()) +
             " to rebuild the view from offset 0";
    return false;
  }
  std::string stored_hash, stored_definition;
  {
    KvOptions kv;
    auto store = OpenStore(p->name(), dir, kv, error);
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
  bool changed = false;  // the definition changed (else a manual rebuild resumes)
  if (!stored_hash.empty() && stored_hash != p->definition_hash()) {
    // The definition changed: the old view goes on serving (with its own definition) while
    // the new one is built from offset zero beside it.
    CompiledFile old = CompileFile("(stored definition of " + p->name() + ")", stored_definition);
    if (old.ok() && old.projections.size() == 1 && old.projections[0]->name() == p->name()) {
      serving = old.projections[0];
      rebuild = true;
      changed = true;
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
  bool pass_holes = false;
  if (!rebuild && fs::exists(ViewDir(p->name()) + "/REBUILD")) {
    // A manual rebuild was under way when projd stopped: it goes on, as it was asked for.
    rebuild = true;
    std::ifstream marker(ViewDir(p->name()) + "/REBUILD");
    for (std::string line; std::getline(marker, line);)
      pass_holes = pass_holes || line == "allow_gap";
    Log("info", p->name(), "resuming the rebuild that was running when projd stopped");
  }
  if (changed) return RebuildForDefinition(p, error);
  if (rebuild) return StartShadow(p->name(), p, error, pass_holes);
  // A newer generation left over without a rebuild to resume: drop it.
  for (int g = gen + 1; fs::exists(ViewDir(p->name()) + "/gen-" + std::to_string(g)); ++g) {
    fs::remove_all(ViewDir(p->name()) + "/gen-" + std::to_string(g), ec);
  }
  return true;
}

void Daemon::SwapIfCaughtUp(const std::string& name) {
  std::error_code ec_unused_;
  std::unique_lock<std::mutex> admin(admin_mu_);
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
  auto reached = [&active, &shadow] {
    return !active->BeyondLogEnd().empty() || shadow->Reached(active->CurrentPosition());
  };
  if (!reached()) return;
  // The serving view goes on applying meanwhile: held between two batches, its position stays
  // put while the shadow reaches it (a poll or two). The swap never serves a view behind the
  // one a reader saw last; when the shadow does not get there soon, the serving view resumes
  // and the next round tries again. Reload and Rebuild may go on meanwhile (admin_mu_ is let
  // go); the swap happens only if they left both views in place.
  admin.unlock();
  bool held = active->Pause(std::chrono::seconds(2));
  for (int i = 0; held && !reached() && i < 400; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  admin.lock();
  bool unchanged;
  {
    std::lock_guard<std::mutex> lock(views_mu_);
    auto it = views_.find(name);
    unchanged = it != views_.end() && it->second.active == active && it->second.shadow == shadow &&
                it->second.shadow_gen == shadow_gen;
  }
  if (!held || !unchanged || !reached()) {
    active->Resume();
    return;
  }
  std::string error;
  if (!SetCurrentGen(name, shadow_gen, &error)) {
    active->Resume();
    Log("error", name, "cannot swap in the rebuilt view: " + error);
    return;
  }
  int old_gen;
  {
    std::lock_guard<std::mutex> lock(views_mu_);
    Entry& e = views_[name];
    old_gen = e.active_gen;
    shadow->TakeLagSamplesFrom(*active);  // the lag chart's past survives the swap
    shadow->SwappedIn(*active);           // and so do its counters (active is held)
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

bool Daemon::RetentionGap(const Projection& projection, Value* detail) {
  Object firsts, missing;
  std::unique_ptr<Archive> archive = archive_ ? archive_->Clone() : nullptr;
  bool archive_unreadable = false;  // once: the other partitions are not asked (each may wait)
  for (const auto& topic : projection.topics()) {
    std::map<int32_t, PartitionInfo> marks;
    std::string werr;
    if (!QueryWatermarks(brokers_, options_.kafka_props, topic, &marks, &werr)) continue;
    for (const auto& [part, info] : marks) {
      Offset log_start = info.low_watermark.value_or(0);
      if (log_start <= 0) continue;
      std::string name = topic + ":" + std::to_string(part);
      int64_t from = 0, to = log_start;
      if (archive) {
        if (archive_unreadable) continue;
        std::string aerr;
        if (!ArchiveGap(archive.get(), topic, part, log_start, &from, &to, &aerr)) {
          // Unreadable now: the rebuild starts and holds (stalled) until it can read it.
          Log("warn", projection.name(), "rebuild: cannot check the archive: " + aerr);
          archive_unreadable = true;
          continue;
        }
        if (from == to) continue;  // the archive reaches the log start
      }
      firsts.Set(name, Value::Number(Decimal::FromInt(log_start)));
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
  // A manual rebuild keeps the definition, unless a changed one is held for want of the
  // start of the log: then it is the one rebuilt (which is what allow_gap is asked for).
  std::shared_ptr<const Projection> definition = view->projection_ptr();
  {
    std::lock_guard<std::mutex> lock(views_mu_);
    auto it = views_.find(name);
    if (it != views_.end() && it->second.held_definition) definition = it->second.held_definition;
  }
  if (!allow_gap && RetentionGap(*definition, gap)) {
    *error = archive_ ? "the archive and the log leave offsets missing"
                      : "the log no longer starts at offset 0";
    return false;
  }
  // A manual rebuild keeps the definition; the shadow starts empty.
  std::lock_guard<std::mutex> admin(admin_mu_);
  // Refused before anything is removed: the next generation's folder is the running rebuild's.
  int next_gen = ShadowGeneration(name, error);
  if (next_gen < 0) return false;
  std::error_code ec;
  fs::remove_all(ViewDir(name) + "/gen-" + std::to_string(next_gen), ec);
  // Remember the request, so a crash before the swap resumes the rebuild at the next start.
  {
    std::ofstream marker(ViewDir(name) + "/REBUILD", std::ios::trunc);
    marker << "gen-" << next_gen << "\n";
    if (allow_gap) marker << "allow_gap\n";  // holes in the archive are passed, then too
  }
  if (!StartShadow(name, definition, error, allow_gap)) return false;
  {
    std::lock_guard<std::mutex> lock(views_mu_);
    auto it = views_.find(name);
    if (it != views_.end()) {
      it->second.held_definition.reset();
      it->second.held_reason.clear();
    }
  }
  Log("info", name, "rebuild from offset 0 started; the current view serves until it is done");
  return true;
}

bool Daemon::RebuildForDefinition(const std::shared_ptr<const Projection>& p, std::string* error) {
  const std::string& name = p->name();
  Value gap;
  if (RetentionGap(*p, &gap)) {
    std::string missing;
    if (const Value* m = gap.as_object().Find("missing")) {
      for (const auto& [tp, range] : m->as_object().members()) {
        missing += (missing.empty() ? "" : ", ") + tp + " offsets " +
                   ToJson(*range.as_object().Find("first")) + ".." +
                   ToJson(*range.as_object().Find("last"));
      }
    }
    std::string why = "definition " + p->definition_hash() +
                      " is not applied: a rebuild from offset 0 would miss " + missing +
                      (archive_ ? ", which neither Kafka nor the archive holds"
                                : ", which Kafka no longer holds") +
                      "; the old definition serves; POST /v1/views/" + name +
                      "/rebuild?allow_gap=true rebuilds with the new one from the first offsets "
                      "there are";
    Log("error", name, why);
    std::lock_guard<std::mutex> lock(views_mu_);
    Entry& e = views_[name];
    e.held_definition = p;
    e.held_reason = why;
    return true;
  }
  {
    std::lock_guard<std::mutex> lock(views_mu_);
    Entry& e = views_[name];
    e.held_definition.reset();
    e.held_reason.clear();
  }
  return StartShadow(name, p, error);
}

int Daemon::Drop(const std::string& name, std::string* error) {
  std::lock_guard<std::mutex> admin(admin_mu_);  // not while a reload starts the same name
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

bool Daemon::Reload(std::string* errors) {
  std::lock_guard<std::mutex> admin(admin_mu_);
  CompiledFile compiled = CompileDirectory(options_.projections_dir);
  if (!compiled.ok()) {
    // One log line per error (FILE:LINE:COL: message); *errors has them with their source lines.
    for (const auto& d : compiled.diagnostics) {
      *errors += d.Format();
      Log("error", "",
          "reload refused, nothing changed: " + d.file + ":" + std::to_string(d.line) + ":" +
              std::to_string(d.column) + ": " + d.message);
    }
    return false;
  }
  std::set<std::string> names;
  for (const auto& p : compiled.projections) {
    names.insert(p->name());
    auto old = FindView(p->name());
    std::string error;
    if (!old) {
      // A view dropped from the folder and put back keeps its data (until `projctl drop`).
      std::error_code ec;
      Log("info", p->name(),
          fs::exists(ViewDir(p->name()) + "/CURRENT", ec)
              ? "projection back in the folder; resuming from its kept data"
              : "new projection; starting from offset 0");
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
    if (!RebuildForDefinition(p, &error)) {
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
  if (!shadow) {
    std::lock_guard<std::mutex> lock(views_mu_);
    auto it = views_.find(view->projection().name());
    if (it != views_.end() && !it->second.held_reason.empty()) {
      st.reason =
          st.reason.empty() ? it->second.held_reason : st.reason + "; " + it->second.held_reason;
    }
    return st;
  }
  ViewStatus sh = shadow->Status();
  st.rebuilding = true;
  st.rebuild_definition_hash = sh.definition_hash;
  int64_t done = 0, end = 0;
  for (const auto& p : sh.partitions) {
    done += p.position;
    end += p.high_watermark.value_or(p.position);
  }
  st.rebuild_applied = done;
  st.rebuild_from_archive = sh.archive_events;
  st.rebuild_remaining = std::max<int64_t>(0, end - done);
  st.rebuild_progress = end > 0 ? static_cast<double>(done) / static_cast<double>(end) : 0;
  if (st.rebuild_progress > 1) st.rebuild_progress = 1;
  st.rebuild_events_per_second = sh.events_per_second;
  if (sh.failed) {
    // The rebuild waits for an operator (a fixed definition or POST skip): never healthy, and
    // the event it stopped at is shown as a failed view's is. The old view serves meanwhile.
    st.state = ViewState::kFailed;
    st.failed = true;
    st.failed_topic = sh.failed_topic;
    st.failed_partition = sh.failed_partition;
    st.failed_offset = sh.failed_offset;
    st.failed_event = sh.failed_event;
    st.reason = "rebuild stopped at a bad event (errors stop): " + sh.reason +
                "; this view serves meanwhile (POST skip moves the rebuild past the event)";
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

}  // namespace projd
