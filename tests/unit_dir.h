// A fresh folder for a unit test's files.
#ifndef PROJD_TESTS_UNIT_DIR_H_
#define PROJD_TESTS_UNIT_DIR_H_

#include <unistd.h>

#include <filesystem>
#include <string>

namespace projd_test {

// TMPDIR/projd-unit-PID/NAME, removed if it was there, then created empty.
inline std::filesystem::path FreshUnitDir(const std::string& name) {
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("projd-unit-" + std::to_string(getpid())) / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace projd_test

#endif  // PROJD_TESTS_UNIT_DIR_H_
