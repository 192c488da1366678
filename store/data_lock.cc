#include "store/data_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace projd {

int LockDataFolder(const std::string& data, bool* held, std::string* holder_pid,
                   std::string* error) {
  *held = false;
  holder_pid->clear();
  std::string path = data + "/LOCK";
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    *error = "cannot open " + path + ": " + strerror(errno);
    return -1;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) == 0) return fd;
  int err = errno;
  char buf[32] = {0};
  ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
  close(fd);
  if (err != EWOULDBLOCK) {
    *error = "cannot lock " + path + ": " + strerror(err);
    return -1;
  }
  *held = true;
  if (n > 0) holder_pid->assign(buf, static_cast<size_t>(n));
  while (!holder_pid->empty() && (holder_pid->back() == '\n' || holder_pid->back() == ' ')) {
    holder_pid->pop_back();
  }
  return -1;
}

bool WriteCurrentGeneration(const std::string& view_dir, int gen, bool sync, std::string* error,
                            bool* renamed) {
  if (renamed) *renamed = false;
  const std::string tmp = view_dir + "/CURRENT.tmp";
  const std::string current = view_dir + "/CURRENT";
  const std::string text = "gen-" + std::to_string(gen) + "\n";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  bool ok = fd >= 0 && write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            (!sync || fsync(fd) == 0);
  if (fd >= 0) ok = close(fd) == 0 && ok;
  if (!ok) {
    *error = "cannot write " + tmp + ": " + strerror(errno);
    return false;
  }
  if (rename(tmp.c_str(), current.c_str()) != 0) {
    *error = "cannot write " + current + ": " + strerror(errno);
    return false;
  }
  if (renamed) *renamed = true;
  if (!sync) return true;
  int dir = open(view_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  bool synced = dir >= 0 && fsync(dir) == 0;
  int err = errno;
  if (dir >= 0) close(dir);
  if (!synced) {
    *error = "cannot sync " + view_dir + ": " + strerror(err);
    return false;
  }
  return true;
}

}  // namespace projd
