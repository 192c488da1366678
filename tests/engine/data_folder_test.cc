// The data folder's shared files (store/data_lock.h): the lock one process holds, and a view's
// CURRENT, replaced whole.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "store/data_lock.h"
#include "tests/unit_dir.h"

namespace {

namespace fs = std::filesystem;

std::string Slurp(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("CURRENT is replaced whole, synced or not; a missing folder is an error", "[engine]") {
  fs::path dir = projd_test::FreshUnitDir("current-gen");
  std::string error;
  REQUIRE(projd::WriteCurrentGeneration(dir.string(), 1, true, &error));
  CHECK(Slurp(dir / "CURRENT") == "gen-1\n");
  REQUIRE(projd::WriteCurrentGeneration(dir.string(), 12, true, &error));
  CHECK(Slurp(dir / "CURRENT") == "gen-12\n");
  bool renamed = false;
  REQUIRE(projd::WriteCurrentGeneration(dir.string(), 13, false, &error, &renamed));
  CHECK(renamed);
  CHECK(Slurp(dir / "CURRENT") == "gen-13\n");
  CHECK_FALSE(fs::exists(dir / "CURRENT.tmp"));
  CHECK_FALSE(projd::WriteCurrentGeneration((dir / "missing").string(), 2, true, &error, &renamed));
  CHECK_FALSE(renamed);  // nothing replaced: the caller may remove the new generation
  CHECK(error.find((dir / "missing" / "CURRENT.tmp").string()) != std::string::npos);
}

TEST_CASE("the data folder's lock is held by one holder at a time", "[engine]") {
  fs::path dir = projd_test::FreshUnitDir("data-lock");
  bool held = false;
  std::string pid, error;
  int fd = projd::LockDataFolder(dir.string(), &held, &pid, &error);
  REQUIRE(fd >= 0);
  // Another open file description of the same lock is refused while the first holds it.
  int again = projd::LockDataFolder(dir.string(), &held, &pid, &error);
  CHECK(again < 0);
  CHECK(held);
  close(fd);
  int after = projd::LockDataFolder(dir.string(), &held, &pid, &error);
  CHECK(after >= 0);
  if (after >= 0) close(after);
}
