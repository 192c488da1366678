// A view store's LMDB environment opened directly, its tables in ViewStore's order, for tests
// that leave in a store what an earlier build (or damage) would have written.
#ifndef PROJD_TESTS_STORE_ENV_H_
#define PROJD_TESTS_STORE_ENV_H_

#include <memory>
#include <string>
#include <vector>

#include "store/kv.h"

namespace projd_test {

// The tables' indexes, as ViewStore numbers them (store/view_store.cc).
enum StoreTable : int {
  kRowsTable = 0,
  kOffsetsTable,
  kMetaTable,
  kDeadTable,
  kDeadKeysTable,
  kIdsTable,
  kHistoryTable,
  kIndexTable,
  kChangesTable,
  kCorrelationsTable,
  kTextTable,
  kVersionsTable,
  kVersionListsTable
};

// `older`: only the tables of a store written before history was appended (no `versions`,
// `version_lists`).
inline std::unique_ptr<projd::KvEnv> OpenStoreEnv(const std::string& dir, bool older,
                                                  std::string* error) {
  std::vector<std::string> tables = {"rows",      "offsets",      "meta",    "dead",
                                     "dead_keys", "ids",          "history", "index",
                                     "changes",   "correlations", "text"};
  if (!older) {
    tables.push_back("versions");
    tables.push_back("version_lists");
  }
  return projd::KvEnv::Open(dir, tables, projd::KvOptions(), error);
}

}  // namespace projd_test

#endif  // PROJD_TESTS_STORE_ENV_H_
