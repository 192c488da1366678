// projctl watch (cmd/projctl_watch.cc): a view's change feed, printed as NDJSON, followed
// across dropped connections.
#ifndef PROJD_CMD_PROJCTL_WATCH_H_
#define PROJD_CMD_PROJCTL_WATCH_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace projctl {

// Prints the changes of `view` until Ctrl-C or SIGTERM (0), an error (1) or a rebuild with a
// changed definition (3). `from`: where to start ("" is projd's now); `filters`: where=, key=.
// `timeout_ms`: how long connecting, sending the request and the answer's head may take.
int Watch(const std::string& host, uint16_t port, const std::string& token, const std::string& view,
          const std::string& from, const std::vector<std::pair<std::string, std::string>>& filters,
          int timeout_ms);

}  // namespace projctl

#endif  // PROJD_CMD_PROJCTL_WATCH_H_
