// projctl: the command-line client and local test runner (SPEC §7). This file is its command
// line (CLI11): the subcommands with their flags, and which command each one runs; the
// commands live in the files listed in projctl_common.h.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "api/http_server.h"
#include "cmd/help_flags.h"
#include "cmd/projctl_common.h"
#include "cmd/projctl_watch.h"
#include "engine/replay.h"

namespace projctl {
namespace {

// The failure message of a parse error: the command it is about, the error, where the usage is.
std::string FailureMessage(const CLI::App* app, const CLI::Error& e) {
  std::string command = app->get_name();
  for (const CLI::App* sub = app; !sub->get_subcommands().empty();) {
    sub = sub->get_subcommands().front();
    command += " " + sub->get_name();
  }
  return command + ": " + e.what() + "\nRun '" + command + " --help' for the usage.\n";
}

// A required positional argument shown as NAME in the usage.
CLI::Option* Positional(CLI::App* cmd, const std::string& name, std::string* out,
                        const std::string& help) {
  return cmd->add_option(name, *out, help)->required()->type_name("");
}

void AddJsonFlag(CLI::App* cmd, bool* json, const std::string& help) {
  cmd->add_flag("--json", *json, help);
}

void AddPagingFlags(CLI::App* cmd, Paging* paging, const std::string& limit_help) {
  cmd->add_option("--limit", paging->limit, limit_help)
      ->type_name("N")
      ->check(CLI::Range(1, 999999999).description(""));
  cmd->add_option("--cursor", paging->cursor, "start after this next_cursor of an earlier answer")
      ->type_name("C");
  cmd->add_flag("--all", paging->all,
                "follow next_cursor to the end: every page, printed as one answer");
}

// The command line, parsed: the subcommands, and a member per flag and argument.
struct CommandLine {
  std::string server_url;  // --server
  std::string token;       // --token
  double timeout_s = 30;   // --timeout
  CLI::Option* server_flag = nullptr;
  CLI::Option* token_flag = nullptr;

  CLI::App* check = nullptr;
  std::vector<std::string> check_files;
  CLI::App* test = nullptr;
  TestArgs test_args;
  CLI::App* diff = nullptr;
  std::string diff_old, diff_new, diff_events, diff_view, diff_schema;
  CLI::App* explain = nullptr;
  std::string explain_view, explain_key, explain_events, explain_file, explain_schema;
  int64_t max_event_bytes = 1 << 20;  // test, diff, explain --events: projd's flag

  CLI::App* status = nullptr;
  bool status_json = false;
  CLI::App* get = nullptr;
  std::string get_view, get_key, get_as_of;
  bool get_json = false;
  CLI::App* history = nullptr;
  std::string history_view, history_key;
  bool history_json = false;
  bool history_csv = false;  // --csv
  Paging history_paging;
  CLI::App* query = nullptr;
  std::vector<std::string> query_words;
  bool query_json = false;
  Paging query_paging;
  CLI::App* rebuild = nullptr;
  std::string rebuild_view;
  bool rebuild_wait = false;
  CLI::App* dead = nullptr;
  std::string dead_view;
  bool dead_json = false;
  Paging dead_paging;
  CLI::App* skip = nullptr;
  std::string skip_view;
  CLI::App* drop = nullptr;
  std::string drop_view;
  CLI::App* checksum = nullptr;
  std::string checksum_view;
  bool checksum_json = false;
  CLI::App* snapshot = nullptr;
  std::string snapshot_view, snapshot_out;
  CLI::App* watch = nullptr;
  std::string watch_view, watch_from, watch_where, watch_key;
  CLI::App* trace = nullptr;
  std::string trace_id;
  bool trace_json = false;
  Paging trace_paging;
  CLI::App* restore = nullptr;
  std::string restore_data, restore_view, restore_file;

  CLI::App* help = nullptr;
  std::string help_topic;
};

// The global flags.
void AddServerFlags(CLI::App* app, CommandLine* c) {
  c->server_flag =
      app->add_option("--server", c->server_url,
                      "projd's address, http://HOST:PORT (default: $PROJD_SERVER,\n"
                      "else http://127.0.0.1:8080)")
          ->type_name("URL")
          ->check(CLI::Validator(
              [](const std::string& url) {
                Server s;
                return ParseServer(url, &s) ? std::string() : "not an http://HOST:PORT address";
              },
              "", ""));
  c->token_flag = app->add_option("--token", c->token,
                                  "bearer token for a projd with --auth (default:\n"
                                  "$PROJD_TOKEN)")
                      ->type_name("T");
  app->add_option("--timeout", c->timeout_s,
                  "seconds one request to projd may take, from connecting to\n"
                  "the answer (default 30; rebuild --wait and watch apply it to each\n"
                  "poll, and to a stream's start)")
      ->type_name("SECONDS")
      ->check(CLI::Validator(
          [](const std::string& v) {
            char* end = nullptr;
            double d = std::strtod(v.c_str(), &end);
            bool ok = !v.empty() && end && *end == '\0' && d >= 0.001 && d <= 86400;
            return ok ? std::string() : "wants a number of seconds, 0.001 to 86400";
          },
          "", ""));
}

const char* const kSchemaHelp = "format avro: the writer schema of the events (given as JSON)";

// check, test, diff and explain: files and events, offline (explain also online).
void AddOfflineCommands(CLI::App* app, CommandLine* c) {
  c->check = app->add_subcommand("check", "parse and type-check .proj files");
  c->check->add_option("FILE", c->check_files, ".proj files (several: one set of projections)")
      ->required()
      ->type_name("");
  c->check->footer(
      "Prints each projection found; on errors prints FILE:LINE:COL: message, the line and a\n"
      "caret, and exits 1.");

  TestArgs& t = c->test_args;
  c->test =
      app->add_subcommand("test", "replay events locally and print the view, or run golden cases");
  Positional(c->test, "FILE", &t.path, "a .proj file, or a folder of golden cases (DIR)");
  c->test
      ->add_option("--events", t.events,
                   "the events, one per line: a bare event, or {topic, partition,\n"
                   "timestamp, key, value}")
      ->type_name("EVENTS.jsonl");
  c->test->add_option("--view", t.view, "only the projection of this name")->type_name("NAME");
  c->test
      ->add_option("--expect", t.expect,
                   "print the differences from this view instead; exit 1 if any")
      ->type_name("EXPECTED.json");
  c->test->add_option("--schema", t.schema, kSchemaHelp)->type_name("WRITER.avsc");
  c->test->add_flag("--checksum", t.checksum,
                    "print the canonical digest of the rows (what projd's checksum of the\n"
                    "view gives after the same events) instead of the view");
  c->test->footer(
      "FILE (needs --events) prints the view as JSON, keys sorted: {key: row}, or\n"
      "{view: {key: row}} for several projections; dead letters go to stderr. A DIR holds cases\n"
      "NAME.proj + NAME.jsonl + NAME.expected.json [+ NAME.dead], or NAME.proj + NAME.errors;\n"
      "it prints PASS or FAIL per case and exits 0 only when every case passes.");

  c->diff = app->add_subcommand(
      "diff", "replay events through two definitions and print the rows that differ");
  Positional(c->diff, "OLD.proj", &c->diff_old, "the current definition");
  Positional(c->diff, "NEW.proj", &c->diff_new, "the changed definition");
  c->diff->add_option("--events", c->diff_events, "the events to replay")
      ->required()
      ->type_name("EVENTS.jsonl");
  c->diff->add_option("--view", c->diff_view, "the projection to compare (default: the first)")
      ->type_name("NAME");
  c->diff->add_option("--schema", c->diff_schema, kSchemaHelp)->type_name("WRITER.avsc");
  for (CLI::App* sub : {c->test, c->diff}) {
    sub->add_option("--max-event-bytes", c->max_event_bytes,
                    "larger events are event errors, as with projd's flag (default 1048576)")
        ->type_name("N")
        ->check(CLI::Range(int64_t{1}, int64_t{1} << 30));
  }
  c->diff->footer(
      "Prints added (+), removed (-) and changed (~ key.field: old -> new) rows and a summary;\n"
      "exits 1 when any row or the number of dead letters differs.");

  c->explain = app->add_subcommand("explain", "the events that made a row, and what each one did");
  Positional(c->explain, "VIEW", &c->explain_view, "the view (offline: the projection's name)");
  Positional(c->explain, "KEY", &c->explain_key, "the row's key");
  CLI::Option* events =
      c->explain->add_option("--events", c->explain_events, "replay these events offline")
          ->type_name("EVENTS.jsonl");
  CLI::Option* file =
      c->explain
          ->add_option("--file", c->explain_file, "offline: the definition to replay them with")
          ->type_name("F.proj");
  CLI::Option* schema =
      c->explain->add_option("--schema", c->explain_schema, kSchemaHelp)->type_name("WRITER.avsc");
  c->explain
      ->add_option(
          "--max-event-bytes", c->max_event_bytes,
          "offline: larger events are event errors, as with projd's flag (default 1048576)")
      ->type_name("N")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 30));
  events->needs(file);
  file->needs(events);
  schema->needs(events);
  c->explain->footer(
      "Offline (--events and --file), each event that changed the row: its position, time and\n"
      "id, every statement it ran with its result, and the row after it. Without --events and\n"
      "--file, the row's kept versions from projd at --server (the view needs history): each\n"
      "with its event's position, time and id and the row after it, but not the statements,\n"
      "which only the offline mode shows. Exit 1 when no event changed the row.");
}

// The subcommands that talk to a running projd.
void AddServerCommands(CLI::App* app, CommandLine* c) {
  c->status = app->add_subcommand("status", "the views: state, rows, lag, events/s");
  AddJsonFlag(c->status, &c->status_json, "print the JSON answer (GET /v1/views), not a table");

  c->get = app->add_subcommand("get", "a row, as JSON");
  Positional(c->get, "VIEW", &c->get_view, "the view");
  Positional(c->get, "KEY", &c->get_key, "the row's key");
  c->get
      ->add_option("--as-of", c->get_as_of,
                   "the row as it was at this event time, RFC 3339 (the view must keep\n"
                   "history)")
      ->type_name("T");
  AddJsonFlag(c->get, &c->get_json, "print the JSON answer (what get prints)");

  c->history = app->add_subcommand(
      "history", "a row's kept versions, oldest first, as JSON (or CSV with --csv)");
  Positional(c->history, "VIEW", &c->history_view, "the view (it must keep history)");
  Positional(c->history, "KEY", &c->history_key, "the row's key");
  AddPagingFlags(c->history, &c->history_paging,
                 "versions per page (default 1000, the most projd gives)");
  AddJsonFlag(c->history, &c->history_json, "print the JSON answer (what history prints)");
  c->history
      ->add_flag("--csv", c->history_csv,
                 "print every version as CSV for auditors (what projd answers to\n"
                 "?format=csv; --limit caps the versions)")
      ->excludes("--json")
      ->excludes("--cursor")
      ->excludes("--all");

  c->query = app->add_subcommand("query", "run a query: a table, or the JSON answer");
  c->query
      ->add_option("QUERY", c->query_words,
                   "'from VIEW [where ...] [select ...] [order by ...] [limit N]'; several\n"
                   "words are joined with spaces")
      ->required()
      ->type_name("");
  AddJsonFlag(c->query, &c->query_json, "print the JSON answer instead of a table");
  AddPagingFlags(c->query, &c->query_paging,
                 "rows per page, as a limit clause after the query (which then must\n"
                 "have none; default 100)");

  c->rebuild =
      app->add_subcommand("rebuild", "rebuild a view from offset 0 while it serves, then swap");
  Positional(c->rebuild, "VIEW", &c->rebuild_view, "the view");
  c->rebuild->add_flag("--wait", c->rebuild_wait,
                       "show the progress until the rebuilt view serves; exit 1 with\n"
                       "the reason when the rebuild cannot get there (stopped at a bad\n"
                       "event, stalled, or ended without the swap)");

  c->dead = app->add_subcommand("dead-letters", "a view's dead letters, as JSON");
  Positional(c->dead, "VIEW", &c->dead_view, "the view");
  AddPagingFlags(c->dead, &c->dead_paging, "dead letters per page (default 100, at most 1000)");
  AddJsonFlag(c->dead, &c->dead_json, "print the JSON answer (what dead-letters prints)");

  c->skip = app->add_subcommand("skip",
                                "move a view stopped by 'errors stop' past the event it failed on");
  Positional(c->skip, "VIEW", &c->skip_view, "the view");

  c->drop =
      app->add_subcommand("drop", "delete the kept data of a view whose projection was removed");
  Positional(c->drop, "VIEW", &c->drop_view, "the view");

  c->checksum = app->add_subcommand(
      "checksum",
      "a digest of the view's rows (stdout; as projctl test --checksum prints a local\n"
      "replay's), with the position and rows it was taken at (stderr)");
  Positional(c->checksum, "VIEW", &c->checksum_view, "the view");
  AddJsonFlag(c->checksum, &c->checksum_json,
              "print the JSON answer (digest, position, rows, definition hash)");

  c->snapshot = app->add_subcommand(
      "snapshot", "write a consistent copy of the view's store to a file (admin)");
  Positional(c->snapshot, "VIEW", &c->snapshot_view, "the view");
  c->snapshot->add_option("-o,--output", c->snapshot_out, "the file to write")
      ->required()
      ->type_name("FILE");

  for (CLI::App* sub : {c->status, c->get, c->history, c->query, c->rebuild, c->dead, c->skip,
                        c->drop, c->checksum, c->snapshot}) {
    sub->footer(
        "Talks to projd at --server (see projctl --help); every flag, the global ones\n"
        "too, may come before or after the subcommand.");
  }
}

// watch: a view's changes, followed (cmd/projctl_watch.cc); trace: one command's changes.
void AddWatchCommand(CLI::App* app, CommandLine* c) {
  c->trace = app->add_subcommand(
      "trace", "every change that events of one command made, across the views, in apply order");
  Positional(c->trace, "ID", &c->trace_id,
             "the correlation id (what the projections' correlation clause computes)");
  AddJsonFlag(c->trace, &c->trace_json,
              "print the changes as a JSON array (one page: the answer, with next_cursor)");
  AddPagingFlags(c->trace, &c->trace_paging,
                 "changes per page (default 1000, at most 1000); with --limit or --cursor\n"
                 "and without --all, one page");
  c->trace->footer("Without --limit and --cursor, every page (as --all).");
  c->watch = app->add_subcommand("watch", "follow a view's changes: NDJSON lines on stdout");
  Positional(c->watch, "VIEW", &c->watch_view, "the view");
  c->watch
      ->add_option("--from", c->watch_from,
                   "start after this position (a change's or heartbeat's), or now\n"
                   "(default) or earliest")
      ->type_name("P");
  c->watch->add_option("--where", c->watch_where, "only changes whose row matches this expression")
      ->type_name("EXPR");
  c->watch->add_option("--key", c->watch_key, "only the changes of this row")->type_name("K");
  c->watch->footer(
      "Prints each change as projd sends it, one JSON line (key, position, row: null when\n"
      "deleted, updated_by, version), until Ctrl-C or SIGTERM (exit 0). After a dropped\n"
      "connection, a projd restart or a slow-consumer cut-off it reconnects from the last\n"
      "position seen (0.2 s doubling to 5 s; a line on stderr each time): each change once.\n"
      "Exit 1: an error from projd (bad --from or --where, unknown view, 410: the changes are\n"
      "no longer kept) or no projd to reach at the start; exit 3: the view was rebuilt with a\n"
      "changed definition (the rebuilt line on stderr). Talks to projd at --server.");
}

// restore: offline, on the data folder of a stopped projd.
void AddRestoreCommand(CLI::App* app, CommandLine* c) {
  c->restore = app->add_subcommand(
      "restore", "install a snapshot as a view's store in a stopped projd's data folder");
  c->restore->add_option("--data", c->restore_data, "projd's data folder (projd must be stopped)")
      ->required()
      ->type_name("DIR");
  Positional(c->restore, "VIEW", &c->restore_view, "the view");
  Positional(c->restore, "FILE", &c->restore_file, "a file written by projctl snapshot");
  c->restore->footer(
      "Writes DIR/views/VIEW/gen-N (the next generation) and points CURRENT at it; projd then\n"
      "resumes the view from the snapshot's offsets. Refused while a projd holds DIR/LOCK. At\n"
      "its next start projd refuses (exit 1) a snapshot of another definition than the .proj's.");
}

// projctl help [SUBCOMMAND]: the usage on stdout.
int Help(const CLI::App& app, const std::string& topic) {
  if (topic.empty()) {
    std::cout << app.help();
    return 0;
  }
  for (const CLI::App* sub : app.get_subcommands({})) {
    if (sub->get_name() == topic) {
      std::cout << sub->help("projctl");
      return 0;
    }
  }
  return UsageError("projctl help", "no subcommand '" + topic + "'");
}

// Runs the subcommand that talks to projd: the server is --server, else $PROJD_SERVER, else the
// default; the token likewise.
int RunServerCommand(const CommandLine& c) {
  Server server;
  if (c.server_flag->count() > 0) {
    ParseServer(c.server_url, &server);
  } else if (const char* env = std::getenv("PROJD_SERVER"); env && *env) {
    if (!ParseServer(env, &server)) {
      return UsageError(
          "projctl", std::string("$PROJD_SERVER '") + env + "' is not an http://HOST:PORT address");
    }
  }
  server.timeout_ms = static_cast<int>(std::lround(c.timeout_s * 1000));
  if (c.token_flag->count() > 0) {
    server.token = c.token;
  } else if (const char* env = std::getenv("PROJD_TOKEN")) {
    server.token = env;
  }
  auto view_path = [](const std::string& view) {
    return "/v1/views/" + projd::PercentEncode(view);
  };
  auto row_path = [&](const std::string& view, const std::string& key) {
    return view_path(view) + "/rows/" + projd::PercentEncode(key);
  };
  if (c.explain->parsed()) return ExplainOnline(server, c.explain_view, c.explain_key);
  if (c.status->parsed()) return Status(server, c.status_json);
  if (c.get->parsed()) {
    std::string target = row_path(c.get_view, c.get_key);
    if (c.get->count("--as-of") > 0) target += "?as_of=" + projd::PercentEncode(c.get_as_of);
    return PrintCall(server, "GET", target);
  }
  if (c.history->parsed() && c.history_csv) {
    return HistoryCsvCommand(server, row_path(c.history_view, c.history_key) + "/history",
                             c.history_paging.limit);
  }
  if (c.history->parsed()) {
    return PagedCommand(server, row_path(c.history_view, c.history_key) + "/history", "versions",
                        1000, c.history_paging);
  }
  if (c.query->parsed()) {
    std::string text;
    for (const auto& w : c.query_words) text += (text.empty() ? "" : " ") + w;
    return QueryCommand(server, text, c.query_json, c.query_paging);
  }
  if (c.rebuild->parsed()) return Rebuild(server, c.rebuild_view, c.rebuild_wait);
  if (c.dead->parsed()) {
    return PagedCommand(server, view_path(c.dead_view) + "/dead-letters", "dead_letters",
                        c.dead_paging.all ? 1000 : 0, c.dead_paging);
  }
  if (c.skip->parsed()) return PrintCall(server, "POST", view_path(c.skip_view) + "/skip");
  if (c.drop->parsed()) return PrintCall(server, "DELETE", view_path(c.drop_view));
  if (c.checksum->parsed()) return ChecksumCommand(server, c.checksum_view, c.checksum_json);
  if (c.snapshot->parsed()) return SnapshotCommand(server, c.snapshot_view, c.snapshot_out);
  if (c.trace->parsed()) return TraceCommand(server, c.trace_id, c.trace_json, c.trace_paging);
  if (c.watch->parsed()) {
    std::vector<std::pair<std::string, std::string>> filters;
    if (c.watch->count("--where") > 0) filters.emplace_back("where", c.watch_where);
    if (c.watch->count("--key") > 0) filters.emplace_back("key", c.watch_key);
    return projctl::Watch(server.host, server.port, server.token, c.watch_view, c.watch_from,
                          filters, server.timeout_ms);
  }
  return UsageError("projctl", "no subcommand");
}

// SPEC §14: a subcommand's flags may also come before it (projctl --json status). CLI11 only
// passes flags from a subcommand up to projctl's, so the flags before the subcommand that are
// not projctl's own (--server, --token, --timeout, --help, --version) move to just after it,
// each with its value when it takes one. `args`: the command line without the program's name.
// Nothing moves when what stands before the subcommand is not a flag (an unknown subcommand,
// a stray word: CLI11 then says so) or after "--".
std::vector<std::string> SubcommandFlagsAfterIt(const CLI::App& app,
                                                const std::vector<std::string>& args) {
  // Whether the flag named `arg` (--name or -n, without =VALUE) takes a value: as projctl's
  // own, else as any subcommand's (a name means the same in every subcommand that has it).
  auto find = [&app](const std::string& arg, bool* global) -> const CLI::Option* {
    bool is_long = arg.rfind("--", 0) == 0;
    std::string name = arg.substr(is_long ? 2 : 1);
    auto named = [&](const CLI::Option* o) {
      const auto& names = is_long ? o->get_lnames() : o->get_snames();
      return std::find(names.begin(), names.end(), name) != names.end();
    };
    for (const CLI::Option* o : app.get_options()) {
      if (named(o)) {
        *global = true;
        return o;
      }
    }
    *global = false;
    for (const CLI::App* sub : app.get_subcommands({})) {
      for (const CLI::Option* o : sub->get_options()) {
        if (named(o)) return o;
      }
    }
    return nullptr;
  };
  std::vector<std::string> before, moved;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--" || arg.size() < 2 || arg[0] != '-') {
      bool is_sub = false;
      for (const CLI::App* sub : app.get_subcommands({})) is_sub = is_sub || sub->check_name(arg);
      if (!is_sub || moved.empty()) return args;
      std::vector<std::string> out = before;
      out.push_back(arg);
      out.insert(out.end(), moved.begin(), moved.end());
      out.insert(out.end(), args.begin() + static_cast<long>(i) + 1, args.end());
      return out;
    }
    size_t eq = arg.find('=');
    bool global = false;
    const CLI::Option* o = find(arg.substr(0, eq), &global);
    std::vector<std::string>& to = global ? before : moved;
    to.push_back(arg);
    bool has_value = eq != std::string::npos || (arg[1] != '-' && arg.size() > 2);
    if (o && !has_value && o->get_items_expected_min() > 0 && i + 1 < args.size()) {
      to.push_back(args[++i]);
    }
  }
  return args;
}

int Main(int argc, char** argv) {
  CLI::App app("projctl " PROJD_VERSION
               ": checks and tests projections locally, and operates a running projd.",
               "projctl");
  app.get_formatter()->column_width(26);
  app.set_help_flag("-h,--help", "print this help and exit");
  app.set_version_flag("--version", "projctl " PROJD_VERSION, "print the version and exit");
  app.require_subcommand(1);
  app.fallthrough();  // global flags may also follow the subcommand
  app.failure_message(FailureMessage);
  app.footer(
      "Exit codes: 0 done, 1 a failure (an error in a file, a difference, an error from projd),\n"
      "2 a usage error. 'projctl SUBCOMMAND --help' describes each subcommand; every flag may\n"
      "come before or after the subcommand.");
  CommandLine c;
  AddServerFlags(&app, &c);
  AddOfflineCommands(&app, &c);
  AddServerCommands(&app, &c);
  AddWatchCommand(&app, &c);
  AddRestoreCommand(&app, &c);
  c.help = app.add_subcommand("help", "print this help, or a subcommand's");
  c.help->add_option("SUBCOMMAND", c.help_topic, "the subcommand")->type_name("");

  // --help and --version end CLI11's parsing where they stand: a flag that neither projctl
  // nor any subcommand has, beside them, is still a usage error.
  if (std::string flag = projd_cmd::UnknownFlagBesideHelp(app, argc, argv); !flag.empty()) {
    return UsageError("projctl", "unknown flag '" + flag + "'");
  }
  try {
    std::vector<std::string> args(argv + 1, argv + argc);
    args = SubcommandFlagsAfterIt(app, args);
    std::reverse(args.begin(), args.end());  // CLI11 takes them last first
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    // Without a subcommand CLI11 says only that one is required: name what stood there.
    std::vector<std::string> rest = app.remaining();
    if (e.get_exit_code() != 0 && app.get_subcommands().empty() && !rest.empty()) {
      bool flag = rest.front().rfind('-', 0) == 0;
      return UsageError("projctl",
                        (flag ? "unknown flag '" : "unknown subcommand '") + rest.front() + "'");
    }
    // Help and version exit 0 (on stdout); any other parse error is a usage error.
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (c.help->parsed()) return Help(app, c.help_topic);
  projd::SetReplayMaxEventBytes(c.max_event_bytes);
  if (c.check->parsed()) return Check(c.check_files);
  if (c.test->parsed()) return Test(c.test_args);
  if (c.restore->parsed()) return Restore(c.restore_data, c.restore_view, c.restore_file);
  if (c.diff->parsed()) {
    return Diff(c.diff_old, c.diff_new, c.diff_events, c.diff_view, c.diff_schema);
  }
  if (c.explain->parsed() && !c.explain_events.empty()) {
    return ExplainOffline(c.explain_view, c.explain_key, c.explain_events, c.explain_file,
                          c.explain_schema);
  }
  return RunServerCommand(c);
}

}  // namespace
}  // namespace projctl

int main(int argc, char** argv) {
  try {
    return projctl::Main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "projctl: " << e.what() << "\n";
    return 1;
  }
}
