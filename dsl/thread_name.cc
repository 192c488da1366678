#include "dsl/thread_name.h"

#include <pthread.h>

#include <string>

namespace projd {

void NameThisThread(std::string_view prefix, std::string_view name) {
  std::string full;
  full.reserve(prefix.size() + name.size());
  full.append(prefix).append(name);
  if (full.size() > 15) full.resize(15);
  pthread_setname_np(pthread_self(), full.c_str());
}

}  // namespace projd
