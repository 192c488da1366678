// projd: the daemon's command line (SPEC §3).
#include <signal.h>
#include <toml++/toml.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>

#include "engine/daemon.h"

namespace {

const char kUsage[] =
    "usage: projd --projections DIR --data DIR [--listen 127.0.0.1:8080]\n"
    "             [--brokers HOST:PORT,...] [--group ID] [--kafka-prop KEY=VALUE ...]\n"
    "             [--auth FILE] [--config FILE] [--demo] [--demo-events FILE] [--partitions N]\n"
    "             [--schema-registry URL]\n"
    "             [--sync full|batch|none] [--max-event-bytes N] [--log-format text|json]\n"
    "             [--insecure-listen-any] [--http-max-connections N] [--http-max-body-bytes N]\n"
    "             [--http-max-header-bytes N] [--http-read-timeout-ms N] [--http-idle-timeout-ms "
    "N]\n";

bool ParseInt(const std::string& s, int64_t min, int64_t max, int64_t* out) {
  if (s.empty() || s.size() > 18 || s.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  *out = std::stoll(s);
  return *out >= min && *out <= max;
}

// Applies one setting (from a flag or the config file). false with *error when bad.
bool Apply(projd::DaemonOptions* o, const std::string& name, const std::string& value,
           std::string* error) {
  int64_t n;
  if (name == "projections") {
    o->projections_dir = value;
  } else if (name == "data") {
    o->data_dir = value;
  } else if (name == "listen") {
    o->listen = value;
  } else if (name == "brokers") {
    o->brokers = value;
  } else if (name == "group") {
    o->group_id = value;
  } else if (name == "kafka-prop") {
    size_t eq = value.find('=');
    if (eq == std::string::npos || eq == 0) {
      *error = "--kafka-prop wants KEY=VALUE, got '" + value + "'";
      return false;
    }
    o->kafka_props.emplace_back(value.substr(0, eq), value.substr(eq + 1));
  } else if (name == "auth") {
    o->auth_file = value;
  } else if (name == "schema-registry") {
    o->schema_registry = value;
  } else if (name == "demo-events") {
    o->demo_events = value;
  } else if (name == "partitions") {
    if (!ParseInt(value, 1, 1024, &n)) {
      *error = "--partitions wants 1..1024";
      return false;
    }
    o->partitions = static_cast<int>(n);
  } else if (name == "sync") {
    if (value == "full") {
      o->sync = projd::SyncMode::kFull;
    } else if (value == "batch") {
      o->sync = projd::SyncMode::kBatch;
    } else if (value == "none") {
      o->sync = projd::SyncMode::kNone;
    } else {
      *error = "--sync wants full, batch or none";
      return false;
    }
  } else if (name == "max-event-bytes") {
    if (!ParseInt(value, 1, int64_t{1} << 30, &n)) {
      *error = "--max-event-bytes wants a positive number";
      return false;
    }
    o->max_event_bytes = n;
  } else if (name == "log-format") {
    if (value != "text" && value != "json") {
      *error = "--log-format wants text or json";
      return false;
    }
    o->log_json = value == "json";
  } else if (name == "http-max-connections" || name == "http-max-body-bytes" ||
             name == "http-max-header-bytes" || name == "http-read-timeout-ms" ||
             name == "http-idle-timeout-ms") {
    if (!ParseInt(value, 1, int64_t{1} << 32, &n)) {
      *error = "--" + name + " wants a positive number";
      return false;
    }
    if (name == "http-max-connections") o->http.max_connections = static_cast<size_t>(n);
    if (name == "http-max-body-bytes") o->http.max_body_bytes = static_cast<size_t>(n);
    if (name == "http-max-header-bytes") o->http.max_header_bytes = static_cast<size_t>(n);
    if (name == "http-read-timeout-ms") o->http.read_timeout = std::chrono::milliseconds(n);
    if (name == "http-idle-timeout-ms") o->http.idle_timeout = std::chrono::milliseconds(n);
  } else {
    *error = "unknown setting '" + name + "'";
    return false;
  }
  return true;
}

bool IsFlagWithoutValue(const std::string& name) {
  return name == "demo" || name == "insecure-listen-any" || name == "help";
}

bool LoadConfig(const std::string& path, projd::DaemonOptions* o, std::string* error) {
  toml::table tbl;
  try {
    tbl = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    *error = path + ":" + std::to_string(e.source().begin.line) + ":" +
             std::to_string(e.source().begin.column) + ": " + std::string(e.description());
    return false;
  }
  for (const auto& [k, v] : tbl) {
    std::string key(k.str());
    for (char& c : key) {
      if (c == '_') c = '-';
    }
    if (key == "demo" || key == "insecure-listen-any") {
      auto b = v.value<bool>();
      if (!b) {
        *error = path + ": " + key + " wants true or false";
        return false;
      }
      if (key == "demo") o->demo = *b;
      if (key == "insecure-listen-any") o->insecure_listen_any = *b;
      continue;
    }
    if (key == "kafka-prop" || key == "kafka-props") {
      if (const toml::table* t = v.as_table()) {
        for (const auto& [pk, pv] : *t) {
          auto s = pv.value<std::string>();
          if (!s) {
            *error = path + ": kafka_props values must be strings";
            return false;
          }
          o->kafka_props.emplace_back(std::string(pk.str()), *s);
        }
        continue;
      }
      *error = path + ": kafka_props must be a table of strings";
      return false;
    }
    std::string value;
    if (auto s = v.value<std::string>()) {
      value = *s;
    } else if (auto i = v.value<int64_t>()) {
      value = std::to_string(*i);
    } else {
      *error = path + ": " + key + " has an unsupported type";
      return false;
    }
    if (!Apply(o, key, value, error)) {
      *error = path + ": " + *error;
      return false;
    }
  }
  return true;
}

volatile sig_atomic_t g_signal = 0;
void OnSignal(int sig) { g_signal = sig; }

}  // namespace

int main(int argc, char** argv) {
  projd::DaemonOptions options;
  std::string error;
  // The config file first, so that flags win over it.
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string path;
    if (a == "--config" && i + 1 < argc) path = argv[i + 1];
    if (a.rfind("--config=", 0) == 0) path = a.substr(9);
    if (!path.empty() && !LoadConfig(path, &options, &error)) {
      std::cerr << "projd: " << error << "\n";
      return 2;
    }
  }
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0) {
      std::cerr << "projd: unexpected argument '" << a << "'\n" << kUsage;
      return 2;
    }
    std::string name = a.substr(2), value;
    size_t eq = name.find('=');
    bool has_value = eq != std::string::npos;
    if (has_value) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (name == "help") {
      std::cout << kUsage;
      return 0;
    }
    if (name == "demo") {
      options.demo = true;
      continue;
    }
    if (name == "insecure-listen-any") {
      options.insecure_listen_any = true;
      continue;
    }
    if (!has_value) {
      if (i + 1 >= argc) {
        std::cerr << "projd: --" << name << " needs a value\n" << kUsage;
        return 2;
      }
      value = argv[++i];
    }
    if (name == "config") continue;
    if (!Apply(&options, name, value, &error)) {
      std::cerr << "projd: " << error << "\n" << kUsage;
      return 2;
    }
  }
  if (options.demo) {
    if (options.projections_dir.empty()) options.projections_dir = "projections";
    if (options.data_dir.empty()) options.data_dir = "/tmp/projd-demo";
    if (options.demo_events.empty()) {
      // The example events next to the projections folder, as in the repository layout.
      std::filesystem::path p(options.projections_dir);
      options.demo_events = (p.parent_path() / "examples" / "banking-events.jsonl").string();
      if (p.parent_path().empty()) options.demo_events = "examples/banking-events.jsonl";
    }
  }
  if (options.projections_dir.empty() || options.data_dir.empty()) {
    std::cerr << "projd: --projections and --data are required\n" << kUsage;
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = OnSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);

  projd::Daemon daemon(options);
  if (!daemon.Start(&error)) {
    std::cerr << "projd: " << error << "\n";
    daemon.Stop();
    return 1;
  }
  // Watch the projections folder: a changed .proj file reloads like SIGHUP.
  auto snapshot = [&options]() {
    std::string s;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(options.projections_dir, ec)) {
      if (e.path().extension() != ".proj") continue;
      auto t = std::filesystem::last_write_time(e.path(), ec);
      auto size = std::filesystem::file_size(e.path(), ec);
      s += e.path().string() + ":" + std::to_string(t.time_since_epoch().count()) + ":" +
           std::to_string(size) + ";";
    }
    return s;
  };
  std::string last = snapshot();
  int ticks = 0;
  while (true) {
    if (g_signal == SIGTERM || g_signal == SIGINT) break;
    bool reload = false;
    if (g_signal == SIGHUP) {
      g_signal = 0;
      reload = true;
      daemon.Log("info", "", "SIGHUP: reloading projections");
    }
    if (++ticks % 10 == 0) {
      std::string now = snapshot();
      if (now != last) {
        last = now;
        reload = true;
        daemon.Log("info", "", "projections folder changed: reloading");
      }
    }
    if (reload) {
      std::string errors;
      daemon.Reload(&errors);
    }
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, nullptr);
  }
  daemon.Log("info", "", "shutting down: finishing the batches in hand");
  daemon.Stop();
  daemon.Log("info", "", "stopped");
  return 0;
}
