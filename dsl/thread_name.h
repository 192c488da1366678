// Names for projd's threads, as `top -H`, `ps -L`, perf and gdb show them.
#ifndef PROJD_DSL_THREAD_NAME_H_
#define PROJD_DSL_THREAD_NAME_H_

#include <string_view>

namespace projd {

// Names the calling thread `prefix` + `name`, cut to the 15 bytes Linux keeps (a view's
// threads: "view/NAME" applies, "commit/NAME" writes, "read/NAME" reads ahead).
void NameThisThread(std::string_view prefix, std::string_view name = {});

}  // namespace projd

#endif  // PROJD_DSL_THREAD_NAME_H_
