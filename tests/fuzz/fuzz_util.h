// Helpers shared by the libFuzzer targets of tests/fuzz (see scripts/fuzz.sh).
#ifndef PROJD_TESTS_FUZZ_FUZZ_UTIL_H_
#define PROJD_TESTS_FUZZ_FUZZ_UTIL_H_

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace projd_fuzz {

// A failed invariant: print it and abort, so libFuzzer keeps the input as a crash.
#define FUZZ_CHECK(cond, what)                                             \
  do {                                                                     \
    if (!(cond)) {                                                         \
      std::fprintf(stderr, "fuzz check failed: %s (%s)\n", #cond, (what)); \
      std::abort();                                                        \
    }                                                                      \
  } while (0)

inline std::string Slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "fuzz setup: cannot read %s\n", p.c_str());
    std::abort();
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::filesystem::path SourceDir() { return std::filesystem::path(PROJD_SOURCE_DIR); }

// A fresh folder for this process's files, removed at exit.
inline const std::string& ScratchDir() {
  static const std::string dir = [] {
    std::string templ = (std::filesystem::temp_directory_path() / "projd-fuzz-XXXXXX").string();
    if (!mkdtemp(templ.data())) {
      std::perror("fuzz setup: mkdtemp");
      std::abort();
    }
    static std::string to_remove = templ;
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(to_remove, ec);
    });
    return templ;
  }();
  return dir;
}

}  // namespace projd_fuzz

#endif  // PROJD_TESTS_FUZZ_FUZZ_UTIL_H_
