#include "store/kv.h"

#include <lmdb.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "store/key_order.h"

namespace projd {
namespace {

std::string Err(const char* what, int rc) { return std::string(what) + ": " + mdb_strerror(rc); }

// KeyOrder as LMDB calls it: at every step of every binary search of a put or a get (a put of
// a dedupe id compares ~20–30 keys), where LMDB's own comparator calls memcmp for keys of a
// few bytes.
int CompareKeys(const MDB_val* a, const MDB_val* b) {
  return KeyOrder(std::string_view(static_cast<const char*>(a->mv_data), a->mv_size),
                  std::string_view(static_cast<const char*>(b->mv_data), b->mv_size));
}

// Opens table `name` of `txn`'s environment with KeyOrder as its comparator.
int OpenTable(MDB_txn* txn, const char* name, unsigned flags, MDB_dbi* dbi) {
  int rc = mdb_dbi_open(txn, name, flags, dbi);
  if (rc == 0) rc = mdb_set_compare(txn, *dbi, CompareKeys);
  return rc;
}

// Reads every entry of every table of the store in `dir`, read-only and without the lock file
// (a child process's own handle). "" when all of it reads; else what failed.
std::string WalkStore(const std::string& dir, const std::vector<std::string>& tables,
                      size_t map_bytes, uint64_t file_bytes) {
  // Damaged branch or leaf pages can point back to pages already read: a walk that takes more
  // steps than the file has room for entries (each needs an 8-byte node header) is in a loop.
  uint64_t steps_left = file_bytes / 8 + 1024;
  MDB_env* env = nullptr;
  if (int rc = mdb_env_create(&env); rc != 0) return Err("mdb_env_create", rc);
  mdb_env_set_maxdbs(env, static_cast<MDB_dbi>(tables.size() + 1));
  mdb_env_set_mapsize(env, map_bytes);
  int rc = mdb_env_open(env, dir.c_str(), MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS | MDB_NORDAHEAD, 0);
  if (rc != 0) return Err("open", rc);
  MDB_txn* txn = nullptr;
  if ((rc = mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn)) != 0) return Err("read", rc);
  auto walk = [&](MDB_dbi dbi, const std::string& what) {
    MDB_cursor* c = nullptr;
    int r = mdb_cursor_open(txn, dbi, &c);
    if (r != 0) return Err(what.c_str(), r);
    MDB_val k, v;
    for (r = mdb_cursor_get(c, &k, &v, MDB_FIRST); r == 0;
         r = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
      if (steps_left-- == 0) {
        mdb_cursor_close(c);
        return what +
               ": its pages lead back to pages already read (more entries than the file "
               "has room for)";
      }
    }
    mdb_cursor_close(c);
    return r == MDB_NOTFOUND ? std::string() : Err(what.c_str(), r);
  };
  // The free list (dbi 0) and the table of tables (the main database): a write reads both.
  MDB_dbi main_dbi;
  if ((rc = mdb_dbi_open(txn, nullptr, 0, &main_dbi)) != 0) return Err("the table of tables", rc);
  for (auto [dbi, what] : {std::pair<MDB_dbi, const char*>{0, "the free page list"},
                           {main_dbi, "the table of tables"}}) {
    std::string why = walk(dbi, what);
    if (!why.empty()) return why;
  }
  for (const auto& t : tables) {
    MDB_dbi dbi;
    rc = OpenTable(txn, t.c_str(), 0, &dbi);
    if (rc == MDB_NOTFOUND) continue;  // a table this store never made
    if (rc != 0) return Err(("table " + t).c_str(), rc);
    std::string why = walk(dbi, "table " + t);
    if (!why.empty()) return why;
  }
  mdb_txn_abort(txn);
  mdb_env_close(env);
  return "";
}

// Whether the store in `dir` reads whole: LMDB keeps no checksums, and a damaged page makes it
// return an error, or assert and abort, or read out of bounds. So every table is read once in a
// child process before projd opens the store: the child's end tells which, and projd itself
// never crashes on a damaged store, nor serves one as if it were whole. "" when it reads; else
// why not (LMDB's own message when it printed one).
std::string CheckStoreReads(const std::string& dir, const std::vector<std::string>& tables,
                            size_t map_bytes, uint64_t file_bytes) {
  int fds[2];
  if (pipe(fds) != 0) return "";  // no check possible: the open goes on as before
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return "";
  }
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], STDERR_FILENO);  // LMDB's assertion message, if it fails one
    std::string why = WalkStore(dir, tables, map_bytes, file_bytes);
    if (why.empty()) _exit(0);
    ssize_t ignored = write(fds[1], why.data(), why.size());
    (void)ignored;
    _exit(3);
  }
  close(fds[1]);
  // A walk that does not end (a loop the step count misses, a page that makes LMDB spin) is
  // ended: a minute, and a second more per 50 MB of store.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60) +
                  std::chrono::seconds(file_bytes / (50u << 20));
  std::string said;
  bool timed_out = false;
  char buf[1024];
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    struct pollfd pfd = {fds[0], POLLIN, 0};
    int ready = poll(&pfd, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    ssize_t n = read(fds[0], buf, sizeof(buf));
    if (n == 0) break;  // the child is done
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (said.size() < 4096) said.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) return "reading it did not end (its pages loop)";
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
  while (!said.empty() && (said.back() == '\n' || said.back() == ' ')) said.pop_back();
  for (char& ch : said) {
    if (ch == '\n') ch = ' ';
  }
  if (WIFSIGNALED(status)) {
    return std::string("reading it failed (") + strsignal(WTERMSIG(status)) + ")" +
           (said.empty() ? "" : ": " + said);
  }
  return said.empty() ? "reading it failed" : said;
}

// LMDB's key limit (mdb_env_get_maxkeysize of the default build).
constexpr size_t kMaxKey = 511;

// A write that failed for want of space says so, with the file: LMDB reports a short write as
// EIO, so an I/O error on a file system with (almost) no room left is taken as a full disk.
std::string WriteErr(const char* what, int rc, const std::string& dir) {
  if (rc == ENOSPC || rc == EIO || rc == EDQUOT) {
    struct statvfs fs;
    if (statvfs(dir.c_str(), &fs) == 0) {
      unsigned long long free_bytes = static_cast<unsigned long long>(fs.f_bavail) *
                                      static_cast<unsigned long long>(fs.f_frsize);
      if (rc != EIO || free_bytes < (16ull << 20)) {
        return std::string(what) + ": no space left on device (" + dir + "/data.mdb, " +
               std::to_string(free_bytes) + " bytes free)";
      }
    }
  }
  return Err(what, rc);
}

MDB_val Val(std::string_view s) {
  MDB_val v;
  v.mv_size = s.size();
  v.mv_data = const_cast<char*>(s.data());
  return v;
}

std::string_view View(const MDB_val& v) {
  return std::string_view(static_cast<const char*>(v.mv_data), v.mv_size);
}

class LmdbCursor final : public KvCursor {
 public:
  explicit LmdbCursor(MDB_cursor* c) : c_(c) {}
  ~LmdbCursor() override { mdb_cursor_close(c_); }
  bool Seek(std::string_view key) override {
    if (key.empty()) return First();
    if (key.size() <= kMaxKey) {
      k_ = Val(key);
      return Op(MDB_SET_RANGE);
    }
    // No stored key is this long: seek its first bytes, then past the keys below it.
    k_ = Val(key.substr(0, kMaxKey));
    bool ok = Op(MDB_SET_RANGE);
    while (ok && View(k_) < key) ok = Op(MDB_NEXT);
    return ok;
  }
  bool First() override { return Op(MDB_FIRST); }
  bool Last() override { return Op(MDB_LAST); }
  bool Next() override { return Op(MDB_NEXT); }
  bool Prev() override { return Op(MDB_PREV); }
  bool Delete() override {
    if (mdb_cursor_del(c_, 0) != 0) return false;
    // LMDB leaves the cursor on the entry after the deleted one.
    return Op(MDB_GET_CURRENT);
  }
  std::string_view key() const override { return View(k_); }
  std::string_view value() const override { return View(v_); }

 private:
  bool Op(MDB_cursor_op op) { return mdb_cursor_get(c_, &k_, &v_, op) == 0; }
  MDB_cursor* c_;
  MDB_val k_{}, v_{};
};

// Read transactions are reused. A finished one is reset (its snapshot released, its reader slot
// kept: the environment is MDB_NOTLS, so slots belong to transactions, not threads) and the
// next BeginRead renews it: no reader-table mutex (process-shared, taken by every
// mdb_txn_begin) and no allocation per read — a point read is one short transaction.
class ReadTxnPool {
 public:
  ~ReadTxnPool() { Clear(); }
  // A reset transaction to renew, or null.
  MDB_txn* Take() {
    std::lock_guard<std::mutex> lock(mu_);
    if (idle_.empty()) return nullptr;
    MDB_txn* txn = idle_.back();
    idle_.pop_back();
    return txn;
  }
  // Takes a finished read transaction: reset and kept, or aborted when enough are kept.
  void Give(MDB_txn* txn) {
    mdb_txn_reset(txn);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (idle_.size() < kMaxIdle) {
        idle_.push_back(txn);
        return;
      }
    }
    mdb_txn_abort(txn);
  }
  // Aborts the kept transactions (before the environment closes).
  void Clear() {
    std::lock_guard<std::mutex> lock(mu_);
    for (MDB_txn* txn : idle_) mdb_txn_abort(txn);
    idle_.clear();
  }

 private:
  // More than the readers that run at once (HTTP threads, feeds, the writer's snapshot); each
  // kept transaction holds one of the environment's 512 reader slots.
  static constexpr size_t kMaxIdle = 16;
  std::mutex mu_;
  std::vector<MDB_txn*> idle_;
};

class LmdbTxn final : public KvTxn {
 public:
  LmdbTxn(MDB_txn* txn, const std::vector<MDB_dbi>* dbis, bool write, const std::string* dir,
          ReadTxnPool* pool = nullptr)
      : txn_(txn), dbis_(dbis), write_(write), dir_(dir), pool_(pool) {}
  ~LmdbTxn() override {
    if (!txn_) return;
    CloseWriteCursors();
    if (pool_) {
      pool_->Give(txn_);
    } else {
      mdb_txn_abort(txn_);
    }
  }
  bool Get(int table, std::string_view key, std::string_view* value) override {
    if (key.empty() || key.size() > kMaxKey) return false;  // never stored
    MDB_val k = Val(key), v;
    int rc = mdb_get(txn_, (*dbis_)[static_cast<size_t>(table)], &k, &v);
    if (rc != 0) return false;
    *value = View(v);
    return true;
  }
  std::unique_ptr<KvCursor> Cursor(int table) override {
    MDB_cursor* c = nullptr;
    if (mdb_cursor_open(txn_, (*dbis_)[static_cast<size_t>(table)], &c) != 0) return nullptr;
    return std::make_unique<LmdbCursor>(c);
  }
  // Writes go through one cursor per table, kept for the transaction: LMDB then looks for a
  // key first on the leaf page the cursor is on, and walks down from the root only when the key
  // is not within that page's keys. Writes in key order (ViewStore::WriteStaged sorts them)
  // mostly land on the page of the write before; mdb_put starts from the root every time.
  bool Put(int table, std::string_view key, std::string_view value) override {
    MDB_val k = Val(key), v = Val(value);
    MDB_cursor* c = WriteCursor(table);
    if (!c) return Check(mdb_put(txn_, (*dbis_)[static_cast<size_t>(table)], &k, &v, 0), "put");
    return Check(mdb_cursor_put(c, &k, &v, 0), "put");
  }
  bool Append(int table, std::string_view key, std::string_view value) override {
    MDB_val k = Val(key), v = Val(value);
    MDB_cursor* c = WriteCursor(table);
    if (!c) {
      return Check(mdb_put(txn_, (*dbis_)[static_cast<size_t>(table)], &k, &v, MDB_APPEND),
                   "append");
    }
    return Check(mdb_cursor_put(c, &k, &v, MDB_APPEND), "append");
  }
  char* AppendReserved(int table, std::string_view key, size_t size) override {
    MDB_val k = Val(key), v{size, nullptr};
    MDB_cursor* c = WriteCursor(table);
    int rc =
        c ? mdb_cursor_put(c, &k, &v, MDB_APPEND | MDB_RESERVE)
          : mdb_put(txn_, (*dbis_)[static_cast<size_t>(table)], &k, &v, MDB_APPEND | MDB_RESERVE);
    if (!Check(rc, "append")) return nullptr;
    return static_cast<char*>(v.mv_data);
  }
  bool Delete(int table, std::string_view key) override {
    if (key.empty() || key.size() > kMaxKey) return true;  // never stored
    MDB_val k = Val(key);
    MDB_cursor* c = WriteCursor(table);
    int rc;
    if (!c) {
      rc = mdb_del(txn_, (*dbis_)[static_cast<size_t>(table)], &k, nullptr);
    } else {
      rc = mdb_cursor_get(c, &k, nullptr, MDB_SET);
      if (rc == 0) rc = mdb_cursor_del(c, 0);
    }
    if (rc == MDB_NOTFOUND) return true;
    return Check(rc, "delete");
  }
  bool Commit() override {
    CloseWriteCursors();
    int rc = mdb_txn_commit(txn_);
    txn_ = nullptr;
    return Check(rc, "commit");
  }
  bool MapFull() const override { return map_full_; }
  const std::string& error() const override { return error_; }
  bool Clear(int table) override {
    CloseWriteCursors();
    return Check(mdb_drop(txn_, (*dbis_)[static_cast<size_t>(table)], 0), "mdb_drop");
  }
  uint64_t Count(int table) override {
    MDB_stat st;
    if (mdb_stat(txn_, (*dbis_)[static_cast<size_t>(table)], &st) != 0) return 0;
    return st.ms_entries;
  }

 private:
  // The table's write cursor (nullptr in a read transaction, or when it cannot be opened).
  MDB_cursor* WriteCursor(int table) {
    if (!write_) return nullptr;
    size_t i = static_cast<size_t>(table);
    if (write_cursors_.size() <= i) write_cursors_.resize(dbis_->size(), nullptr);
    if (!write_cursors_[i] && mdb_cursor_open(txn_, (*dbis_)[i], &write_cursors_[i]) != 0) {
      write_cursors_[i] = nullptr;
    }
    return write_cursors_[i];
  }
  // Before the transaction ends (LMDB frees a write transaction's cursors with it).
  void CloseWriteCursors() {
    for (MDB_cursor*& c : write_cursors_) {
      if (c) mdb_cursor_close(c);
      c = nullptr;
    }
  }
  bool Check(int rc, const char* what) {
    if (rc == 0) return true;
    if (rc == MDB_MAP_FULL || rc == MDB_TXN_FULL) map_full_ = true;
    error_ = write_ ? WriteErr(what, rc, *dir_) : Err(what, rc);
    return false;
  }
  MDB_txn* txn_;
  const std::vector<MDB_dbi>* dbis_;
  bool write_;
  const std::string* dir_;
  ReadTxnPool* pool_;                       // a read transaction's, given back to it when done
  std::vector<MDB_cursor*> write_cursors_;  // by table, opened on first use (WriteCursor)
  bool map_full_ = false;
  std::string error_;
};

class LmdbEnv final : public KvEnv {
 public:
  ~LmdbEnv() override {
    read_pool_.Clear();
    if (env_) mdb_env_close(env_);
  }

  bool Init(const std::string& dir, const std::vector<std::string>& tables,
            const KvOptions& options, std::string* error) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      *error = "cannot create " + dir + ": " + ec.message();
      return false;
    }
    int rc = mdb_env_create(&env_);
    if (rc != 0) {
      *error = Err("mdb_env_create", rc);
      return false;
    }
    mdb_env_set_maxdbs(env_, static_cast<MDB_dbi>(options.max_tables));
    mdb_env_set_maxreaders(env_, 512);
    unsigned flags = MDB_NOTLS | MDB_NORDAHEAD;
    if (options.sync == SyncMode::kNone) flags |= MDB_NOSYNC;
    dir_ = dir;
    const std::string file = dir + "/data.mdb";
    // Start from the larger of the configured size and what the file already holds.
    size_t size = options.initial_map_bytes;
    struct stat st;
    bool existed = stat(file.c_str(), &st) == 0;
    if (existed && static_cast<size_t>(st.st_size) > size) {
      size = static_cast<size_t>(st.st_size) * 2;
    }
    // A store that is there but empty was damaged (LMDB writes its meta pages when it creates
    // the file): never taken for a new, empty view.
    if (existed && st.st_size == 0) {
      *error = file + " is damaged: the file is empty (0 bytes); restore it, or remove " + dir +
               " to rebuild the view from offset 0";
      return false;
    }
    mdb_env_set_mapsize(env_, size);
    rc = mdb_env_open(env_, dir.c_str(), flags, 0640);
    if (rc != 0) {
      *error = (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH || rc == MDB_CORRUPTED)
                   ? file + " is damaged: " + mdb_strerror(rc) + "; restore it, or remove " + dir +
                         " to rebuild the view from offset 0"
                   : Err(("cannot open LMDB in " + dir).c_str(), rc);
      return false;
    }
    MDB_envinfo info;
    mdb_env_info(env_, &info);
    map_bytes_ = info.me_mapsize;
    // Every page the store uses must be in the file: reading past a truncated file's end
    // would be a SIGBUS, so a short file is refused before any page is read.
    MDB_stat est;
    if (mdb_env_stat(env_, &est) == 0 && stat(file.c_str(), &st) == 0) {
      unsigned long long need = (static_cast<unsigned long long>(info.me_last_pgno) + 1) *
                                static_cast<unsigned long long>(est.ms_psize);
      if (static_cast<unsigned long long>(st.st_size) < need) {
        *error = file + " is damaged: the file is truncated (" + std::to_string(st.st_size) +
                 " bytes; its pages reach " + std::to_string(need) + "); restore it, or remove " +
                 dir + " to rebuild the view from offset 0";
        return false;
      }
    }
    if (existed) {
      std::string why = CheckStoreReads(dir, tables, map_bytes_, static_cast<uint64_t>(st.st_size));
      if (!why.empty()) {
        *error = file + " is damaged: " + why + "; restore it, or remove " + dir +
                 " to rebuild the view from offset 0";
        return false;
      }
    }
    MDB_txn* txn;
    rc = mdb_txn_begin(env_, nullptr, 0, &txn);
    if (rc != 0) {
      *error = Err("mdb_txn_begin", rc);
      return false;
    }
    for (const auto& t : tables) {
      MDB_dbi dbi;
      rc = OpenTable(txn, t.c_str(), MDB_CREATE, &dbi);
      if (rc != 0) {
        mdb_txn_abort(txn);
        *error = Err(("cannot open table " + t).c_str(), rc);
        return false;
      }
      dbis_.push_back(dbi);
    }
    rc = mdb_txn_commit(txn);
    if (rc != 0) {
      *error = Err("commit", rc);
      return false;
    }
    return true;
  }

  std::unique_ptr<KvTxn> BeginRead(std::string* error) override {
    MDB_txn* txn = read_pool_.Take();
    if (txn) {
      if (mdb_txn_renew(txn) == 0) {
        return std::make_unique<LmdbTxn>(txn, &dbis_, false, &dir_, &read_pool_);
      }
      mdb_txn_abort(txn);  // a new one below (after the map grew in another process, ...)
    }
    int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn);
    if (rc == MDB_MAP_RESIZED) {
      mdb_env_set_mapsize(env_, 0);
      rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn);
    }
    if (rc != 0) {
      *error = Err("read transaction", rc);
      return nullptr;
    }
    return std::make_unique<LmdbTxn>(txn, &dbis_, false, &dir_, &read_pool_);
  }

  std::unique_ptr<KvTxn> BeginWrite(std::string* error) override {
    MDB_txn* txn;
    int rc = mdb_txn_begin(env_, nullptr, 0, &txn);
    if (rc == MDB_MAP_RESIZED) {
      mdb_env_set_mapsize(env_, 0);
      rc = mdb_txn_begin(env_, nullptr, 0, &txn);
    }
    if (rc != 0) {
      *error = Err("write transaction", rc);
      return nullptr;
    }
    return std::make_unique<LmdbTxn>(txn, &dbis_, true, &dir_);
  }

  bool Grow(std::string* error) override {
    size_t next = map_bytes_ * 2;
    int rc = mdb_env_set_mapsize(env_, next);
    if (rc != 0) {
      *error = Err("cannot grow the LMDB map", rc);
      return false;
    }
    map_bytes_ = next;
    return true;
  }

  size_t map_bytes() const override { return map_bytes_; }
  void Sync() override { mdb_env_sync(env_, 1); }
  bool CopyCompact(const std::string& dir, std::string* error) override {
    int rc = mdb_env_copy2(env_, dir.c_str(), MDB_CP_COMPACT);
    if (rc != 0) {
      *error = WriteErr(("cannot copy the store to " + dir).c_str(), rc, dir);
      return false;
    }
    return true;
  }

 private:
  MDB_env* env_ = nullptr;
  ReadTxnPool read_pool_;
  std::string dir_;
  std::vector<MDB_dbi> dbis_;
  size_t map_bytes_ = 0;
};

}  // namespace

std::unique_ptr<KvEnv> KvEnv::Open(const std::string& dir, const std::vector<std::string>& tables,
                                   const KvOptions& options, std::string* error) {
  auto env = std::make_unique<LmdbEnv>();
  if (!env->Init(dir, tables, options, error)) return nullptr;
  return env;
}

}  // namespace projd
