// Tests of api/auth.h: the token file's permissions and the Authorization header.
#include "api/auth.h"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace projd {
namespace {

// A token file in a fresh folder, with the given mode; removed with its folder at the end.
class AuthFile {
 public:
  explicit AuthFile(mode_t mode, const std::string& text =
                                     "[[token]]\ntoken = \"adm\"\nrole = \"admin\"\n\n"
                                     "[[token]]\ntoken = \"rd\"\nrole = "
                                     "\"reader\"\nviews = [\"a\"]\n") {
    char tmpl[] = "/tmp/projd-auth-test-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/auth.toml";
    {
      std::ofstream out(path_);
      out << text;
    }
    REQUIRE(chmod(path_.c_str(), mode) == 0);
  }
  ~AuthFile() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  AuthFile(const AuthFile&) = delete;
  AuthFile& operator=(const AuthFile&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string dir_;
  std::string path_;
};

}  // namespace

TEST_CASE("the auth file is refused when group or others may read or write it", "[engine][auth]") {
  struct Case {
    mode_t mode;
    const char* mode_text;
    const char* what;
  };
  for (const Case& c : {Case{0604, "0604", "can be read by other users"},
                        Case{0644, "0644", "can be read by other users"},
                        Case{0640, "0640", "can be read by other users"},
                        Case{0620, "0620", "can be written by other users"},
                        Case{0602, "0602", "can be written by other users"},
                        Case{0666, "0666", "can be read by other users"}}) {
    AuthFile file(c.mode);
    std::string error;
    INFO("mode " << c.mode_text);
    CHECK(Auth::Load(file.path(), &error) == nullptr);
    INFO(error);
    CHECK(error.find("auth file " + file.path()) == 0);
    CHECK(error.find(c.what) != std::string::npos);
    CHECK(error.find(std::string("mode ") + c.mode_text) != std::string::npos);
    CHECK(error.find("chmod go-rw " + file.path()) != std::string::npos);
  }
  for (mode_t mode : {0600, 0400, 0700}) {
    AuthFile file(mode);
    std::string error;
    INFO("mode " << mode);
    CHECK(Auth::Load(file.path(), &error) != nullptr);
    CHECK(error.empty());
  }
}

TEST_CASE("the Bearer scheme is matched without regard to case", "[engine][auth]") {
  AuthFile file(0600);
  std::string error;
  std::unique_ptr<Auth> auth = Auth::Load(file.path(), &error);
  INFO(error);
  REQUIRE(auth != nullptr);

  for (const char* header : {"Bearer adm", "bearer adm", "BEARER adm", "bEaReR adm", "Bearer   adm",
                             "bearer\tadm", "Bearer \t adm"}) {
    INFO(header);
    const Principal* p = auth->Check(header);
    REQUIRE(p != nullptr);
    CHECK(p->role == Role::kAdmin);
  }
  const Principal* reader = auth->Check("BEARER rd");
  REQUIRE(reader != nullptr);
  CHECK(reader->role == Role::kReader);
  CHECK(reader->CanRead("a"));
  CHECK_FALSE(reader->CanRead("b"));

  for (const char* header :
       {"", "Bearer", "Bearer ", "Bearer   ", "Bearer adm2", "Bearer  ad", "Beareradm", "Basic adm",
        "Bearer adm extra", "adm", " Bearer adm", "Token adm"}) {
    INFO("'" << header << "'");
    CHECK(auth->Check(header) == nullptr);
  }
}

}  // namespace projd

namespace projd {

TEST_CASE("the auth file refuses keys it does not know: a misspelt one opens nothing",
          "[engine][auth]") {
  struct Case {
    const char* text;
    const char* error;
  };
  for (const Case& c : {
           // `view` for `views` would have let the reader read every view.
           Case{"[[token]]\ntoken = \"r\"\nrole = \"reader\"\nview = [\"daily_volume\"]\n",
                "token 1: unknown key 'view'"},
           Case{"[[token]]\ntoken = \"a\"\nrole = \"admin\"\nbogus = 1\n",
                "token 1: unknown key 'bogus'"},
           Case{"[[token]]\ntoken = \"a\"\nrole = \"admin\"\n[[tokens]]\ntoken = \"b\"\n",
                "unknown key 'tokens'"},
           Case{"roles = 1\n[[token]]\ntoken = \"a\"\nrole = \"admin\"\n", "unknown key 'roles'"},
       }) {
    AuthFile file(0600, c.text);
    std::string error;
    INFO(c.text);
    CHECK(Auth::Load(file.path(), &error) == nullptr);
    CHECK(error.find(c.error) != std::string::npos);
    CHECK(error.find(file.path()) == 0);
  }
  AuthFile good(0600,
                "[[token]]\nsha256 = \"" + std::string(64, 'a') +
                    "\"\nrole = \"reader\"\nviews = [\"v\"]\n[[token]]\ntoken = \"m\"\nrole = "
                    "\"metrics\"\n");
  std::string error;
  CHECK(Auth::Load(good.path(), &error) != nullptr);
}

}  // namespace projd
