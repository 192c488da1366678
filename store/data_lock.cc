#include "store/data_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
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

}  // namespace projd
