// File helpers shared by the golden test runners (language cases and query cases).
#ifndef PROJD_TESTS_DSL_GOLDEN_FILES_H_
#define PROJD_TESTS_DSL_GOLDEN_FILES_H_

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace projd_test {

inline std::string Slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Without trailing newlines, spaces and carriage returns.
inline std::string TrimTrailing(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

// The files of tests/FOLDER with the extension `ext` (".proj"), sorted: one case each.
inline std::vector<std::filesystem::path> GoldenCases(const std::string& folder,
                                                      const std::string& ext) {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::directory_iterator(std::filesystem::path(PROJD_SOURCE_DIR) /
                                                           "tests" / folder)) {
    if (e.path().extension() == ext) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace projd_test

#endif  // PROJD_TESTS_DSL_GOLDEN_FILES_H_
