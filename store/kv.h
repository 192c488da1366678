// A thin RAII layer over LMDB: environments, named tables, transactions and cursors.
// The only place that includes lmdb.h is kv.cc.
//
// Errors are returned as false plus a message; MapFull() tells the caller that a write
// transaction ran out of map space (grow with KvEnv::Grow and redo the transaction).
// Thread-safety: a KvEnv is shared; each transaction and cursor belongs to one thread at a
// time. Read transactions are not tied to threads (MDB_NOTLS).
#ifndef PROJD_ENGINE_KV_H_
#define PROJD_ENGINE_KV_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace projd {

enum class SyncMode { kFull, kBatch, kNone };

struct KvOptions {
  size_t initial_map_bytes = size_t{1} << 30;  // virtual space only; grown by doubling when full
  SyncMode sync = SyncMode::kBatch;
  int max_tables = 16;
};

class KvCursor {
 public:
  virtual ~KvCursor() = default;
  // Positions at the first key >= `key`; false when there is none.
  virtual bool Seek(std::string_view key) = 0;
  virtual bool First() = 0;
  virtual bool Last() = 0;
  virtual bool Next() = 0;
  virtual bool Prev() = 0;
  // Deletes the entry at the cursor (write transactions only) and stands on the entry after
  // it; false when there is none, or on an error.
  virtual bool Delete() = 0;
  virtual std::string_view key() const = 0;
  virtual std::string_view value() const = 0;
};

class KvTxn {
 public:
  virtual ~KvTxn() = default;
  // Reads a key; the view stays valid until the transaction ends. false when absent.
  virtual bool Get(int table, std::string_view key, std::string_view* value) = 0;
  virtual std::unique_ptr<KvCursor> Cursor(int table) = 0;
  // Writes (write transactions only). false on error (see error()/MapFull()).
  virtual bool Put(int table, std::string_view key, std::string_view value) = 0;
  // Put of a key greater than every key of the table (LMDB fills pages to the brim instead of
  // splitting them in half); a key out of order is an error.
  virtual bool Append(int table, std::string_view key, std::string_view value) = 0;
  // Append of a value of `size` bytes that the caller writes, at the returned address, before
  // the transaction's next write (LMDB's MDB_RESERVE: the value is not copied twice). nullptr
  // on error.
  virtual char* AppendReserved(int table, std::string_view key, size_t size) = 0;
  virtual bool Delete(int table, std::string_view key) = 0;  // true also when absent
  virtual bool Commit() = 0;
  virtual bool MapFull() const = 0;
  virtual const std::string& error() const = 0;
  // Entries in a table.
  virtual uint64_t Count(int table) = 0;
  // Deletes every entry of a table (write transactions only).
  virtual bool Clear(int table) = 0;
};

class KvEnv {
 public:
  // Opens (creating) the environment in `dir` (created if missing) with the given tables.
  static std::unique_ptr<KvEnv> Open(const std::string& dir, const std::vector<std::string>& tables,
                                     const KvOptions& options, std::string* error);
  virtual ~KvEnv() = default;
  virtual std::unique_ptr<KvTxn> BeginRead(std::string* error) = 0;
  // One write transaction at a time per environment (LMDB serializes them).
  virtual std::unique_ptr<KvTxn> BeginWrite(std::string* error) = 0;
  // Doubles the map size; call with no transaction of this thread open.
  virtual bool Grow(std::string* error) = 0;
  virtual size_t map_bytes() const = 0;
  // Flushes to disk (for SyncMode::kNone at shutdown).
  virtual void Sync() = 0;
  // Writes a compacted copy of one read snapshot of the environment to `dir`/data.mdb (the
  // folder must exist and hold no data.mdb). Call with no map growth under way.
  virtual bool CopyCompact(const std::string& dir, std::string* error) = 0;
};

}  // namespace projd

#endif  // PROJD_ENGINE_KV_H_
