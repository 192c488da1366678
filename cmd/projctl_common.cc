// projctl's shared helpers: usage errors and the server address (see projctl_common.h).
#include "cmd/projctl_common.h"

#include <cstdint>
#include <iostream>
#include <string>

namespace projctl {

// Reports a usage error of `command` (e.g. "projctl test") on stderr; returns exit code 2.
int UsageError(const std::string& command, const std::string& message) {
  std::cerr << command << ": " << message << "\nRun '" << command << " --help' for the usage.\n";
  return 2;
}

bool ParseServer(const std::string& url, Server* s) {
  std::string rest = url;
  if (rest.rfind("http://", 0) == 0) rest = rest.substr(7);
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  size_t colon = rest.rfind(':');
  if (colon == std::string::npos) {
    s->host = rest;
    s->port = 80;
    return !rest.empty();
  }
  s->host = rest.substr(0, colon);
  std::string p = rest.substr(colon + 1);
  if (p.empty() || p.find_first_not_of("0123456789") != std::string::npos || p.size() > 5) {
    return false;
  }
  s->port = static_cast<uint16_t>(std::stoi(p));
  return true;
}

}  // namespace projctl
