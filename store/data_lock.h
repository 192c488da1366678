// The data folder's shared files. One process at a time per data folder: an exclusive flock
// on DATA/LOCK, which holds the pid of the projd that owns the folder. projd takes it for as
// long as it runs; projctl restore takes it while it writes into a stopped projd's folder.
// And a view's DATA/views/NAME/CURRENT, naming the generation that serves, which both replace.
#ifndef PROJD_STORE_DATA_LOCK_H_
#define PROJD_STORE_DATA_LOCK_H_

#include <string>

namespace projd {

// Takes the lock of the data folder `data` (creating DATA/LOCK). Returns the descriptor that
// holds it (closing it releases the lock). Returns -1 when it cannot: with *held true and
// *holder_pid the pid written in the file ("" when none) when another process holds the lock,
// else with *held false and *error saying what failed (naming the file).
int LockDataFolder(const std::string& data, bool* held, std::string* holder_pid,
                   std::string* error);

// Makes VIEW_DIR/CURRENT name generation `gen` ("gen-N"): written to CURRENT.tmp, synced,
// renamed over CURRENT, and the folder synced (the syncs skipped without `sync`). CURRENT names
// either the old or the new generation, never neither, and after a crash the one it named
// when this returned — so the other generation's folder may be deleted then. false with
// *error naming the file; *renamed (when given) says whether CURRENT was replaced all the same
// (only the folder's sync failed: after a crash CURRENT may name either generation, so neither
// folder may go).
bool WriteCurrentGeneration(const std::string& view_dir, int gen, bool sync, std::string* error,
                            bool* renamed = nullptr);

}  // namespace projd

#endif  // PROJD_STORE_DATA_LOCK_H_
