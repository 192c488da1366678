// GET /metrics: projd's metrics in the Prometheus text format (version 0.0.4): per view, per
// partition, per HTTP route, and the standard process_* metrics.
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "api/api_answers.h"
#include "api/daemon.h"
#include "api/daemon_api.h"

#ifndef PROJD_VERSION_STRING
#define PROJD_VERSION_STRING "unknown"
#endif

namespace projd {
namespace {

// A label value, escaped for the Prometheus text format.
std::string LabelValue(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

std::string FormatDouble(double d) {
  char buf[64];
  snprintf(buf, sizeof(buf), "%.6g", d);
  return buf;
}

// The standard process metrics of Prometheus client libraries, from /proc/self.
void WriteProcessMetrics(std::string* out) {
  auto gauge = [out](const char* name, const char* type, const char* help, double value) {
    char buf[64];
    snprintf(buf, sizeof(buf), "%.15g", value);
    *out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
            name + " " + buf + "\n";
  };
  long ticks = sysconf(_SC_CLK_TCK);
  long page = sysconf(_SC_PAGESIZE);
  std::ifstream stat_file("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  // Fields after the command name (which is in parentheses and may hold spaces).
  size_t close = stat.rfind(')');
  if (close != std::string::npos && ticks > 0) {
    std::istringstream in(stat.substr(close + 2));
    std::vector<std::string> f;
    for (std::string x; in >> x;) f.push_back(x);
    // f[0] is field 3 (state): utime 14, stime 15, starttime 22, vsize 23, rss 24.
    if (f.size() > 21) {
      double cpu = (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(ticks);
      gauge("process_cpu_seconds_total", "counter", "User and system CPU time spent in seconds.",
            cpu);
      double boot = 0;
      std::ifstream pstat("/proc/stat");
      for (std::string line; std::getline(pstat, line);) {
        if (line.rfind("btime ", 0) == 0) boot = std::stod(line.substr(6));
      }
      gauge("process_start_time_seconds", "gauge",
            "Start time of the process since unix epoch in seconds.",
            boot + std::stod(f[19]) / static_cast<double>(ticks));
      gauge("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
            std::stod(f[20]));
      gauge("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
            std::stod(f[21]) * static_cast<double>(page));
    }
  }
  std::error_code ec;
  size_t fds = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++fds;
  }
  gauge("process_open_fds", "gauge", "Number of open file descriptors.", static_cast<double>(fds));
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    gauge("process_max_fds", "gauge", "Maximum number of open file descriptors.",
          rl.rlim_cur == RLIM_INFINITY ? -1 : static_cast<double>(rl.rlim_cur));
  }
}

}  // namespace

void DaemonApi::Metrics(Daemon& d, ApiCall& call) {
  std::string out;
  auto head = [&out](const char* name, const char* type, const char* help) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  };
  std::vector<std::pair<std::shared_ptr<View>, ViewStatus>> views;
  for (const auto& v : d.Views()) views.emplace_back(v, d.StatusOf(v));
  auto per_view = [&](const char* name, const char* type, const char* help, auto value) {
    head(name, type, help);
    for (const auto& [v, st] : views) {
      out += std::string(name) + "{view=\"" + LabelValue(st.name) + "\"} " + value(st) + "\n";
    }
  };
  per_view("projd_events_applied_total", "counter", "Events applied to the view.",
           [](const ViewStatus& st) { return std::to_string(st.applied_total); });
  per_view(
      "projd_events_skipped_total", "counter",
      "Events skipped: no handler, where not true, or a duplicate id (dedupe).",
      [](const ViewStatus& st) { return std::to_string(st.ignored_total + st.duplicates_total); });
  per_view("projd_dead_letters_total", "counter", "Events rejected into the dead letters.",
           [](const ViewStatus& st) { return std::to_string(st.counted_dead_letters); });
  per_view("projd_archive_objects_total", "counter",
           "Archive objects read (--archive: rebuilds and new views past Kafka's retention).",
           [](const ViewStatus& st) { return std::to_string(st.counted_archive_objects); });
  per_view("projd_archive_bytes_total", "counter", "Archive bytes read.",
           [](const ViewStatus& st) { return std::to_string(st.counted_archive_bytes); });
  per_view("projd_archive_events_total", "counter", "Events read from the archive.",
           [](const ViewStatus& st) { return std::to_string(st.counted_archive_events); });
  per_view("projd_kafka_fetch_wakes_total", "counter",
           "Times the view woke Kafka's fetchers after its full consumer queue had paused them.",
           [](const ViewStatus& st) { return std::to_string(st.fetch_wakes); });
  head("projd_consumer_lag_events", "gauge", "High watermark minus the next offset to apply.");
  for (const auto& [v, st] : views) {
    for (const auto& p : st.partitions) {
      out += "projd_consumer_lag_events{view=\"" + LabelValue(st.name) + "\",topic=\"" +
             LabelValue(p.tp.topic) + "\",partition=\"" + std::to_string(p.tp.partition) + "\"} " +
             std::to_string(p.lag_events) + "\n";
    }
  }
  head("projd_consumer_lag_seconds", "gauge",
       "Age of the oldest unapplied event in seconds (0 when caught up).");
  for (const auto& [v, st] : views) {
    for (const auto& p : st.partitions) {
      out += "projd_consumer_lag_seconds{view=\"" + LabelValue(st.name) + "\",topic=\"" +
             LabelValue(p.tp.topic) + "\",partition=\"" + std::to_string(p.tp.partition) + "\"} " +
             FormatDouble(p.lag_seconds) + "\n";
    }
  }
  per_view("projd_view_rows", "gauge", "Rows in the view.",
           [](const ViewStatus& st) { return std::to_string(st.rows); });
  head("projd_view_state", "gauge", "1 for the view's current state, 0 for the others.");
  for (const auto& [v, st] : views) {
    for (ViewState s : kViewStates) {
      out += "projd_view_state{view=\"" + LabelValue(st.name) + "\",state=\"" + ViewStateName(s) +
             "\"} " + (st.state == s ? "1" : "0") + "\n";
    }
  }
  head("projd_rebuild_progress_ratio", "gauge",
       "Progress of a running rebuild, 0 to 1 (only views being rebuilt).");
  for (const auto& [v, st] : views) {
    if (st.rebuilding) {
      out += "projd_rebuild_progress_ratio{view=\"" + LabelValue(st.name) + "\"} " +
             FormatDouble(st.rebuild_progress) + "\n";
    }
  }
  head("projd_apply_batch_seconds", "histogram", "Time to apply and commit one batch.");
  for (const auto& [v, st] : views) {
    v->apply_batch_seconds().Write("projd_apply_batch_seconds",
                                   "view=\"" + LabelValue(st.name) + "\"", &out);
  }
  head("projd_query_seconds", "histogram", "Time to answer a read of a view.");
  d.query_seconds_.Write("projd_query_seconds", "", &out);
  head("projd_event_to_visible_seconds", "histogram",
       "From an event's Kafka timestamp to the commit that makes it readable.");
  for (const auto& [v, st] : views) {
    v->event_to_visible_seconds().Write("projd_event_to_visible_seconds",
                                        "view=\"" + LabelValue(st.name) + "\"", &out);
  }
  head("projd_subscribers", "gauge", "Open change feed streams of the view.");
  std::map<std::string, size_t> subscribers = d.feeds_->SubscriberCounts();
  for (const auto& [v, st] : views) {
    auto it = subscribers.find(st.name);
    out += "projd_subscribers{view=\"" + LabelValue(st.name) + "\"} " +
           std::to_string(it == subscribers.end() ? 0 : it->second) + "\n";
  }
  d.WriteHttpMetrics(&out);
  WriteProcessMetrics(&out);
  head("projd_build_info", "gauge", "Always 1; the label says which projd this is.");
  out += std::string("projd_build_info{version=\"") + PROJD_VERSION_STRING + "\"} 1\n";
  HttpResponse r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = std::move(out);
  call.Reply(std::move(r));
}

void Daemon::CountRequest(int route, int status, double seconds) {
  size_t slot = route < 0 ? http_seconds_.size() - 1 : static_cast<size_t>(route);
  if (status == 200) {
    http_ok_[slot].fetch_add(1, std::memory_order_relaxed);
  } else {
    std::lock_guard<std::mutex> lock(http_metrics_mu_);
    ++http_requests_[{route, status}];
  }
  http_seconds_[slot]->Observe(seconds);
}

void Daemon::WriteHttpMetrics(std::string* out) {
  const auto& routes = ApiRoutes();
  auto label = [&routes](int route) {
    return route < 0 ? std::string("(none)")
                     : std::string(routes[static_cast<size_t>(route)].method) + " " +
                           routes[static_cast<size_t>(route)].pattern;
  };
  *out +=
      "# HELP projd_http_requests_total HTTP requests answered, by route (method and pattern; "
      "a 405 under the path's first route; (none) when no route has the path) and status "
      "code.\n# TYPE projd_http_requests_total counter\n";
  std::map<std::pair<int, int>, uint64_t> counts;
  {
    std::lock_guard<std::mutex> lock(http_metrics_mu_);
    counts = http_requests_;
  }
  // Slot i of http_ok_ and http_seconds_: route i, the last one no route (CountRequest).
  auto route_of = [this](size_t i) {
    return i + 1 == http_seconds_.size() ? -1 : static_cast<int>(i);
  };
  for (size_t i = 0; i < http_seconds_.size(); ++i) {
    uint64_t ok = http_ok_[i].load(std::memory_order_relaxed);
    if (ok > 0) counts[{route_of(i), 200}] = ok;
  }
  for (const auto& [key, n] : counts) {
    *out += "projd_http_requests_total{route=\"" + LabelValue(label(key.first)) + "\",code=\"" +
            std::to_string(key.second) + "\"} " + std::to_string(n) + "\n";
  }
  *out +=
      "# HELP projd_http_request_seconds Time from a request's arrival to its answer, by "
      "route.\n# TYPE projd_http_request_seconds histogram\n";
  for (size_t i = 0; i < http_seconds_.size(); ++i) {
    http_seconds_[i]->Write("projd_http_request_seconds",
                            "route=\"" + LabelValue(label(route_of(i))) + "\"", out);
  }
}

}  // namespace projd
