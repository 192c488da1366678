// What projctl's files share: the helpers of every command, and the commands projctl_main.cc
// (the command line, on CLI11) runs, by the file that holds them:
//   projctl_common.cc    usage errors, the server address
//   projctl_local.cc     check, test, diff and explain offline: files and events, no projd
//   projctl_server.cc    the commands that talk to a running projd (status, get, history,
//                        query, trace, explain, rebuild, dead-letters, skip, drop, checksum)
//   projctl_snapshot.cc  the commands that move a whole file: history --csv, snapshot, restore
//   projctl_watch.cc     watch (projctl_watch.h)
#ifndef PROJD_CMD_PROJCTL_COMMON_H_
#define PROJD_CMD_PROJCTL_COMMON_H_

#include <cstdint>
#include <string>
#include <vector>

namespace projctl {

// ---- Shared (projctl_common.cc) ------------------------------------------------------------

// Reports a usage error of `command` (e.g. "projctl test") on stderr; returns exit code 2.
int UsageError(const std::string& command, const std::string& message);

struct Server {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  std::string token;
  // --timeout: how long one request may take, from connecting to the answer's end (a streamed
  // answer: to each piece of it).
  int timeout_ms = 30000;
};

bool ParseServer(const std::string& url, Server* s);

// The paging flags of history, dead-letters and query.
struct Paging {
  int limit = 0;       // rows per page; 0: the command's default
  std::string cursor;  // start after this next_cursor of an earlier answer
  bool all = false;    // follow next_cursor until the end
};

// ---- Offline (projctl_local.cc) ------------------------------------------------------------

int Check(const std::vector<std::string>& files);

// The arguments of projctl test.
struct TestArgs {
  std::string path;       // a .proj file, or a folder of golden cases
  std::string events;     // EVENTS.jsonl (FILE only)
  std::string view;       // only this projection of FILE
  std::string expect;     // compare with this view instead of printing it
  std::string schema;     // the writer schema of format avro events given as JSON
  bool checksum = false;  // print the rows' canonical digest instead of the view
};

int Test(const TestArgs& args);

// projctl diff OLD.proj NEW.proj --events EVENTS.jsonl [--view NAME]
// `schema`: the writer schema file of format avro events given as JSON (as projctl test's).
int Diff(const std::string& old_path, const std::string& new_path, const std::string& events,
         const std::string& view, const std::string& schema);

// projctl explain VIEW KEY --events EVENTS.jsonl --file F.proj (offline): each event that
// changed the row, the statements it ran, and the row after it.
int ExplainOffline(const std::string& view, const std::string& key, const std::string& events,
                   const std::string& file, const std::string& schema);

// ---- Against a running projd (projctl_server.cc) -------------------------------------------

// The views table, or with `json` the answer of GET /v1/views.
int Status(const Server& s, bool json);

int PrintCall(const Server& s, const std::string& method, const std::string& target);

// history and dead-letters: the pages as JSON. `default_limit` is the page size without
// --limit (0: the server's default).
int PagedCommand(const Server& s, const std::string& path, const char* items, int default_limit,
                 const Paging& paging);

// Prints query answers as a table: one column per field (whole rows: key, then the row's
// fields; select items in the order of the answer's "columns" when it lists them), cells in
// JSON form, strings bare. --limit is sent as a limit clause on a line after the query's text.
int QueryCommand(const Server& s, const std::string& query, bool json, const Paging& paging);

// projctl trace ID: every change events of one command made, across the views, as a table
// (or the JSON answers' changes with --json), following next_cursor to the end.
int TraceCommand(const Server& s, const std::string& id, bool json, const Paging& paging);

// projctl explain VIEW KEY against a running projd: the row's kept versions (needs history),
// each with the event that made it and the row after it.
int ExplainOnline(const Server& s, const std::string& view, const std::string& key);

int Rebuild(const Server& s, const std::string& view, bool wait);

// projctl checksum VIEW: a line with the digest, position and rows, or the JSON answer.
int ChecksumCommand(const Server& s, const std::string& view, bool json);

// ---- Whole files (projctl_snapshot.cc) -----------------------------------------------------

// projctl history VIEW KEY --csv: the CSV projd writes (?format=csv), as it comes, on stdout.
int HistoryCsvCommand(const Server& s, const std::string& path, int limit);

// projctl snapshot VIEW -o FILE: the view's store, as projd streams it, into FILE.
int SnapshotCommand(const Server& s, const std::string& view, const std::string& out);

// projctl restore --data DIR VIEW FILE: installs a snapshot as the view's next generation in
// the data folder of a stopped projd, which then resumes from the snapshot's offsets.
int Restore(const std::string& data, const std::string& view, const std::string& file);

}  // namespace projctl

#endif  // PROJD_CMD_PROJCTL_COMMON_H_
