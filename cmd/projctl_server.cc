// projctl's commands that talk to a running projd over its HTTP API: status, get, history and
// dead-letters (paged), query, trace, explain, rebuild, skip, drop and checksum (see
// projctl_common.h).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "api/http_server.h"
#include "cmd/projctl_common.h"
#include "dsl/ast.h"
#include "dsl/parser.h"
#include "dsl/value.h"

namespace projctl {
namespace {

using projd::Value;

// Performs a request; prints errors. Returns the status (0 when the server is unreachable).
int Call(const Server& s, const std::string& method, const std::string& target, Value* body,
         const std::string& payload = "") {
  std::vector<std::pair<std::string, std::string>> headers;
  if (!s.token.empty()) headers.emplace_back("Authorization", "Bearer " + s.token);
  projd::HttpClientResult r;
  std::string error;
  if (!projd::HttpCall(s.host, s.port, method, target, headers, payload,
                       std::chrono::milliseconds(s.timeout_ms), &r, &error)) {
    std::cerr << "projctl: cannot reach projd at " << s.host << ":" << s.port << ": " << error
              << (error.find("timed out") != std::string::npos
                      ? " (--timeout SECONDS sets the limit)"
                      : "")
              << "\n";
    return 0;
  }
  std::string perr;
  if (!projd::ParseJson(r.body, body, &perr)) *body = Value::String(r.body);
  if (r.status >= 400) {
    std::string msg = body->is_object() && body->as_object().Find("error") &&
                              body->as_object().Find("error")->is_string()
                          ? body->as_object().Find("error")->as_string()
                          : r.body;
    std::string detail;
    if (body->is_object()) {
      const Value* d = body->as_object().Find("detail");
      // A detail with a formatted "text" (query errors) is printed by the caller instead.
      if (d && !d->is_null() && !(d->is_object() && d->as_object().Find("text"))) {
        detail = d->is_string() ? d->as_string() : projd::ToJson(*d);
      }
    }
    std::cerr << "projctl: " << r.status << " " << msg << (detail.empty() ? "" : ": " + detail)
              << "\n";
  }
  return r.status;
}

std::string Field(const Value& o, const char* name) {
  const Value* v = o.as_object().Find(name);
  if (!v || v->is_null()) return "-";
  if (v->is_string()) return v->as_string();
  return projd::ToJson(*v);
}

void PrintJson(const Value& v) {
  std::string out;
  projd::WritePrettyJson(v, &out);
  std::cout << out << "\n";
}

// Calls `target` for one page, from paging.cursor when given; with paging.all, for every
// following page as well, each page's `items` array appended to the first answer's (whose
// next_cursor then is null) and its `sum` number, when named, added up. The answer is in
// *answer. Returns the HTTP status of the failed call (0: unreachable), else 200.
int FetchPages(const Server& s, const std::string& method, const std::string& target,
               const std::string& payload, const char* items, const char* sum, const Paging& paging,
               Value* answer) {
  std::string cursor = paging.cursor;
  bool first = true;
  while (true) {
    std::string page_target = target;
    if (!cursor.empty()) {
      page_target += (target.find('?') == std::string::npos ? "?cursor=" : "&cursor=") +
                     projd::PercentEncode(cursor);
    }
    Value page;
    int st = Call(s, method, page_target, &page, payload);
    if (st != 200 || !page.is_object()) {
      *answer = std::move(page);
      return st;
    }
    if (first) {
      *answer = std::move(page);
      first = false;
    } else {
      projd::Object& whole = answer->as_object();
      projd::Object& part = page.as_object();
      Value* from = part.Find(items);
      Value* to = whole.Find(items);
      if (from && to && from->is_array() && to->is_array()) {
        for (auto& v : from->as_array()) to->as_array().push_back(std::move(v));
      }
      if (sum) {
        const Value* a = whole.Find(sum);
        const Value* b = part.Find(sum);
        projd::Decimal total;
        if (a && b && a->is_number() && b->is_number() &&
            projd::Decimal::Add(a->as_number(), b->as_number(), &total)) {
          whole.Set(sum, Value::Number(total));
        }
      }
      const Value* next = part.Find("next_cursor");
      whole.Set("next_cursor", next ? *next : Value());
    }
    const Value* next = answer->as_object().Find("next_cursor");
    if (!paging.all || !next || !next->is_string()) return 200;
    if (next->as_string() == cursor) {
      std::cerr << "projctl: the server answered the same next_cursor twice; stopping\n";
      return 0;
    }
    cursor = next->as_string();
  }
}

double NumberOf(const Value* v) {
  if (!v || !v->is_number()) return 0;
  return std::strtod(v->as_number().ToString().c_str(), nullptr);  // display only
}

}  // namespace

// The views table, or with `json` the answer of GET /v1/views.
int Status(const Server& s, bool json) {
  Value body;
  int st = Call(s, "GET", "/v1/views", &body);
  if (st != 200) return 1;
  if (json) {
    PrintJson(body);
    return 0;
  }
  const Value* views = body.as_object().Find("views");
  printf("%-28s %-12s %12s %12s %10s %12s  %s\n", "VIEW", "STATE", "ROWS", "LAG", "LAG_S",
         "EVENTS/S", "REASON");
  for (const auto& v : views->as_array()) {
    printf("%-28s %-12s %12s %12s %10s %12s  %s\n", Field(v, "name").c_str(),
           Field(v, "state").c_str(), Field(v, "rows").c_str(), Field(v, "lag_events").c_str(),
           Field(v, "lag_seconds").c_str(), Field(v, "events_per_second").c_str(),
           Field(v, "reason") == "-" ? "" : Field(v, "reason").c_str());
  }
  return 0;
}

int PrintCall(const Server& s, const std::string& method, const std::string& target) {
  Value body;
  int st = Call(s, method, target, &body);
  if (st == 0 || st >= 400) return 1;
  PrintJson(body);
  return 0;
}

// history and dead-letters: the pages as JSON. `default_limit` is the page size without
// --limit (0: the server's default).
int PagedCommand(const Server& s, const std::string& path, const char* items, int default_limit,
                 const Paging& paging) {
  int limit = paging.limit > 0 ? paging.limit : default_limit;
  std::string target = path + (limit > 0 ? "?limit=" + std::to_string(limit) : "");
  Value answer;
  if (FetchPages(s, "GET", target, "", items, nullptr, paging, &answer) != 200) return 1;
  PrintJson(answer);
  return 0;
}

// Prints query answers as a table: one column per field (whole rows: key, then the row's
// fields; select items in the order of the answer's "columns" when it lists them), cells in
// JSON form, strings bare. --limit is sent as a limit clause on a line after the query's text.
int QueryCommand(const Server& s, const std::string& query, bool json, const Paging& paging) {
  std::string text = query;
  if (paging.limit > 0) {
    // A query with a limit clause of its own is refused before it is sent (one that does not
    // parse goes to the server, which says where).
    projd::ast::Query parsed;
    projd::dsl::ParseError perr;
    if (projd::dsl::ParseQuery(query, &parsed, &perr)) {
      for (const auto& c : parsed.clauses) {
        if (c.kind == "limit") {
          return UsageError("projctl query",
                            "--limit and the query's limit clause both set the "
                            "page size; give one of them");
        }
      }
    }
    text += "\nlimit " + std::to_string(paging.limit);
  }
  Value body;
  int st = FetchPages(s, "POST", "/v1/query", text, "rows", "scanned", paging, &body);
  if (st != 200) {
    const Value* d = body.is_object() ? body.as_object().Find("detail") : nullptr;
    if (st < 400 || !d || !d->is_object()) return 1;
    const Value* line = d->as_object().Find("line");
    int64_t query_lines = std::count(query.begin(), query.end(), '\n') + 1;
    if (paging.limit > 0 && line && line->is_number() &&
        line->as_number().ToString() == std::to_string(query_lines + 1)) {
      // The error is about the clause --limit added: the query has a limit clause of its own.
      return UsageError("projctl query",
                        "--limit and the query's limit clause both set the "
                        "page size; give one of them");
    }
    if (const Value* t = d->as_object().Find("text"); t && t->is_string()) {
      std::cerr << t->as_string();
    }
    return 1;
  }
  if (json) {
    PrintJson(body);
    return 0;
  }
  std::vector<std::string> columns;
  if (const Value* c = body.as_object().Find("columns"); c && c->is_array()) {
    for (const auto& name : c->as_array()) {
      if (name.is_string()) columns.push_back(name.as_string());
    }
  }
  std::vector<std::map<std::string, std::string>> table;
  auto cell = [](const Value& v) { return v.is_string() ? v.as_string() : projd::ToJson(v); };
  for (const auto& r : body.as_object().Find("rows")->as_array()) {
    std::map<std::string, std::string> line;
    auto add = [&](const std::string& col, const Value& v) {
      if (std::find(columns.begin(), columns.end(), col) == columns.end()) {
        columns.push_back(col);
      }
      line[col] = cell(v);
    };
    const projd::Object& o = r.as_object();
    const Value* row = o.Find("row");
    if (row && row->is_object() && o.Find("key") && o.size() == 2) {
      add("key", *o.Find("key"));
      for (const auto& [f, v] : row->as_object().members()) add(f, v);
    } else {
      for (const auto& [f, v] : o.members()) add(f, v);
    }
    table.push_back(std::move(line));
  }
  std::vector<size_t> width;
  for (const auto& c : columns) {
    size_t w = c.size();
    for (const auto& line : table) {
      auto it = line.find(c);
      if (it != line.end()) w = std::max(w, it->second.size());
    }
    width.push_back(std::min<size_t>(w, 40));
  }
  auto print_line = [&](const std::function<std::string(const std::string&)>& get) {
    std::string out;
    for (size_t i = 0; i < columns.size(); ++i) {
      std::string v = get(columns[i]);
      if (v.size() > width[i]) v = v.substr(0, width[i] - 1) + "~";
      out += v + std::string(width[i] - v.size() + 2, ' ');
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    std::cout << out << "\n";
  };
  print_line([](const std::string& c) { return c; });
  for (const auto& line : table) {
    print_line([&](const std::string& c) {
      auto it = line.find(c);
      return it == line.end() ? std::string() : it->second;
    });
  }
  std::cout << "(" << table.size() << (table.size() == 1 ? " row" : " rows") << ", scanned "
            << cell(*body.as_object().Find("scanned")) << ", plan "
            << cell(*body.as_object().Find("plan")) << ")\n";
  if (const Value* nc = body.as_object().Find("next_cursor"); nc && nc->is_string()) {
    std::cout << "more rows: --cursor " << nc->as_string() << " for the next page, --all for all\n";
  }
  return 0;
}

// projctl trace ID: every change events of one command made, across the views, as a table
// (or the JSON answers' changes with --json), following next_cursor to the end.
int TraceCommand(const Server& s, const std::string& id, bool json, const Paging& paging) {
  // --limit or --cursor without --all asks for one page; otherwise every page is fetched.
  bool one_page = !paging.all && (paging.limit > 0 || !paging.cursor.empty());
  Paging pages = paging;
  pages.all = !one_page;
  int limit = paging.limit > 0 ? paging.limit : 1000;
  Value answer;
  if (FetchPages(s, "GET",
                 "/v1/correlations/" + projd::PercentEncode(id) + "?limit=" + std::to_string(limit),
                 "", "changes", nullptr, pages, &answer) != 200) {
    return 1;
  }
  if (json && one_page) {
    PrintJson(answer);
    return 0;
  }
  const Value* next = answer.as_object().Find("next_cursor");
  std::string next_cursor = next && next->is_string() ? next->as_string() : "";
  projd::Array all = std::move(answer.as_object().Find("changes")->as_array());
  if (json) {
    PrintJson(Value::MakeArray(std::move(all)));
    return 0;
  }
  if (all.empty()) {
    std::cout << "no change was made by correlation " << id << "\n";
    return 0;
  }
  printf("%-20s %-24s %7s  %-24s %-28s %s\n", "VIEW", "KEY", "VERSION", "EVENT TIME", "EVENT",
         "EVENT ID");
  for (const auto& c : all) {
    const projd::Object& o = c.as_object();
    const projd::Object& by = o.Find("updated_by")->as_object();
    std::string event = by.Find("topic")->as_string() + ":" + projd::ToJson(*by.Find("partition")) +
                        ":" + projd::ToJson(*by.Find("offset"));
    std::string version =
        o.Find("deleted")->as_bool() ? "deleted" : projd::ToJson(*o.Find("version"));
    const Value* eid = by.Find("event_id");
    printf("%-20s %-24s %7s  %-24s %-28s %s\n", o.Find("view")->as_string().c_str(),
           o.Find("key")->as_string().c_str(), version.c_str(),
           by.Find("event_time")->as_string().c_str(), event.c_str(),
           eid && eid->is_string() ? eid->as_string().c_str() : "-");
  }
  if (!next_cursor.empty()) std::cout << "next page: --cursor " << next_cursor << "\n";
  return 0;
}

// projctl explain VIEW KEY against a running projd: the row's kept versions (needs history),
// each with the event that made it and the row after it.
int ExplainOnline(const Server& s, const std::string& view, const std::string& key) {
  Value body;
  int st = Call(s, "GET",
                "/v1/views/" + projd::PercentEncode(view) + "/rows/" + projd::PercentEncode(key) +
                    "/history?limit=1000",
                &body);
  if (st != 200) return 1;
  const Value* versions = body.is_object() ? body.as_object().Find("versions") : nullptr;
  if (!versions || !versions->is_array() || versions->as_array().empty()) {
    std::cerr << "projctl: no kept version of row " << key << " in view " << view
              << ": no event made it (or its versions are no longer kept)\n";
    return 1;
  }
  for (const auto& v : versions->as_array()) {
    const projd::Object& o = v.as_object();
    const projd::Object& by = o.Find("updated_by")->as_object();
    std::cout
        << by.Find("topic")->as_string() << ":" << projd::ToJson(*by.Find("partition")) << ":"
        << projd::ToJson(*by.Find("offset")) << "  event time "
        << by.Find("event_time")->as_string()
        << (by.Find("event_id")->is_string() ? "  id " + by.Find("event_id")->as_string() : "")
        << (by.Find("correlation") ? "  correlation " + by.Find("correlation")->as_string() : "")
        << (by.Find("audit") ? "  audit " + projd::ToJson(*by.Find("audit")) : "")
        << "\n    row after: "
        << (o.Find("deleted")->as_bool() ? std::string("(deleted)") : projd::ToJson(*o.Find("row")))
        << "\n";
  }
  std::cout << "(the statements each event ran: projctl explain " << view << " " << key
            << " --events EVENTS.jsonl --file F.proj)\n";
  return 0;
}

int Rebuild(const Server& s, const std::string& view, bool wait) {
  Value body;
  int st = Call(s, "POST", "/v1/views/" + projd::PercentEncode(view) + "/rebuild", &body);
  if (st != 202) return 1;
  if (!wait) {
    std::cout << "rebuild of " << view << " started\n";
    return 0;
  }
  bool tty = isatty(fileno(stdout));
  double last_progress = -1;
  // The definition the rebuild builds, once seen: when the rebuild is gone, the view runs it if
  // the swap was made.
  std::string building;
  auto stop = [&](const std::string& why) {
    if (tty && last_progress >= 0) std::cout << "\n" << std::flush;
    std::cerr << "projctl: the rebuild of " << view << " " << why << "\n";
    return 1;
  };
  while (true) {
    Value v;
    st = Call(s, "GET", "/v1/views/" + projd::PercentEncode(view), &v);
    if (st != 200) return 1;
    if (!v.is_object()) return stop("cannot be followed: projd's answer is not a JSON object");
    const projd::Object& o = v.as_object();
    const Value* rb = o.Find("rebuild");
    std::string hash = Field(v, "definition_hash");
    if (!rb || rb->is_null()) {
      if (!building.empty() && hash != building) {
        std::string why = "ended without the swap: the view still runs definition " + hash;
        why += ", not the rebuilt " + building + " (projctl status says why)";
        return stop(why);
      }
      std::cout << (tty ? "\r" : "") << "[" << std::string(30, '#') << "] 100.0%  rebuild of "
                << view << " done: the rebuilt view serves now\n";
      return 0;
    }
    if (!rb->is_object()) return stop("cannot be followed: its status is not a JSON object");
    std::string rebuild_hash = Field(*rb, "definition_hash");
    if (building.empty()) {
      building = rebuild_hash;
    } else if (rebuild_hash != building) {
      return stop("was replaced by a rebuild of another definition (" + rebuild_hash +
                  "): the projection changed");
    }
    // A rebuild that cannot go on makes the view failed (stopped at a bad event by errors stop)
    // or stalled, with a reason that starts with "rebuild"; it waits for an operator.
    std::string state = Field(v, "state"), reason = Field(v, "reason");
    if ((state == "failed" || state == "stalled") && reason.rfind("rebuild", 0) == 0) {
      std::string at;
      if (const Value* f = o.Find("failed_at"); f && f->is_object()) {
        at = " (at " + Field(*f, "topic") + ":" + Field(*f, "partition") + ":" +
             Field(*f, "offset") + ")";
      }
      std::string why = "cannot go on; the view is " + state;
      why += at;
      why += ": ";
      why += reason;
      return stop(why);
    }
    double progress = NumberOf(rb->as_object().Find("progress"));
    double rate = NumberOf(rb->as_object().Find("events_per_second"));
    double remaining = NumberOf(rb->as_object().Find("remaining"));
    int filled = static_cast<int>(progress * 30);
    char line[200];
    if (rate > 0) {
      snprintf(line, sizeof(line), "[%s%s] %5.1f%%  %.0f events/s  ETA %.0fs",
               std::string(static_cast<size_t>(filled), '#').c_str(),
               std::string(static_cast<size_t>(30 - filled), '.').c_str(), progress * 100, rate,
               remaining / rate);
    } else {
      snprintf(line, sizeof(line), "[%s%s] %5.1f%%",
               std::string(static_cast<size_t>(filled), '#').c_str(),
               std::string(static_cast<size_t>(30 - filled), '.').c_str(), progress * 100);
    }
    if (tty) {
      std::cout << "\r" << line << "   " << std::flush;
    } else if (progress != last_progress) {
      std::cout << line << "\n" << std::flush;
    }
    last_progress = progress;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

// projctl checksum VIEW: the digest alone on stdout, as projctl test --checksum prints the
// local replay's (so the two compare as they are), and the position and rows it was taken at
// on stderr; or the JSON answer.
int ChecksumCommand(const Server& s, const std::string& view, bool json) {
  Value body;
  int st = Call(s, "GET", "/v1/views/" + projd::PercentEncode(view) + "/checksum", &body);
  if (st != 200 || !body.is_object()) return 1;
  if (json) {
    PrintJson(body);
    return 0;
  }
  std::cout << Field(body, "digest") << "\n";
  std::cerr << "position " << Field(body, "position") << "  rows " << Field(body, "rows") << "\n";
  return 0;
}

}  // namespace projctl
