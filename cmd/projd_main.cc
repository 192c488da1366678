// projd: the daemon's command line (SPEC §3).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <toml++/toml.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "api/daemon.h"
#include "cmd/help_flags.h"
#include "formats/schema_registry.h"

namespace {

bool ParseInt(const std::string& s, int64_t min, int64_t max, int64_t* out) {
  if (s.empty() || s.size() > 18 || s.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  *out = std::stoll(s);
  return *out >= min && *out <= max;
}

// Checks a --listen value, HOST:PORT: HOST an IPv4 or IPv6 address (IPv6 in brackets) or
// localhost (taken as 127.0.0.1), PORT 0..65535. *normalized: the address as the daemon takes
// it. false with *error (what is wrong) when bad.
bool CheckListen(const std::string& value, std::string* normalized, std::string* error) {
  size_t colon = value.rfind(':');
  if (colon == std::string::npos) {
    *error = "wants HOST:PORT (such as 127.0.0.1:8080), got '" + value + "'";
    return false;
  }
  std::string host = value.substr(0, colon), port = value.substr(colon + 1);
  int64_t n;
  if (!ParseInt(port, 0, 65535, &n)) {
    *error = "wants HOST:PORT with a port of 0..65535, got '" + value + "'";
    return false;
  }
  if (host.empty()) {
    *error =
        "wants HOST:PORT with a host: 127.0.0.1 for loopback, 0.0.0.0 or [::] for every "
        "interface; got '" +
        value + "'";
    return false;
  }
  std::string bare = host;
  if (bare.size() >= 2 && bare.front() == '[' && bare.back() == ']') {
    bare = bare.substr(1, bare.size() - 2);
  }
  if (bare == "localhost") {
    *normalized = "127.0.0.1:" + port;
    return true;
  }
  unsigned char addr[sizeof(struct in6_addr)];
  bool v4 = bare == host && inet_pton(AF_INET, bare.c_str(), addr) == 1;
  bool v6 = bare != host && inet_pton(AF_INET6, bare.c_str(), addr) == 1;
  if (!v4 && !v6) {
    *error =
        "wants HOST:PORT with an IP address or localhost as HOST (an IPv6 address in "
        "brackets: [::1]:8080), got '" +
        value + "'";
    return false;
  }
  *normalized = value;
  return true;
}

// --kafka-prop KEY=VALUE: a later value of a property replaces an earlier one (a flag's the
// config file's).
bool ApplyKafkaProp(projd::DaemonOptions* o, const std::string& value, std::string* error) {
  size_t eq = value.find('=');
  if (eq == std::string::npos || eq == 0) {
    *error = "wants KEY=VALUE, got '" + value + "'";
    return false;
  }
  std::string key = value.substr(0, eq);
  auto& props = o->kafka_props;
  props.erase(
      std::remove_if(props.begin(), props.end(), [&key](const auto& p) { return p.first == key; }),
      props.end());
  props.emplace_back(key, value.substr(eq + 1));
  return true;
}

// --archive: file:///DIR or s3://BUCKET/PREFIX (its form only; nothing is read here).
bool ApplyArchive(projd::DaemonOptions* o, const std::string& value, std::string* error) {
  const std::string kFile = "file:///", kS3 = "s3://";
  bool file = value.compare(0, kFile.size(), kFile) == 0;
  bool s3 = value.compare(0, kS3.size(), kS3) == 0 && value.size() > kS3.size() &&
            value[kS3.size()] != '/';
  if (!file && !s3) {
    *error = "wants file:///DIR or s3://BUCKET/PREFIX, got '" + value + "'";
    return false;
  }
  o->archive = value;
  return true;
}

// Applies one setting (from a flag or the config file), `name` spelled as the flag is (without
// its dashes). false with *error when bad: what is wrong, to follow the flag's or key's name
// ("wants 1..1024").
bool Apply(projd::DaemonOptions* o, const std::string& name, const std::string& value,
           std::string* error) {
  int64_t n;
  if (name == "projections") {
    o->projections_dir = value;
  } else if (name == "data") {
    o->data_dir = value;
  } else if (name == "listen") {
    if (!CheckListen(value, &o->listen, error)) return false;
  } else if (name == "brokers") {
    o->brokers = value;
  } else if (name == "group") {
    o->group_id = value;
  } else if (name == "kafka-prop") {
    if (!ApplyKafkaProp(o, value, error)) return false;
  } else if (name == "auth") {
    o->auth_file = value;
  } else if (name == "schema-registry") {
    // The URL's form only (nothing is asked of the registry here).
    if (!projd::SchemaRegistry::Connect(value, nullptr, error)) {
      *error = "wants http://HOST[:PORT][/PATH]: " + *error;
      return false;
    }
    o->schema_registry = value;
  } else if (name == "archive") {
    if (!ApplyArchive(o, value, error)) return false;
  } else if (name == "s3-endpoint") {
    // http:// or https://, then a host (and maybe a port and a path).
    const size_t scheme = value.rfind("http://", 0) == 0    ? 7
                          : value.rfind("https://", 0) == 0 ? 8
                                                            : 0;
    if (scheme == 0 || value.size() == scheme || value[scheme] == '/' || value[scheme] == ':') {
      *error = "wants http://HOST[:PORT] or https://HOST[:PORT] (got '" + value + "')";
      return false;
    }
    o->s3_endpoint = value;
  } else if (name == "demo-events") {
    o->demo_events = value;
  } else if (name == "demo-rate") {
    if (!ParseInt(value, 0, 100000, &n)) {
      *error = "wants 0..100000 events per second";
      return false;
    }
    o->demo_rate = static_cast<int>(n);
  } else if (name == "partitions") {
    if (!ParseInt(value, 1, 1024, &n)) {
      *error = "wants 1..1024";
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
      *error = "wants full, batch or none";
      return false;
    }
  } else if (name == "max-event-bytes") {
    if (!ParseInt(value, 1, int64_t{1} << 30, &n)) {
      *error = "wants a positive number (at most 1073741824)";
      return false;
    }
    o->max_event_bytes = n;
  } else if (name == "changes-keep") {
    if (!ParseInt(value, 1, int64_t{1} << 40, &n)) {
      *error = "wants a positive number of changes";
      return false;
    }
    o->changes_keep = static_cast<uint64_t>(n);
  } else if (name == "max-subscribers") {
    if (!ParseInt(value, 1, 1000000, &n)) {
      *error = "wants 1..1000000";
      return false;
    }
    o->feeds.max_subscribers = static_cast<size_t>(n);
  } else if (name == "changes-heartbeat-ms") {
    if (!ParseInt(value, 10, 3600000, &n)) {
      *error = "wants 10..3600000";
      return false;
    }
    o->feeds.heartbeat = std::chrono::milliseconds(n);
  } else if (name == "log-format") {
    if (value != "text" && value != "json") {
      *error = "wants text or json";
      return false;
    }
    o->log_json = value == "json";
  } else if (name == "http-threads") {
    if (!ParseInt(value, 1, 256, &n)) {
      *error = "wants 1..256";
      return false;
    }
    o->http_threads = static_cast<int>(n);
  } else if (name == "http-max-connections" || name == "http-max-body-bytes" ||
             name == "http-max-header-bytes" || name == "http-read-timeout-ms" ||
             name == "http-idle-timeout-ms") {
    if (!ParseInt(value, 1, int64_t{1} << 32, &n)) {
      *error = "wants a positive number";
      return false;
    }
    if (name == "http-max-connections") o->http.max_connections = static_cast<size_t>(n);
    if (name == "http-max-body-bytes") o->http.max_body_bytes = static_cast<size_t>(n);
    if (name == "http-max-header-bytes") o->http.max_header_bytes = static_cast<size_t>(n);
    if (name == "http-read-timeout-ms") o->http.read_timeout = std::chrono::milliseconds(n);
    if (name == "http-idle-timeout-ms") o->http.idle_timeout = std::chrono::milliseconds(n);
  } else {
    *error = "is not a setting";
    return false;
  }
  return true;
}

// The settings whose value is a number (a TOML integer in the config file); every other
// setting, but demo and insecure_listen_any (true or false), takes a string.
bool IsNumberSetting(const std::string& name) {
  return name == "demo-rate" || name == "partitions" || name == "max-event-bytes" ||
         name == "changes-keep" || name == "max-subscribers" || name == "changes-heartbeat-ms" ||
         name == "http-threads" || name == "http-max-connections" ||
         name == "http-max-body-bytes" || name == "http-max-header-bytes" ||
         name == "http-read-timeout-ms" || name == "http-idle-timeout-ms";
}

// What a TOML value is, for errors: "a string", "an integer", ...
std::string TomlKind(const toml::node& v) {
  switch (v.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    default:
      return "a date or time";
  }
}

bool IsSettingName(const std::string& name);

// `overridden`: the settings a flag also gives (flags win: the file's value of those is not
// taken, and not judged, only its key checked).
bool LoadConfig(const std::string& path, const std::set<std::string>& overridden,
                projd::DaemonOptions* o, std::string* error) {
  toml::table tbl;
  try {
    tbl = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    *error = path + ":" + std::to_string(e.source().begin.line) + ":" +
             std::to_string(e.source().begin.column) + ": " + std::string(e.description());
    return false;
  }
  // *error: the file's path, then what is wrong in it.
  auto fail = [&path, error](const std::string& what) {
    *error = path;
    *error += ": ";
    *error += what;
    return false;
  };
  // Each setting once: two spellings of one (max_event_bytes and max-event-bytes, or
  // kafka_props and kafka-prop) would leave which one counts to the file's order.
  std::map<std::string, std::string> spelled;
  for (const auto& [k, v] : tbl) {
    // `key`: as the file spells it, for errors; `name`: as the flag is (max_event_bytes and
    // max-event-bytes are both max-event-bytes).
    std::string key(k.str());
    std::string name = key;
    for (char& c : name) {
      if (c == '_') c = '-';
    }
    const std::string setting = name == "kafka-prop" ? "kafka-props" : name;
    if (auto [it, fresh] = spelled.emplace(setting, key); !fresh) {
      return fail(it->second + " and " + key + " name the same setting: keep one");
    }
    if (name == "kafka-props" || name == "kafka-prop") {
      const toml::table* t = v.as_table();
      if (!t) return fail(key + " wants a table of strings, got " + TomlKind(v));
      for (const auto& [pk, pv] : *t) {
        auto s = pv.value_exact<std::string>();
        if (!s) {
          return fail(key + ".\"" + std::string(pk.str()) + "\" wants a string (\"...\"), got " +
                      TomlKind(pv));
        }
        if (!Apply(o, "kafka-prop", std::string(pk.str()) + "=" + *s, error)) {
          return fail(key + ".\"" + std::string(pk.str()) + "\" " + *error);
        }
      }
      continue;
    }
    bool known = name == "demo" || name == "insecure-listen-any" || IsSettingName(name);
    if (!known) {
      if (v.is_table()) return fail("unknown table [" + key + "]");
      return fail("unknown key '" + key + "'");
    }
    if (overridden.count(name)) continue;
    if (name == "demo" || name == "insecure-listen-any") {
      auto b = v.value_exact<bool>();
      if (!b) return fail(key + " wants true or false, got " + TomlKind(v));
      if (name == "demo") o->demo = *b;
      if (name == "insecure-listen-any") o->insecure_listen_any = *b;
      continue;
    }
    std::string value;
    if (IsNumberSetting(name)) {
      auto i = v.value_exact<int64_t>();
      if (!i) return fail(key + " wants a whole number (no quotes), got " + TomlKind(v));
      value = std::to_string(*i);
    } else {
      auto s = v.value_exact<std::string>();
      if (!s) {
        std::string why = key;
        why += " wants a string (";
        why += key;
        why += " = \"...\"), got ";
        why += TomlKind(v);
        return fail(why);
      }
      value = *s;
    }
    if (!Apply(o, name, value, error)) return fail(key + " " + *error);
  }
  return true;
}

// A flag that carries one setting for Apply(): its name (as in Apply and the config file), its
// value's name in the usage, and what it does.
struct Setting {
  const char* name;
  const char* value_name;
  const char* help;
};

const Setting kSettings[] = {
    {"projections", "DIR", "the folder of .proj files (required, unless --demo)"},
    {"data", "DIR", "the folder of the views' LMDB stores (required, unless --demo)"},
    {"listen", "HOST:PORT",
     "the HTTP API's address: an IP address or localhost, and a port\n"
     "(default 127.0.0.1:8080; 0.0.0.0:PORT every interface; port 0: any free)"},
    {"brokers", "HOST:PORT,...", "Kafka's bootstrap servers (default: start the embedded broker)"},
    {"group", "ID",
     "the consumer group projd commits its positions to, for lag tools\n"
     "(default projd-HOSTNAME)"},
    {"auth", "FILE", "tokens and their roles; without it only loopback is served"},
    {"schema-registry", "URL", "the schema registry of format avro projections"},
    {"archive", "URL",
     "file:///DIR or s3://BUCKET/PREFIX: the Kafka Connect S3 sink archive\n"
     "rebuilds and new views read below Kafka's log start"},
    {"s3-endpoint", "URL",
     "the S3 API's address for s3:// archives (default AWS; credentials\n"
     "and region from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION)"},
    {"demo-events", "FILE",
     "the events --demo produces (default: examples/banking-events.jsonl\n"
     "beside the projections folder)"},
    {"demo-rate", "N",
     "events per second of --demo's live stream after the example events\n"
     "(default 10, with a burst every minute; 0: none)"},
    {"partitions", "N", "partitions per topic of the embedded broker, 1..1024 (default 4)"},
    {"sync", "full|batch|none", "when LMDB commits are made durable (default batch)"},
    {"max-event-bytes", "N", "larger events are event errors (default 1048576)"},
    {"changes-keep", "N",
     "changes kept per view for change feeds to resume from (default 1000000)"},
    {"max-subscribers", "N", "open change feed streams at most (default 10000; more: 503)"},
    {"changes-heartbeat-ms", "N", "change feed heartbeat interval (default 15000)"},
    {"log-format", "text|json", "log lines as text (default) or JSON"},
    {"http-threads", "N", "HTTP I/O threads, 1..256 (default: one per two cores, at least 1)"},
    {"http-max-connections", "N", "open HTTP connections at most (default 1024)"},
    {"http-max-body-bytes", "N", "larger request bodies get 413 (default 1048576)"},
    {"http-max-header-bytes", "N", "larger request heads get 431 (default 16384)"},
    {"http-read-timeout-ms", "N", "time to send a whole request (default 10000)"},
    {"http-idle-timeout-ms", "N", "idle keep-alive connections close after this (default 60000)"},
};

bool IsSettingName(const std::string& name) {
  for (const Setting& s : kSettings) {
    if (name == s.name) return true;
  }
  return false;
}

// Reports a usage error on stderr, sets *exit_code to 2 and returns false.
bool UsageError(const std::string& message, int* exit_code) {
  std::cerr << "projd: " << message << "\nRun 'projd --help' for the usage.\n";
  *exit_code = 2;
  return false;
}

volatile sig_atomic_t g_signal = 0;
void OnSignal(int sig) { g_signal = sig; }

// Reads the command line (and the config file it names) into *out. Returns false when projd
// should exit at once with *exit_code: 0 after --help or --version, 2 after a usage error (told
// on stderr).
bool ParseCommandLine(int argc, char** argv, projd::DaemonOptions* out, int* exit_code) {
  CLI::App app("projd " PROJD_VERSION
               ": consumes the Kafka topics its projections name, keeps each view in LMDB\n"
               "and serves it over HTTP.",
               "projd");
  app.get_formatter()->column_width(30);
  app.set_help_flag("-h,--help", "print this help and exit");
  app.set_version_flag("--version", "projd " PROJD_VERSION, "print the version and exit");
  // Like the settings of the config file, a flag given twice takes its last value.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return std::string("projd: ") + e.what() + "\nRun 'projd --help' for the usage.\n";
  });
  app.footer(
      "SIGTERM or SIGINT: finish the batch in hand, commit, exit 0. SIGHUP or a changed .proj\n"
      "file: reload. Exit codes: 0 stopped cleanly, 1 could not start, 2 a usage error.");

  std::string config;
  app.add_option("--config", config,
                 "a TOML file of the same settings (projections = \"...\",\n"
                 "partitions = 4, kafka_props = {...}, ...); flags win over it")
      ->type_name("FILE");
  std::vector<std::pair<const Setting*, CLI::Option*>> flags;
  std::map<std::string, std::string> values;
  for (const Setting& s : kSettings) {
    CLI::Option* o = app.add_option(std::string("--") + s.name, values[s.name], s.help);
    flags.emplace_back(&s, o->type_name(s.value_name));
  }
  std::vector<std::string> kafka_props;
  app.add_option("--kafka-prop", kafka_props,
                 "a librdkafka property (security.protocol, sasl.*, ssl.*, ...);\n"
                 "repeat for several")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  bool demo = false, insecure_listen_any = false;
  app.add_flag("--demo", demo,
               "create the example topics and produce the example events (defaults:\n"
               "--projections projections, --data /tmp/projd-demo)");
  app.add_flag("--insecure-listen-any", insecure_listen_any,
               "allow a --listen address other than loopback without --auth");

  // --help and --version end CLI11's parsing where they stand: an unknown flag beside them is
  // still a usage error.
  if (std::string flag = projd_cmd::UnknownFlagBesideHelp(app, argc, argv); !flag.empty()) {
    return UsageError("unknown flag '" + flag + "'", exit_code);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Help and version exit 0 (on stdout); any other parse error is a usage error.
    *exit_code = app.exit(e) == 0 ? 0 : 2;
    return false;
  }

  // The config file first, so that flags win over it.
  *exit_code = 2;
  projd::DaemonOptions& options = *out;
  std::string error;
  std::set<std::string> overridden;
  for (const auto& [setting, flag] : flags) {
    if (flag->count() > 0) overridden.insert(setting->name);
  }
  if (!config.empty() && !LoadConfig(config, overridden, &options, &error)) {
    std::cerr << "projd: " << error << "\n";
    return false;
  }
  for (const auto& [setting, flag] : flags) {
    if (flag->count() > 0 && !Apply(&options, setting->name, values[setting->name], &error)) {
      return UsageError(std::string("--") + setting->name + " " + error, exit_code);
    }
  }
  // After the file's [kafka_props]: a flag's property replaces the file's of the same name.
  for (const auto& prop : kafka_props) {
    if (!Apply(&options, "kafka-prop", prop, &error)) {
      return UsageError("--kafka-prop " + error, exit_code);
    }
  }
  // A property librdkafka refuses (an unknown name, a bad value) is a usage error at start,
  // not a daemon whose every view fails.
  if (!projd::CheckKafkaProperties(options.kafka_props, &error)) {
    return UsageError(error, exit_code);
  }
  if (demo) options.demo = true;
  if (insecure_listen_any) options.insecure_listen_any = true;
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
    return UsageError("--projections and --data are required", exit_code);
  }
  return true;
}

// Runs the daemon until SIGTERM or SIGINT; reloads on SIGHUP or a changed .proj file. Returns the
// exit code.
int Serve(const projd::DaemonOptions& options) {
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = OnSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);

  projd::Daemon daemon(options);
  std::string error;
  if (!daemon.Start(&error)) {
    // With --log-format json, a JSON line like every other (its line breaks escaped).
    if (options.log_json) {
      daemon.Log("error", "", "projd cannot start: " + error);
    } else {
      std::cerr << "projd: " << error << "\n";
    }
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
  // A Kafka client that does not close (librdkafka waiting on a broker, or on a topic deleted
  // under it) would hold the exit for ever: after kStopWithin, projd exits anyway. What is
  // committed is kept (the views' stores and their offsets commit together), and a restart
  // resumes from there.
  constexpr std::chrono::seconds kStopWithin{30};
  std::mutex stop_mu;
  std::condition_variable stop_cv;
  bool stopped = false;
  std::thread watchdog([&] {
    std::unique_lock<std::mutex> lock(stop_mu);
    if (stop_cv.wait_for(lock, kStopWithin, [&] { return stopped; })) return;
    daemon.Log("error", "",
               "projd did not finish stopping within " + std::to_string(kStopWithin.count()) +
                   " s (a Kafka client that does not close?); exiting now: what is committed "
                   "is kept, and a restart resumes from it");
    std::_Exit(1);
  });
  daemon.Stop();
  {
    std::lock_guard<std::mutex> lock(stop_mu);
    stopped = true;
  }
  stop_cv.notify_all();
  watchdog.join();
  daemon.Log("info", "", "stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    projd::DaemonOptions options;
    int exit_code = 0;
    if (!ParseCommandLine(argc, argv, &options, &exit_code)) return exit_code;
    return Serve(options);
  } catch (const std::exception& e) {
    std::cerr << "projd: " << e.what() << "\n";
    return 1;
  }
}
