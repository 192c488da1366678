// Full-text search on a view of N transactions (default 1,000,000), each figure next to SQLite
// FTS5 on the same rows and the same queries in the same run, with the same answers checked.
//
//   text_bench [--events N] [--work DIR] [--proj FILE] [--projd BINARY] [--queries Q]
//              [--group-runs R] [--ingest-rounds R] [--no-changelog-ingest] [--ingest-only]
//              [--reuse] [--engine-only [--profile-class NAME] [--profile-rounds R]]
//
// 1. Generates N transaction events deterministically (fixed seeds): memos of 3-8 words drawn
//    from a Zipf-like vocabulary (about 40 common words such as "payment", "card", "coffee",
//    "berlin" on top, then 2,000 made-up words), some words capitalized or in capitals, and
//    now and then a reference code (a word that occurs about once). ASCII letters and spaces
//    only, so that projd's "simple" analyzer and FTS5's unicode61 tokenizer see the same words.
// 2. Ingest: the daemon's apply path in-process (Projector, ViewStore Stage on this thread and
//    Write on another, batches of 10,000), with bench/text.proj and with the same projection
//    without its `index text` clause, in --ingest-rounds rounds (2) of one run each, the order
//    alternating; without a change log, then with the daemon's default one (--changes-keep
//    1000000). The first indexed store built without a change log becomes the daemon's data
//    folder (DATA/views/txn/gen-1, with the definition's hash, as projd lays it out).
// 3. Loads the same rows into SQLite (one transaction; an FTS5 table with rowid = the row's
//    place in key order, and a plain table for the group-by), then FTS5's 'optimize'.
// 4. Starts the real daemon (build/cmd/projd, its embedded broker: the view is already
//    built) and sends every query over HTTP on loopback on one keep-alive connection; runs
//    the equivalent SQLite statement in this process (no HTTP: the HTTP round trip of a
//    trivial request is measured and printed so it can be subtracted).
// 5. Checks that projd's answers equal SQLite's for every query (keys in key order, counts,
//    groups); exits 1 on any difference. The scored (BM25) top-10s are compared loosely: the
//    two engines' IDFs differ (projd: ln(1 + (N - df + 0.5) / (df + 0.5)), FTS5:
//    ln((N - df + 0.5) / (df + 0.5))), and ties may be cut differently.
//
// --reuse skips 2 and 3 when the work folder holds a complete earlier run with the same
// --events (the answers are still checked); --engine-only skips 4 and runs only the engines
// alone (the last table): both for working on the engine. --profile-class runs only projd's
// engine on the classes whose names start with NAME, R times over, for a profiler.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/apply_path.h"
#include "connectors/source.h"
#include "dsl/compiler.h"
#include "dsl/decimal.h"
#include "dsl/value.h"
#include "engine/projector.h"
#include "engine/query_exec.h"
#include "store/kv.h"
#include "store/view_store.h"

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}
double Millis(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// A small deterministic generator (splitmix64): the same data on every machine and library.
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed) {}
  uint64_t Next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  size_t Below(size_t n) { return static_cast<size_t>(Next() % n); }
};

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// ---- the data ----

struct Txn {
  std::string id, account, memo;
  int64_t cents = 0;
  std::vector<std::string> words;  // the memo's words, lower-cased, in order
};

struct Data {
  std::vector<std::string> vocab;  // by Zipf rank
  std::vector<double> cdf;
  std::vector<std::string> refs;  // reference codes used (each about once)
  std::set<std::string> indexed;  // every distinct (lower-cased) word of the memos
  std::vector<Txn> rows;          // in key order
  std::vector<std::string> events;
};

const char* kCommon[] = {
    "payment", "card",    "transfer",   "online", "store",        "fee",       "coffee",
    "market",  "berlin",  "rent",       "salary", "grocery",      "refund",    "monthly",
    "cash",    "fuel",    "taxi",       "lunch",  "restaurant",   "hotel",     "flight",
    "train",   "paris",   "london",     "munich", "hamburg",      "bakery",    "pharmacy",
    "cinema",  "books",   "parking",    "dinner", "subscription", "insurance", "utility",
    "invoice", "deposit", "withdrawal", "gift",   "bus"};

size_t Zipf(const Data& d, Rng* rng) {
  double u = rng->Uniform();
  size_t i = static_cast<size_t>(std::lower_bound(d.cdf.begin(), d.cdf.end(), u) - d.cdf.begin());
  return std::min(i, d.vocab.size() - 1);
}

std::string MadeUpWord(Rng* rng, int syllables) {
  static const char* kCons = "bcdfghjklmnprstvz";
  static const char* kVow = "aeiou";
  std::string w;
  for (int s = 0; s < syllables; ++s) {
    w += kCons[rng->Below(17)];
    w += kVow[rng->Below(5)];
    if (rng->Below(3) == 0) w += kCons[rng->Below(17)];
  }
  return w;
}

std::string Cased(const std::string& w, Rng* rng) {
  size_t r = rng->Below(100);
  std::string out = w;
  if (r < 15) {
    out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
  } else if (r < 20) {
    for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string Cents(int64_t c) {
  char buf[48];
  int64_t a = c < 0 ? -c : c;
  snprintf(buf, sizeof(buf), "%s%lld.%02lld", c < 0 ? "-" : "", static_cast<long long>(a / 100),
           static_cast<long long>(a % 100));
  return buf;
}

void Generate(size_t n, size_t accounts, Data* d) {
  Rng rng(20261204);
  std::set<std::string> seen;
  for (const char* w : kCommon) {
    d->vocab.push_back(w);
    seen.insert(w);
  }
  while (d->vocab.size() < std::size(kCommon) + 2000) {
    std::string w = MadeUpWord(&rng, 2 + static_cast<int>(rng.Below(2)));
    if (seen.insert(w).second) d->vocab.push_back(w);
  }
  double h = 0;
  for (size_t r = 0; r < d->vocab.size(); ++r) h += 1.0 / static_cast<double>(r + 1);
  double acc = 0;
  for (size_t r = 0; r < d->vocab.size(); ++r) {
    acc += 1.0 / static_cast<double>(r + 1) / h;
    d->cdf.push_back(acc);
  }
  d->rows.resize(n);
  d->events.resize(n);
  for (size_t i = 0; i < n; ++i) {
    Txn& t = d->rows[i];
    char id[32];
    snprintf(id, sizeof(id), "t-%08zu", i + 1);
    t.id = id;
    char acct[32];
    snprintf(acct, sizeof(acct), "acct-%04zu", rng.Below(accounts));
    t.account = acct;
    t.cents = static_cast<int64_t>(rng.Below(100001)) - 50000;
    size_t words = 3 + rng.Below(6);
    for (size_t k = 0; k < words; ++k) {
      std::string w;
      if (k == words - 1 && rng.Below(100) < 3) {
        // A reference code: a word of its own, about once in the whole view.
        w = MadeUpWord(&rng, 4);
        if (seen.insert(w).second) d->refs.push_back(w);
      } else {
        w = d->vocab[Zipf(*d, &rng)];
      }
      if (!t.memo.empty()) t.memo += ' ';
      t.memo += Cased(w, &rng);
      t.words.push_back(w);
      d->indexed.insert(w);
    }
    d->events[i] = R"({"type":"Txn","id":")" + t.id + R"(","account":")" + t.account +
                   R"(","amount":)" + Cents(t.cents) + R"(,"memo":")" + t.memo + "\"}";
  }
}

// ---- ingest: the daemon's apply path ----

std::shared_ptr<const projd::Projection> Compile(const std::string& name, const std::string& text) {
  projd::CompiledFile compiled = projd::CompileFile(name, text);
  if (!compiled.ok()) {
    for (const auto& diag : compiled.diagnostics) std::cerr << diag.Format();
    return nullptr;
  }
  return compiled.projections[0];
}

// Applies `events` into a fresh store in `dir` as the daemon does (change log of `keep`
// changes, 0: none): the projector on this thread, each staged batch written by a second
// thread while the next is applied. With `define`, stores the definition as the daemon does.
bool ApplyPath(const std::shared_ptr<const projd::Projection>& projection,
               const std::vector<std::string>& events, const std::string& dir, uint64_t keep,
               bool define, double* secs) {
  std::string error;
  fs::remove_all(dir);
  fs::create_directories(dir);
  projd::KvOptions ko;
  auto store = projd::ViewStore::Open(dir, ko, &error);
  if (!store) {
    std::cerr << error << "\n";
    return false;
  }
  store->UseIndexesOf(*projection);
  store->SetChangeLog(projection->topics(), keep);
  // Not the projection's topic: the daemon that later serves this store subscribes to
  // "txn-events" on its (empty) embedded broker and finds no stored position there.
  double waited = 0;
  bool written =
      projd_bench::ApplyPipelined(projection, store.get(), events, "txn-load", secs, &waited);
  if (!written) return false;
  if (store->RowCount() != events.size()) {
    std::cerr << "ingest: " << store->RowCount() << " rows, expected " << events.size() << "\n";
    return false;
  }
  if (define && (!store->PutMeta("definition_hash", projection->definition_hash(), &error) ||
                 !store->PutMeta("definition", projection->definition(), &error))) {
    std::cerr << error << "\n";
    return false;
  }
  return true;
}

// ---- HTTP on one keep-alive connection ----

class Http {
 public:
  ~Http() {
    if (fd_ >= 0) close(fd_);
  }
  bool Connect(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return false;
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return true;
  }
  // false when the connection failed; *status and *body otherwise.
  bool Call(const std::string& method, const std::string& target, const std::string& body,
            int* status, std::string* out) {
    std::string req = method + " " + target + " HTTP/1.1\r\nHost: bench\r\n";
    if (!body.empty() || method == "POST") {
      req += "Content-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    }
    req += "\r\n";
    req += body;
    size_t sent = 0;
    while (sent < req.size()) {
      ssize_t n = send(fd_, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    size_t head_end;
    while ((head_end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return false;
    }
    std::string head = Lower(buf_.substr(0, head_end));
    buf_.erase(0, head_end + 4);
    if (head.size() < 12) return false;
    *status = std::atoi(head.c_str() + 9);
    out->clear();
    size_t cl = head.find("\r\ncontent-length:");
    if (cl != std::string::npos) {
      size_t len = std::strtoul(head.c_str() + cl + 17, nullptr, 10);
      while (buf_.size() < len) {
        if (!Fill()) return false;
      }
      out->assign(buf_, 0, len);
      buf_.erase(0, len);
      return true;
    }
    if (head.find("transfer-encoding: chunked") == std::string::npos) return false;
    while (true) {
      size_t crlf;
      while ((crlf = buf_.find("\r\n")) == std::string::npos) {
        if (!Fill()) return false;
      }
      size_t len = std::strtoul(buf_.c_str(), nullptr, 16);
      while (buf_.size() < crlf + 2 + len + 2) {
        if (!Fill()) return false;
      }
      out->append(buf_, crlf + 2, len);
      buf_.erase(0, crlf + 2 + len + 2);
      if (len == 0) return true;
    }
  }

 private:
  bool Fill() {
    char tmp[65536];
    ssize_t n = recv(fd_, tmp, sizeof(tmp), 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }
  int fd_ = -1;
  std::string buf_;
};

// ---- SQLite ----

bool Exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::cerr << "sqlite: " << sql << ": " << (err ? err : "?") << "\n";
    sqlite3_free(err);
    return false;
  }
  return true;
}

struct Stmt {
  sqlite3_stmt* s = nullptr;
  Stmt(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) != SQLITE_OK) {
      std::cerr << "sqlite: " << sql << ": " << sqlite3_errmsg(db) << "\n";
      std::exit(1);
    }
  }
  ~Stmt() { sqlite3_finalize(s); }
};

// Runs `st` with `match` bound to ?1; the first column of each row into *out. false on error.
bool RunMatch(sqlite3* db, Stmt& st, const std::string& match, std::vector<std::string>* out) {
  out->clear();
  sqlite3_reset(st.s);
  sqlite3_bind_text(st.s, 1, match.data(), static_cast<int>(match.size()), SQLITE_TRANSIENT);
  int rc;
  while ((rc = sqlite3_step(st.s)) == SQLITE_ROW) {
    out->emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st.s, 0)),
                      static_cast<size_t>(sqlite3_column_bytes(st.s, 0)));
  }
  if (rc != SQLITE_DONE) {
    std::cerr << "sqlite: MATCH '" << match << "': " << sqlite3_errmsg(db) << "\n";
    return false;
  }
  return true;
}

// ---- FTS5 behind HTTP ----

// FTS5 answering the same queries over the same kind of connection as projd: a minimal HTTP/1.1
// server on loopback, one thread, one keep-alive connection at a time, its own SQLite
// connection to fts.db. A POST's body is "k " (keys in rowid order, limit 20) or "s " (BM25
// top 10) and an FTS5 match expression; the answer is {"rows":[{"key":...},...]}, as projd's
// rows are, with a Content-Length. It parses nothing else: no cheaper server is possible.
class FtsHttpServer {
 public:
  ~FtsHttpServer() { Stop(); }
  bool Start(const std::string& db_path) {
    if (sqlite3_open_v2(db_path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      return false;
    }
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = 0;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(listen_fd_, 4) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return false;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
    return true;
  }
  uint16_t port() const { return port_; }
  void Stop() {
    if (listen_fd_ >= 0) shutdown(listen_fd_, SHUT_RDWR);  // accept returns
    int fd = conn_fd_.load();
    if (fd >= 0) shutdown(fd, SHUT_RDWR);  // recv returns
    if (thread_.joinable()) thread_.join();
    if (listen_fd_ >= 0) close(listen_fd_);
    listen_fd_ = -1;
    if (db_) sqlite3_close(db_);
    db_ = nullptr;
  }

 private:
  static bool Fill(int fd, std::string* buf) {
    char tmp[65536];
    ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
    if (n <= 0) return false;
    buf->append(tmp, static_cast<size_t>(n));
    return true;
  }
  // One request and its answer; false when the connection ends.
  bool Answer(int fd, std::string* buf, Stmt& keys, Stmt& scored) {
    size_t head_end;
    while ((head_end = buf->find("\r\n\r\n")) == std::string::npos) {
      if (!Fill(fd, buf)) return false;
    }
    std::string head = Lower(buf->substr(0, head_end));
    buf->erase(0, head_end + 4);
    size_t cl = head.find("\r\ncontent-length:");
    size_t len = cl == std::string::npos ? 0 : std::strtoul(head.c_str() + cl + 17, nullptr, 10);
    while (buf->size() < len) {
      if (!Fill(fd, buf)) return false;
    }
    std::string body = buf->substr(0, len);
    buf->erase(0, len);
    std::vector<std::string> out;
    int status = 200;
    std::string json = "{\"rows\":[";
    if (body.size() < 2 || !RunMatch(db_, body[0] == 's' ? scored : keys, body.substr(2), &out)) {
      status = 400;
    }
    for (size_t i = 0; i < out.size(); ++i)
      json += (i ? ",{\"key\":\"" : "{\"key\":\"") + out[i] + "\"}";
    json += "]}";
    std::string answer =
        "HTTP/1.1 " + std::to_string(status) + (status == 200 ? " OK" : " Bad Request") +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(json.size()) +
        "\r\n\r\n" + json;
    for (size_t sent = 0; sent < answer.size();) {
      ssize_t n = send(fd, answer.data() + sent, answer.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }
  void Serve() {
    Stmt keys(db_, "SELECT id FROM t WHERE t MATCH ?1 ORDER BY rowid LIMIT 20");
    Stmt scored(db_, "SELECT id FROM t WHERE t MATCH ?1 ORDER BY rank LIMIT 10");
    while (true) {
      int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      conn_fd_ = fd;
      std::string buf;
      while (Answer(fd, &buf, keys, scored)) {
      }
      conn_fd_ = -1;
      close(fd);
    }
  }
  sqlite3* db_ = nullptr;
  int listen_fd_ = -1;
  std::atomic<int> conn_fd_{-1};
  uint16_t port_ = 0;
  std::thread thread_;
};

// ---- queries ----

struct Query {
  std::vector<std::string> words;  // lower-cased; one word for a prefix (without '*')
  bool prefix = false, phrase = false;
  std::vector<bool> capital;     // write the word capitalized (case folding on both sides)
  std::string Pattern() const {  // projd's pattern, inside a query string literal
    std::string p;
    for (size_t i = 0; i < words.size(); ++i) {
      if (i) p += ' ';
      std::string w = words[i];
      if (capital[i]) w[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(w[0])));
      p += w;
    }
    if (prefix) p += '*';
    if (phrase) p = "\\\"" + p + "\\\"";
    return p;
  }
  std::string Fts() const {  // FTS5's query: each word quoted (never an operator)
    std::string p;
    if (phrase) {
      p = "\"";
      for (size_t i = 0; i < words.size(); ++i) p += (i ? " " : "") + words[i];
      return p + "\"";
    }
    for (size_t i = 0; i < words.size(); ++i) {
      std::string w = words[i];
      if (capital[i]) w[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(w[0])));
      p += (i ? " \"" : "\"") + w + "\"";
    }
    if (prefix) p += '*';
    return p;
  }
};

struct QueryClass {
  std::string name;
  std::vector<Query> queries;
};

size_t Expansions(const Data& d, const std::string& prefix) {
  size_t n = 0;
  for (auto it = d.indexed.lower_bound(prefix);
       it != d.indexed.end() && it->compare(0, prefix.size(), prefix) == 0; ++it) {
    ++n;
  }
  return n;
}

// `count` queries of each class, from generator seed `seed`.
std::vector<QueryClass> MakeQueries(const Data& d, size_t count, uint64_t seed) {
  Rng rng(seed);
  const size_t v = d.vocab.size();
  auto one = [&](const std::string& w) {
    Query q;
    q.words = {w};
    q.capital = {rng.Below(4) == 0};
    return q;
  };
  // k distinct words: from a random row's memo (the query has answers), or independent Zipf
  // draws (often none: the engines must agree on that too).
  auto several = [&](size_t k, bool from_row) {
    Query q;
    while (true) {
      std::vector<std::string> ws;
      if (from_row) {
        const Txn& t = d.rows[rng.Below(d.rows.size())];
        std::vector<std::string> distinct;
        for (const auto& w : t.words) {
          if (std::find(distinct.begin(), distinct.end(), w) == distinct.end()) {
            distinct.push_back(w);
          }
        }
        if (distinct.size() < k) continue;
        for (size_t j = 0; j < k; ++j) {
          size_t at = j + rng.Below(distinct.size() - j);
          std::swap(distinct[j], distinct[at]);
          ws.push_back(distinct[j]);
        }
      } else {
        while (ws.size() < k) {
          std::string w = d.vocab[Zipf(d, &rng)];
          if (std::find(ws.begin(), ws.end(), w) == ws.end()) ws.push_back(w);
        }
      }
      q.words = ws;
      for (size_t j = 0; j < k; ++j) q.capital.push_back(rng.Below(4) == 0);
      return q;
    }
  };
  std::vector<QueryClass> out;
  QueryClass freq{"1 word, frequent (top 30)", {}};
  QueryClass rare{"1 word, rare (df ~1-500)", {}};
  QueryClass two{"2 words", {}};
  QueryClass three{"3 words", {}};
  QueryClass prefix{"prefix (pay*, ...)", {}};
  QueryClass phrase{"phrase (2 words)", {}};
  for (size_t i = 0; i < count; ++i) {
    freq.queries.push_back(one(d.vocab[rng.Below(30)]));
    rare.queries.push_back(i % 2 == 0 || d.refs.empty() ? one(d.vocab[v - 1 - rng.Below(600)])
                                                        : one(d.refs[rng.Below(d.refs.size())]));
    two.queries.push_back(several(2, i % 2 == 0));
    three.queries.push_back(several(3, i % 2 == 0));
    while (true) {
      // Half the prefixes are 3 letters of a Zipf-drawn word (frequent ones: pay*, car*,
      // cof*), half 2 to 4 letters of any word; at most 256 indexed words may start with one.
      std::string w = i % 2 == 0 ? d.vocab[Zipf(d, &rng)] : d.vocab[rng.Below(v)];
      size_t len = i % 2 == 0 ? 3 : 2 + rng.Below(3);
      if (w.size() <= len) continue;
      std::string p = w.substr(0, len);
      if (Expansions(d, p) > 256) continue;
      Query q;
      q.words = {p};
      q.prefix = true;
      q.capital = {rng.Below(4) == 0};
      prefix.queries.push_back(q);
      break;
    }
    while (true) {
      const Txn& t = d.rows[rng.Below(d.rows.size())];
      size_t at = rng.Below(t.words.size() - 1);
      if (t.words[at] == t.words[at + 1]) continue;
      Query q;
      q.words = {t.words[at], t.words[at + 1]};
      q.phrase = true;
      q.capital = {false, false};
      phrase.queries.push_back(q);
      break;
    }
  }
  out = {freq, rare, two, three, prefix, phrase};
  return out;
}

// Scored queries: half one word drawn by Zipf from rank 10 on (up to ~65,000 rows), half two
// words of a row's memo.
QueryClass MakeScored(const Data& d, size_t count, uint64_t seed) {
  Rng rng(seed);
  QueryClass c{"scored top 10 (BM25)", {}};
  for (size_t i = 0; i < count; ++i) {
    Query q;
    if (i % 2 == 0) {
      size_t r;
      do {
        r = Zipf(d, &rng);
      } while (r < 10);
      q.words = {d.vocab[r]};
      q.capital = {false};
    } else {
      while (true) {
        const Txn& t = d.rows[rng.Below(d.rows.size())];
        size_t a = rng.Below(t.words.size()), b = rng.Below(t.words.size());
        if (t.words[a] == t.words[b]) continue;
        q.words = {t.words[a], t.words[b]};
        q.capital = {false, false};
        break;
      }
    }
    c.queries.push_back(q);
  }
  return c;
}

double Pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5)];
}

// The keys of a projd answer (rows[].key), *scanned and the plan; false if not a 200 answer.
bool AnswerKeys(int status, const std::string& body, std::vector<std::string>* keys,
                uint64_t* scanned, std::string* plan, std::string* error) {
  keys->clear();
  projd::Value v;
  if (!projd::ParseJson(body, &v, error) || !v.is_object()) return false;
  if (status != 200) {
    *error = "HTTP " + std::to_string(status) + ": " + body.substr(0, 300);
    return false;
  }
  const projd::Value* rows = v.as_object().Find("rows");
  if (!rows || !rows->is_array()) {
    *error = "no rows";
    return false;
  }
  for (const auto& r : rows->as_array()) {
    const projd::Value* k = r.is_object() ? r.as_object().Find("key") : nullptr;
    keys->push_back(k && k->is_string() ? k->as_string() : "?");
  }
  const projd::Value* s = v.as_object().Find("scanned");
  if (s && s->is_number()) *scanned = std::stoull(s->as_number().ToString());
  const projd::Value* p = v.as_object().Find("plan");
  if (p && p->is_string()) *plan = p->as_string();
  return true;
}

std::string Quote(const std::vector<std::string>& v, size_t max = 5) {
  std::string s = "[";
  for (size_t i = 0; i < v.size() && i < max; ++i) s += (i ? " " : "") + v[i];
  if (v.size() > max) s += " ...(" + std::to_string(v.size()) + ")";
  return s + "]";
}

struct ClassResult {
  std::string name;
  size_t queries = 0, mismatches = 0, errors = 0;
  std::vector<double> projd_ms, fts_ms;
  std::vector<double> fts_http_ms;  // FTS5 behind FtsHttpServer (the HTTP table only)
  uint64_t scanned_sum = 0, scanned_max = 0, hits_sum = 0;
  std::string plan;
  bool loose = false;    // scored: top-10 sets compared loosely (below), never a mismatch
  size_t same_sets = 0;  // scored: identical top-10 sets
  double overlap_sum = 0;
};

void PrintRow(const ClassResult& r, const char* note = "") {
  double p50 = Pct(r.projd_ms, 50), p99 = Pct(r.projd_ms, 99);
  double f50 = Pct(r.fts_ms, 50), f99 = Pct(r.fts_ms, 99);
  printf("| %-28s | %4zu | %7.2f / %7.2f | ", r.name.c_str(), r.queries, p50, p99);
  if (!r.fts_http_ms.empty()) {  // the HTTP table: FTS5 over HTTP first, then in-process
    double h50 = Pct(r.fts_http_ms, 50), h99 = Pct(r.fts_http_ms, 99);
    printf("%7.2f / %7.2f | %5.2f / %5.2f | ", h50, h99, h50 > 0 ? p50 / h50 : 0,
           h99 > 0 ? p99 / h99 : 0);
  }
  printf("%7.2f / %7.2f | %5.2f / %5.2f | %8.0f / %7llu | %s%s\n", f50, f99,
         f50 > 0 ? p50 / f50 : 0, f99 > 0 ? p99 / f99 : 0,
         r.queries ? static_cast<double>(r.scanned_sum) / static_cast<double>(r.queries) : 0,
         static_cast<unsigned long long>(r.scanned_max),
         r.mismatches ? (std::to_string(r.mismatches) + " MISMATCHES").c_str()
         : r.loose    ? "top-10 sets: see below"
                      : "same answers",
         note);
}

std::string Arg(std::vector<std::string>& a, const std::string& name, const std::string& def) {
  for (size_t i = 0; i + 1 < a.size(); ++i) {
    if (a[i] == name) return a[i + 1];
  }
  return def;
}

std::string LoadAvg() {
  std::ifstream in("/proc/loadavg");
  std::string s;
  std::getline(in, s);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> a(argv + 1, argv + argc);
  const size_t n = std::stoull(Arg(a, "--events", "1000000"));
  const std::string work = Arg(a, "--work", "/tmp/projd-text-bench");
  fs::path self = fs::canonical("/proc/self/exe");
  const std::string proj_path = Arg(
      a, "--proj", (self.parent_path().parent_path().parent_path() / "bench/text.proj").string());
  const std::string projd_bin =
      Arg(a, "--projd", (self.parent_path().parent_path() / "cmd/projd").string());
  const size_t per_class = std::stoull(Arg(a, "--queries", "200"));
  const int group_runs = std::stoi(Arg(a, "--group-runs", "10"));
  const int ingest_rounds = std::stoi(Arg(a, "--ingest-rounds", "2"));
  const bool ingest_only = std::find(a.begin(), a.end(), "--ingest-only") != a.end();
  const bool changelog_ingest = std::find(a.begin(), a.end(), "--no-changelog-ingest") == a.end();
  const bool engine_only = std::find(a.begin(), a.end(), "--engine-only") != a.end();
  // With --engine-only: run only projd's engine on the classes whose names start with this.
  const std::string profile_class = Arg(a, "--profile-class", "");
  const int profile_rounds = std::stoi(Arg(a, "--profile-rounds", "20"));
  // An earlier complete run's store and fts.db (same --events: its `built` file says so).
  bool reuse = false;
  if (std::find(a.begin(), a.end(), "--reuse") != a.end()) {
    std::ifstream built(work + "/built");
    size_t had = 0;
    reuse = static_cast<bool>(built >> had) && had == n;
    if (!reuse) std::cerr << "text_bench: nothing to reuse in " << work << "; building it\n";
  }
  if (std::find(a.begin(), a.end(), "--help") != a.end()) {
    std::cerr << "usage: text_bench [--events N] [--work DIR] [--proj FILE] [--projd BINARY]\n"
                 "                  [--queries Q] [--group-runs R] [--ingest-rounds R]\n"
                 "                  [--no-changelog-ingest] [--ingest-only] [--reuse]\n"
                 "                  [--engine-only [--profile-class NAME] [--profile-rounds R]]\n";
    return 2;
  }
  constexpr size_t kAccounts = 1000;
  printf("text_bench: %zu events, load average at start: %s\n", n, LoadAvg().c_str());

  std::ifstream pin(proj_path);
  std::stringstream ss;
  ss << pin.rdbuf();
  const std::string proj_text = ss.str();
  auto with_index = Compile(proj_path, proj_text);
  // The same projection without its `index text` line.
  std::string plain_text;
  {
    std::istringstream lines(proj_text);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.find("index text") == std::string::npos) plain_text += line + "\n";
    }
  }
  auto without_index = Compile(proj_path + " (without index text)", plain_text);
  if (!with_index || !without_index || with_index->name() != "txn") {
    std::cerr << "text_bench: " << proj_path << " must define projection txn\n";
    return 1;
  }

  auto t0 = Clock::now();
  Data d;
  Generate(n, kAccounts, &d);
  size_t bytes = 0;
  for (const auto& e : d.events) bytes += e.size();
  printf(
      "generated %zu events (%.0f bytes each on average), %zu distinct words, %zu reference "
      "codes, in %.1f s\n",
      n, static_cast<double>(bytes) / static_cast<double>(n), d.indexed.size(), d.refs.size(),
      Seconds(t0, Clock::now()));
  printf("example event: %s\n", d.events[0].c_str());

  // ---- ingest ----
  if (!reuse) fs::remove_all(work);
  const std::string data_dir = work + "/data";
  const std::string view_dir = data_dir + "/views/txn";
  const std::string gen_dir = view_dir + "/gen-1";
  const std::string scratch = work + "/scratch";
  fs::create_directories(view_dir);
  fs::create_directories(work + "/projections");
  fs::copy_file(proj_path, work + "/projections/text.proj", fs::copy_options::overwrite_existing);
  {
    std::ofstream cur(view_dir + "/CURRENT");
    cur << "gen-1\n";
  }
  printf("\n== ingest: the daemon's apply path in-process (projector + pipelined LMDB writes)\n");
  // Rounds of pairs (without, with the text index), the order alternating between rounds so
  // that neither side always runs first; a ratio compares the two runs of one round.
  struct IngestRun {
    bool index;
    uint64_t keep;
  };
  std::vector<uint64_t> keeps = {0};
  if (changelog_ingest) keeps.push_back(1000000);
  bool served_built = false;
  if (reuse) {
    keeps.clear();
    printf("(reusing the indexed store and fts.db built by an earlier run in %s)\n", work.c_str());
  }
  for (uint64_t keep : keeps) {
    std::vector<double> ratios;
    double plain_total = 0, index_total = 0;
    for (int round = 0; round < ingest_rounds; ++round) {
      double rate[2] = {0, 0};
      for (int k = 0; k < 2; ++k) {
        bool index = (k == 0) == (round % 2 == 1);
        double secs = 0;
        bool served = index && keep == 0 && !served_built;
        std::string dir = served ? gen_dir : scratch;
        if (!ApplyPath(index ? with_index : without_index, d.events, dir, keep, served, &secs)) {
          return 1;
        }
        served_built = served_built || served;
        uintmax_t size = fs::file_size(dir + "/data.mdb");
        rate[index ? 1 : 0] = static_cast<double>(n) / secs;
        (index ? index_total : plain_total) += secs;
        std::string what = std::string(index ? "with index text memo" : "without index text") +
                           (keep ? ", change log 1,000,000" : ", no change log");
        printf("round %d: %-40s %9.0f events/s  (%.1f s, data.mdb %.0f MiB)\n", round + 1,
               what.c_str(), rate[index ? 1 : 0], secs, static_cast<double>(size) / (1 << 20));
        if (!served) fs::remove_all(scratch);
      }
      ratios.push_back(rate[1] / rate[0]);
    }
    std::string list;
    for (double r : ratios) {
      char buf[32];
      snprintf(buf, sizeof(buf), "%s%.1f%%", list.empty() ? "" : ", ", 100 * r);
      list += buf;
    }
    printf("=> %s: with the text index at %.1f%% of without (total time; per round: %s)\n\n",
           keep ? "change log 1,000,000" : "no change log", 100.0 * plain_total / index_total,
           list.c_str());
  }

  if (ingest_only) return 0;

  // ---- SQLite ----
  printf("\n== SQLite %s FTS5 (in this process; file %s/fts.db)\n", sqlite3_libversion(),
         work.c_str());
  sqlite3* db = nullptr;
  if (sqlite3_open((work + "/fts.db").c_str(), &db) != SQLITE_OK) {
    std::cerr << "sqlite open failed\n";
    return 1;
  }
  // Reads through a memory map, as LMDB's do; loading without a journal or fsync.
  if (!Exec(db,
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA mmap_size = "
            "8589934592; PRAGMA cache_size = -65536")) {
    return 1;
  }
  if (!reuse) {
    if (!Exec(db,
              "CREATE VIRTUAL TABLE t USING fts5(id UNINDEXED, memo, tokenize = 'unicode61 "
              "remove_diacritics 0'); CREATE TABLE plain(id TEXT, account TEXT, amount INTEGER)")) {
      return 1;
    }
    t0 = Clock::now();
    {
      Exec(db, "BEGIN");
      Stmt ins(db, "INSERT INTO t(rowid, id, memo) VALUES(?1, ?2, ?3)");
      Stmt insp(db, "INSERT INTO plain(rowid, id, account, amount) VALUES(?1, ?2, ?3, ?4)");
      for (size_t i = 0; i < n; ++i) {
        const Txn& t = d.rows[i];
        sqlite3_reset(ins.s);
        sqlite3_bind_int64(ins.s, 1, static_cast<int64_t>(i + 1));
        sqlite3_bind_text(ins.s, 2, t.id.data(), static_cast<int>(t.id.size()), SQLITE_STATIC);
        sqlite3_bind_text(ins.s, 3, t.memo.data(), static_cast<int>(t.memo.size()), SQLITE_STATIC);
        if (sqlite3_step(ins.s) != SQLITE_DONE) {
          std::cerr << "sqlite insert: " << sqlite3_errmsg(db) << "\n";
          return 1;
        }
        sqlite3_reset(insp.s);
        sqlite3_bind_int64(insp.s, 1, static_cast<int64_t>(i + 1));
        sqlite3_bind_text(insp.s, 2, t.id.data(), static_cast<int>(t.id.size()), SQLITE_STATIC);
        sqlite3_bind_text(insp.s, 3, t.account.data(), static_cast<int>(t.account.size()),
                          SQLITE_STATIC);
        sqlite3_bind_int64(insp.s, 4, t.cents);
        if (sqlite3_step(insp.s) != SQLITE_DONE) {
          std::cerr << "sqlite insert: " << sqlite3_errmsg(db) << "\n";
          return 1;
        }
      }
      if (!Exec(db, "COMMIT")) return 1;
    }
    double load_secs = Seconds(t0, Clock::now());
    t0 = Clock::now();
    if (!Exec(db, "INSERT INTO t(t) VALUES('optimize')")) return 1;
    double optimize_secs = Seconds(t0, Clock::now());
    printf("%-44s %9.0f rows/s  (%.1f s; then 'optimize' %.1f s; fts.db %.0f MiB)\n",
           "load, one transaction (FTS5 + plain table)", static_cast<double>(n) / load_secs,
           load_secs, optimize_secs,
           static_cast<double>(fs::file_size(work + "/fts.db")) / (1 << 20));
    std::ofstream(work + "/built") << n << "\n";
  }  // !reuse

  auto classes = MakeQueries(d, per_class, 7001);
  auto warm = MakeQueries(d, 30, 9001);
  std::vector<std::string> pk, fk;
  size_t mismatches = 0, count_mismatches = 0, group_mismatches = 0;
  size_t shown = 0;  // mismatches printed
  std::string error;
  Stmt search(db, "SELECT id FROM t WHERE t MATCH ?1 ORDER BY rowid LIMIT 20");
  if (!engine_only) {
    // ---- the daemon ----
    printf("\n== projd (%s) serving the indexed store, queries over HTTP on loopback\n",
           projd_bin.c_str());
    const std::string log_path = work + "/projd.log";
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
      FILE* f = freopen(log_path.c_str(), "w", stdout);
      (void)f;
      dup2(STDOUT_FILENO, STDERR_FILENO);
      std::string projections = work + "/projections";
      execl(projd_bin.c_str(), projd_bin.c_str(), "--projections", projections.c_str(), "--data",
            data_dir.c_str(), "--listen", "127.0.0.1:0", static_cast<char*>(nullptr));
      _exit(127);
    }
    auto stop_projd = [&] {
      if (pid > 0) {
        kill(pid, SIGTERM);
        int st;
        waitpid(pid, &st, 0);
        pid = -1;
      }
    };
    uint16_t port = 0;
    for (int i = 0; i < 300 && port == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      std::ifstream log(log_path);
      std::string line;
      while (std::getline(log, line)) {
        size_t at = line.find("HTTP API listening on 127.0.0.1:");
        if (at != std::string::npos)
          port = static_cast<uint16_t>(std::atoi(line.c_str() + at + 32));
      }
      int st;
      if (waitpid(pid, &st, WNOHANG) == pid) {
        std::cerr << "projd exited: see " << log_path << "\n";
        return 1;
      }
    }
    if (port == 0) {
      std::cerr << "projd did not start: see " << log_path << "\n";
      stop_projd();
      return 1;
    }
    Http http;
    if (!http.Connect(port)) {
      std::cerr << "cannot connect to projd on port " << port << "\n";
      stop_projd();
      return 1;
    }
    FtsHttpServer fts_server;
    Http fts_http;
    if (!fts_server.Start(work + "/fts.db") || !fts_http.Connect(fts_server.port())) {
      std::cerr << "cannot start FTS5's HTTP server\n";
      stop_projd();
      return 1;
    }
    int status = 0;
    std::string body;
    if (!http.Call("GET", "/v1/views/txn", "", &status, &body) || status != 200) {
      std::cerr << "GET /v1/views/txn: " << status << " " << body << "\n";
      stop_projd();
      return 1;
    }
    {
      projd::Value v;
      const projd::Value* rows = nullptr;
      if (projd::ParseJson(body, &v, &error) && v.is_object()) rows = v.as_object().Find("rows");
      printf("projd on port %u, view txn: %s rows\n", port,
             rows ? projd::ToJson(*rows).c_str() : "?");
    }

    // The HTTP round trip of trivial requests, to subtract.
    auto http_ms = [&](const std::string& method, const std::string& target,
                       const std::string& qbody, int times) {
      std::vector<double> ms;
      for (int i = 0; i < times; ++i) {
        auto q0 = Clock::now();
        if (!http.Call(method, target, qbody, &status, &body) || status != 200) {
          std::cerr << method << " " << target << ": " << status << " " << body << "\n";
          return ms;
        }
        ms.push_back(Millis(q0, Clock::now()));
      }
      return ms;
    };
    http_ms("GET", "/healthz", "", 200);  // warm-up
    auto healthz = http_ms("GET", "/healthz", "", 2000);
    auto point = http_ms("POST", "/v1/query",
                         "from txn select key where key == \"" + d.rows[n / 2].id + "\"", 2000);
    printf("%-44s p50 %6.3f ms  p99 %6.3f ms\n", "HTTP round trip: GET /healthz (inline)",
           Pct(healthz, 50), Pct(healthz, 99));
    printf("%-44s p50 %6.3f ms  p99 %6.3f ms\n", "POST /v1/query, point query by key",
           Pct(point, 50), Pct(point, 99));

    Stmt scored(db, "SELECT id FROM t WHERE t MATCH ?1 ORDER BY rank LIMIT 10");
    Stmt count(db, "SELECT count(*) FROM t WHERE t MATCH ?1");

    // One query on both engines: timings, and whether the keys agree.
    uint64_t scanned = 0;
    std::string plan;
    auto run_one = [&](const Query& q, bool ranked, ClassResult* r) {
      std::string text =
          ranked ? "from txn select key, score() as s where memo matches \"" + q.Pattern() +
                       "\" order by s desc limit 10"
                 : "from txn select key where memo matches \"" + q.Pattern() + "\" limit 20";
      auto q0 = Clock::now();
      bool ok = http.Call("POST", "/v1/query", text, &status, &body);
      auto q1 = Clock::now();
      if (!ok) {
        std::cerr << "projd connection failed\n";
        stop_projd();
        std::exit(1);
      }
      scanned = 0;
      bool answered = AnswerKeys(status, body, &pk, &scanned, &plan, &error);
      auto f0 = Clock::now();
      bool fok = RunMatch(db, ranked ? scored : search, q.Fts(), &fk);
      auto f1 = Clock::now();
      // FTS5 over HTTP: the same answer is expected as in-process.
      int fts_status = 0;
      std::string fts_body;
      std::vector<std::string> fts_http_keys;
      uint64_t ignored = 0;
      std::string ignored_plan;
      auto h0 = Clock::now();
      bool hok =
          fts_http.Call("POST", "/fts", (ranked ? "s " : "k ") + q.Fts(), &fts_status, &fts_body);
      auto h1 = Clock::now();
      hok =
          hok && AnswerKeys(fts_status, fts_body, &fts_http_keys, &ignored, &ignored_plan, &error);
      if (!hok || (fok && fts_http_keys != fk)) {
        std::cerr << "FTS5 over HTTP answered " << Quote(fts_http_keys) << " for " << q.Fts()
                  << " (in-process: " << Quote(fk) << ")\n";
        ++mismatches;
      }
      if (!r) return;
      ++r->queries;
      if (!ranked || answered) {
        r->fts_ms.push_back(Millis(f0, f1));
        r->fts_http_ms.push_back(Millis(h0, h1));
      }
      if (!answered || !fok) {
        ++r->errors;
        if (shown++ < 10) std::cerr << "  error on " << text << ": " << error << "\n";
        if (!ranked) ++r->mismatches;
        return;
      }
      r->projd_ms.push_back(Millis(q0, q1));
      r->scanned_sum += scanned;
      r->scanned_max = std::max(r->scanned_max, scanned);
      r->hits_sum += pk.size();
      if (r->plan.empty()) r->plan = plan;
      if (!ranked) {
        if (pk != fk) {
          ++r->mismatches;
          if (shown++ < 10) {
            std::cerr << "  MISMATCH " << text << " | fts5 " << q.Fts() << ": projd " << Quote(pk)
                      << " fts5 " << Quote(fk) << "\n";
          }
        }
        return;
      }
      std::set<std::string> ps(pk.begin(), pk.end()), fs5(fk.begin(), fk.end());
      size_t common = 0;
      for (const auto& k : ps) common += fs5.count(k);
      if (ps == fs5) ++r->same_sets;
      r->overlap_sum +=
          ps.empty() && fs5.empty()
              ? 1.0
              : static_cast<double>(common) / static_cast<double>(std::max(ps.size(), fs5.size()));
    };

    QueryClass scored_class = MakeScored(d, per_class, 7002);
    QueryClass scored_warm = MakeScored(d, 30, 9002);
    // Warm-up: other queries of each class, untimed.
    for (const auto& c : warm) {
      for (const auto& q : c.queries) run_one(q, false, nullptr);
    }
    for (const auto& q : scored_warm.queries) run_one(q, true, nullptr);

    printf("\nload average before the queries: %s\n", LoadAvg().c_str());
    printf(
        "\nsearch, %zu queries per class, keys in key order, limit 20 (projd: POST /v1/query "
        "over HTTP; FTS5: ... WHERE t MATCH ? ORDER BY rowid LIMIT 20, over HTTP from a minimal "
        "server in this process on the same kind of connection, and in-process)\n",
        per_class);
    printf("| %-28s | %4s | %17s | %17s | %13s | %17s | %13s | %18s | %s\n", "class", "n",
           "projd p50 / p99 ms", "FTS5 HTTP p50/p99", "ratio p50/p99", "FTS5 in-proc p50/99",
           "ratio p50/p99", "scanned mean / max", "answers");
    std::vector<ClassResult> results;
    for (const auto& c : classes) {
      ClassResult r;
      r.name = c.name;
      for (const auto& q : c.queries) run_one(q, false, &r);
      PrintRow(r);
      mismatches += r.mismatches;
      results.push_back(r);
    }
    ClassResult sr;
    sr.name = scored_class.name;
    sr.loose = true;
    for (const auto& q : scored_class.queries) run_one(q, true, &sr);
    PrintRow(sr,
             sr.errors ? (" (" + std::to_string(sr.errors) + " refused by projd)").c_str() : "");
    printf(
        "scored: top-10 key sets identical in %zu of %zu queries, mean overlap %.1f%% (projd "
        "ln(1+(N-df+0.5)/(df+0.5)) IDF vs FTS5's ln((N-df+0.5)/(df+0.5)); ties cut differently)\n",
        sr.same_sets, sr.queries - sr.errors,
        sr.queries > sr.errors
            ? 100.0 * sr.overlap_sum / static_cast<double>(sr.queries - sr.errors)
            : 0.0);
    printf("plans: %s\n", results.empty() ? "" : results[0].plan.c_str());

    // Whole result sets: count() of the first queries of each class whose FTS5 count is at most
    // 100,000 (a count reads every matching row).
    size_t counted = 0;
    std::vector<double> count_projd_ms, count_fts_ms;
    for (const auto& c : classes) {
      size_t done = 0;
      for (const auto& q : c.queries) {
        if (done == 10) break;
        sqlite3_reset(count.s);
        std::string m = q.Fts();
        sqlite3_bind_text(count.s, 1, m.data(), static_cast<int>(m.size()), SQLITE_TRANSIENT);
        auto f0 = Clock::now();
        if (sqlite3_step(count.s) != SQLITE_ROW) continue;
        int64_t fc = sqlite3_column_int64(count.s, 0);
        auto f1 = Clock::now();
        if (fc > 100000) continue;
        ++done;
        auto q0 = Clock::now();
        std::string text =
            "from txn select count() as n where memo matches \"" + q.Pattern() + "\"";
        bool ok = http.Call("POST", "/v1/query", text, &status, &body);
        auto q1 = Clock::now();
        projd::Value v;
        int64_t pc = -1;
        if (ok && status == 200 && projd::ParseJson(body, &v, &error) && v.is_object()) {
          const projd::Value* rows = v.as_object().Find("rows");
          if (rows && rows->is_array() && rows->as_array().size() == 1) {
            const projd::Value* nn = rows->as_array()[0].as_object().Find("n");
            if (nn && nn->is_number()) pc = std::stoll(nn->as_number().ToString());
          }
        }
        ++counted;
        count_projd_ms.push_back(Millis(q0, q1));
        count_fts_ms.push_back(Millis(f0, f1));
        if (pc != fc) {
          ++count_mismatches;
          std::cerr << "  COUNT MISMATCH " << text << ": projd " << pc << " fts5 " << fc << " ("
                    << body.substr(0, 200) << ")\n";
        }
      }
    }
    printf(
        "\nwhole result sets: count() of %zu queries (10 per class with at most 100,000 "
        "matches): %s; projd p50 %.2f ms, FTS5 count(*) p50 %.2f ms\n",
        counted,
        count_mismatches ? (std::to_string(count_mismatches) + " MISMATCHES").c_str()
                         : "same counts",
        Pct(count_projd_ms, 50), Pct(count_fts_ms, 50));

    // ---- group by over all rows ----
    std::map<std::string, std::pair<int64_t, int64_t>> expect;  // account -> count, cents
    for (const auto& t : d.rows) {
      auto& e = expect[t.account];
      ++e.first;
      e.second += t.cents;
    }
    std::vector<double> g_projd, g_fts;
    uint64_t g_scanned = 0;
    group_mismatches = 0;
    Stmt group(
        db, "SELECT account, count(*), sum(amount) FROM plain GROUP BY account ORDER BY account");
    const std::string group_q =
        "from txn select account, count() as n, sum(amount) as total group by account limit 10000";
    for (int run = 0; run < group_runs; ++run) {
      auto q0 = Clock::now();
      bool ok = http.Call("POST", "/v1/query", group_q, &status, &body);
      auto q1 = Clock::now();
      g_projd.push_back(Millis(q0, q1));
      std::map<std::string, std::pair<int64_t, projd::Decimal>> got;
      projd::Value v;
      if (ok && status == 200 && projd::ParseJson(body, &v, &error) && v.is_object()) {
        const projd::Value* rows = v.as_object().Find("rows");
        const projd::Value* sc = v.as_object().Find("scanned");
        if (sc && sc->is_number()) g_scanned = std::stoull(sc->as_number().ToString());
        for (const auto& r : rows && rows->is_array() ? rows->as_array() : projd::Array{}) {
          const projd::Value* acc = r.as_object().Find("account");
          const projd::Value* nn = r.as_object().Find("n");
          const projd::Value* total = r.as_object().Find("total");
          if (acc && acc->is_string() && nn && nn->is_number() && total && total->is_number()) {
            got[acc->as_string()] = {std::stoll(nn->as_number().ToString()), total->as_number()};
          }
        }
      } else {
        std::cerr << "group by: HTTP " << status << " " << body.substr(0, 300) << "\n";
      }
      auto f0 = Clock::now();
      std::map<std::string, std::pair<int64_t, int64_t>> fgot;
      sqlite3_reset(group.s);
      while (sqlite3_step(group.s) == SQLITE_ROW) {
        fgot[reinterpret_cast<const char*>(sqlite3_column_text(group.s, 0))] = {
            sqlite3_column_int64(group.s, 1), sqlite3_column_int64(group.s, 2)};
      }
      auto f1 = Clock::now();
      g_fts.push_back(Millis(f0, f1));
      bool same = got.size() == expect.size() && fgot == expect;
      for (const auto& [acc, e] : expect) {
        auto it = got.find(acc);
        projd::Decimal want;
        projd::Decimal::Div(projd::Decimal::FromInt(e.second), projd::Decimal::FromInt(100), &want);
        if (it == got.end() || it->second.first != e.first || it->second.second != want) {
          same = false;
        }
      }
      if (!same) ++group_mismatches;
    }
    ClassResult gr;
    gr.name = "group by account (all rows)";
    gr.queries = static_cast<size_t>(group_runs);
    gr.projd_ms = g_projd;
    gr.fts_ms = g_fts;
    gr.mismatches = group_mismatches;
    gr.scanned_sum = g_scanned * static_cast<uint64_t>(group_runs);
    gr.scanned_max = g_scanned;
    printf(
        "\ngroup by over all %zu rows, %zu groups, %d runs (projd: %s; SQLite: SELECT account, "
        "count(*), sum(amount) FROM plain GROUP BY account, amounts in integer cents)\n",
        n, expect.size(), group_runs, group_q.c_str());
    PrintRow(gr);

    // A frequent word with order by score: more than max_sorted rows to sort?
    {
      std::string text = "from txn select key, score() as s where memo matches \"" + d.vocab[0] +
                         "\" order by s desc limit 10";
      auto q0 = Clock::now();
      http.Call("POST", "/v1/query", text, &status, &body);
      printf("\n%s -> HTTP %d in %.1f ms: %s\n", text.c_str(), status, Millis(q0, Clock::now()),
             body.substr(0, 200).c_str());
    }

    stop_projd();
  }  // !engine_only

  // ---- the engines alone: projd's query engine in this process, next to FTS5 ----
  // The same classes and queries once more, each query compiled and run by projd's engine on
  // the store the daemon served (no HTTP, no query pool), then by FTS5, alternately.
  size_t engine_mismatches = 0;
  {
    projd::KvOptions ko;
    auto store = projd::ViewStore::Open(gen_dir, ko, &error);
    if (!store) {
      std::cerr << "open " << gen_dir << ": " << error << "\n";
      return 1;
    }
    store->UseIndexesOf(*with_index);
    auto find_view = [&](const std::string& name) -> std::shared_ptr<const projd::Projection> {
      return name == "txn" ? with_index : nullptr;
    };
    auto engine_keys = [&](const std::string& text, std::vector<std::string>* keys) {
      keys->clear();
      projd::Diagnostic diag;
      auto query = projd::CompileQuery(text, find_view, &diag);
      projd::QueryAnswer answer;
      if (!query ||
          !projd::RunQuery(*query, store.get(), "", projd::QueryLimits(), &answer, &error)) {
        return false;
      }
      for (const auto& row : answer.rows) {
        const projd::Value* k = row.is_object() ? row.as_object().Find("key") : nullptr;
        keys->push_back(k && k->is_string() ? k->as_string() : "?");
      }
      return true;
    };
    auto engine_one = [&](const Query& q, ClassResult* r) {
      std::string text = "from txn select key where memo matches \"" + q.Pattern() + "\" limit 20";
      auto q0 = Clock::now();
      bool ok = engine_keys(text, &pk);
      auto q1 = Clock::now();
      bool fok = RunMatch(db, search, q.Fts(), &fk);
      auto f1 = Clock::now();
      if (!r) return;
      ++r->queries;
      r->projd_ms.push_back(Millis(q0, q1));
      r->fts_ms.push_back(Millis(q1, f1));
      if (!ok || !fok || pk != fk) {
        ++r->mismatches;
        if (shown++ < 10) {
          std::cerr << "  MISMATCH (engine) " << text << ": "
                    << (ok ? "projd " + Quote(pk) : "projd error: " + error) << " fts5 "
                    << Quote(fk) << "\n";
        }
      }
    };
    for (const auto& c : warm) {
      for (const auto& q : c.queries) engine_one(q, nullptr);
    }
    if (!profile_class.empty()) {
      // Only projd's engine on one class's queries, `profile_rounds` times over: for a profiler.
      for (const auto& c : classes) {
        if (c.name.compare(0, profile_class.size(), profile_class) != 0) continue;
        auto p0 = Clock::now();
        for (int round = 0; round < profile_rounds; ++round) {
          for (const auto& q : c.queries) {
            engine_keys("from txn select key where memo matches \"" + q.Pattern() + "\" limit 20",
                        &pk);
          }
        }
        printf("%s: %d x %zu queries in %.1f ms (%.3f ms each)\n", c.name.c_str(), profile_rounds,
               c.queries.size(), Millis(p0, Clock::now()),
               Millis(p0, Clock::now()) / profile_rounds / static_cast<double>(c.queries.size()));
      }
      return 0;
    }
    printf(
        "\nthe engines alone, in this process: projd's CompileQuery + RunQuery on the served store "
        "(no HTTP, no query pool) against FTS5's prepared statement, the same queries\n");
    printf("| %-28s | %4s | %17s | %17s | %13s | %18s | %s\n", "class", "n", "engine p50 / p99 ms",
           "FTS5 p50 / p99 ms", "ratio p50/p99", "", "answers");
    for (const auto& c : classes) {
      ClassResult r;
      r.name = c.name;
      for (const auto& q : c.queries) engine_one(q, &r);
      PrintRow(r);
      engine_mismatches += r.mismatches;
    }
  }

  printf("\nload average at the end: %s\n", LoadAvg().c_str());
  sqlite3_close(db);
  size_t total_mismatches = mismatches + count_mismatches + group_mismatches + engine_mismatches;
  if (total_mismatches) {
    printf("FAILED: %zu answers differ between projd and SQLite\n", total_mismatches);
    return 1;
  }
  printf("all answers equal SQLite's\n");
  return 0;
}
