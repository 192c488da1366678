// projctl's commands that move a whole file: history --csv and snapshot stream an answer that
// may not fit in memory from projd (Download), and restore installs a snapshot in the data
// folder of a stopped projd (see projctl_common.h).
#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "api/http_server.h"
#include "cmd/projctl_common.h"
#include "dsl/value.h"
#include "store/data_lock.h"
#include "store/view_store.h"

namespace projctl {
namespace {

using projd::Value;
namespace fs = std::filesystem;

// Sends a GET and writes the answer's body to `fd` as it arrives (a body that may not fit in
// memory). Returns the status (0 when the exchange failed, *error says why); *headers get the
// answer's fields (names lower-cased), and an error answer's body goes to *error_body instead.
int Download(const Server& s, const std::string& target, int fd,
             std::vector<std::pair<std::string, std::string>>* headers, std::string* error_body,
             std::string* error) {
  struct addrinfo hints = {}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(s.host.c_str(), std::to_string(s.port).c_str(), &hints, &res) != 0 || !res) {
    *error = "cannot resolve " + s.host;
    return 0;
  }
  int sock = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
  if (sock >= 0) {
    // --timeout bounds the connect, each send and each wait for more of the answer (a large
    // answer may take longer as a whole, as long as it keeps coming).
    struct timeval tv;
    tv.tv_sec = s.timeout_ms / 1000;
    tv.tv_usec = (s.timeout_ms % 1000) * 1000;
    setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  }
  bool connected = sock >= 0 && connect(sock, res->ai_addr, res->ai_addrlen) == 0;
  freeaddrinfo(res);
  auto fail = [&](const std::string& why) {
    if (sock >= 0) close(sock);
    *error = why;
    return 0;
  };
  if (!connected) return fail(std::string("cannot connect: ") + strerror(errno));
  std::string request = "GET " + target + " HTTP/1.1\r\nHost: " + s.host + ":" +
                        std::to_string(s.port) + "\r\nConnection: close\r\n";
  if (!s.token.empty()) request += "Authorization: Bearer " + s.token + "\r\n";
  request += "\r\n";
  if (send(sock, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    return fail("cannot send the request");
  }
  std::string head;
  std::vector<char> buf(1 << 20);
  size_t head_end = std::string::npos;
  while (head_end == std::string::npos) {
    ssize_t n = recv(sock, buf.data(), buf.size(), 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return fail("no answer within " + std::to_string(s.timeout_ms) + " ms (--timeout)");
    }
    if (n <= 0) return fail("the connection closed before the answer's head");
    head.append(buf.data(), static_cast<size_t>(n));
    head_end = head.find("\r\n\r\n");
    if (head_end == std::string::npos && head.size() > (1 << 20))
      return fail("answer head too long");
  }
  std::string rest = head.substr(head_end + 4);
  head.resize(head_end);
  int status = head.size() > 12 ? std::atoi(head.c_str() + 9) : 0;
  uint64_t length = 0;
  bool has_length = false;
  std::istringstream lines(head);
  std::string line;
  std::getline(lines, line);  // the status line
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon), value = line.substr(colon + 1);
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    value.erase(0, value.find_first_not_of(' '));
    if (name == "content-length") {
      length = std::strtoull(value.c_str(), nullptr, 10);
      has_length = true;
    }
    headers->emplace_back(name, value);
  }
  uint64_t got = 0;
  auto take = [&](const char* data, size_t n) {
    got += n;
    if (status >= 400) {
      error_body->append(data, n);
      return true;
    }
    for (size_t done = 0; done < n;) {
      ssize_t w = write(fd, data + done, n - done);
      if (w <= 0) return false;
      done += static_cast<size_t>(w);
    }
    return true;
  };
  if (!take(rest.data(), rest.size())) return fail(std::string("cannot write: ") + strerror(errno));
  while (!has_length || got < length) {
    ssize_t n = recv(sock, buf.data(), buf.size(), 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return fail("nothing more of the answer for " + std::to_string(s.timeout_ms) +
                  " ms (--timeout)");
    }
    if (n < 0) return fail(std::string("reading the answer: ") + strerror(errno));
    if (n == 0) break;
    if (!take(buf.data(), static_cast<size_t>(n))) {
      return fail(std::string("cannot write: ") + strerror(errno));
    }
  }
  close(sock);
  if (has_length && got != length) {
    *error = "the answer ended after " + std::to_string(got) + " of " + std::to_string(length) +
             " bytes";
    return 0;
  }
  return status;
}

std::string HeaderOf(const std::vector<std::pair<std::string, std::string>>& headers,
                     const std::string& name) {
  for (const auto& [n, v] : headers) {
    if (n == name) return v;
  }
  return "";
}

// Takes the data folder's lock as projd does (flock LOCK_EX|LOCK_NB on DATA/LOCK). Returns the
// descriptor that holds it, or -1 after printing why (naming the running projd's pid).
int TakeRestoreLock(const std::string& data) {
  bool held;
  std::string pid, error;
  int fd = projd::LockDataFolder(data, &held, &pid, &error);
  if (fd >= 0) return fd;
  if (held) {
    std::cerr << "projctl restore: " << data << " is in use by a running projd"
              << (pid.empty() ? "" : " (pid " + pid + ")") << ", which holds " << data
              << "/LOCK; stop it first\n";
  } else {
    std::cerr << "projctl restore: " << error << "\n";
  }
  return -1;
}

// The highest gen-N folder of a view's folder (0 when there is none).
int HighestGeneration(const std::string& view_dir) {
  int highest = 0;
  std::error_code ec;
  for (auto it = fs::directory_iterator(view_dir, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.rfind("gen-", 0) == 0 && name.size() > 4 && name.size() < 12 &&
        name.find_first_not_of("0123456789", 4) == std::string::npos) {
      highest = std::max(highest, std::stoi(name.substr(4)));
    }
  }
  return highest;
}

// Opens the copied store, marks it as restored and reads its position and definition hash.
bool MarkRestored(const std::string& gen_dir, const std::string& file, std::string* position,
                  std::string* hash, std::string* error) {
  auto store = projd::ViewStore::Open(gen_dir, projd::KvOptions(), error);
  if (!store) {
    // The store opened is the copy of `file`: the file is what is damaged, and nothing was
    // installed (the copy goes).
    *error = file + " is not a usable snapshot: " + *error;
    const std::string copy = gen_dir + "/data.mdb";
    for (size_t at; (at = error->find(copy)) != std::string::npos;) {
      error->replace(at, copy.size(), "its store");
    }
    const size_t advice = error->find("; restore it, or remove");
    if (advice != std::string::npos) error->erase(advice);
    return false;
  }
  *hash = store->GetMeta("definition_hash");
  if (hash->empty()) {
    *error = file + " is not a snapshot of a projd view (it has no definition hash)";
    return false;
  }
  *position = store->Positions().ToString();
  // projd checks the mark at its next start: a snapshot of another definition is refused.
  return store->PutMeta("restored_from_snapshot", fs::absolute(file).string(), error);
}

}  // namespace

// projctl history VIEW KEY --csv: the CSV projd writes (?format=csv), as it comes, on stdout.
int HistoryCsvCommand(const Server& s, const std::string& path, int limit) {
  std::string target = path + "?format=csv" + (limit > 0 ? "&limit=" + std::to_string(limit) : "");
  std::vector<std::pair<std::string, std::string>> headers;
  std::string error_body, error;
  int st = Download(s, target, STDOUT_FILENO, &headers, &error_body, &error);
  if (st == 0) {
    std::cerr << "projctl: cannot get the CSV from projd at " << s.host << ":" << s.port << ": "
              << error << "\n";
  } else if (st != 200) {
    Value body;
    std::string perr, detail;
    const Value* e = nullptr;
    if (projd::ParseJson(error_body, &body, &perr) && body.is_object()) {
      e = body.as_object().Find("error");
      const Value* d = body.as_object().Find("detail");
      if (d && !d->is_null()) detail = d->is_string() ? d->as_string() : projd::ToJson(*d);
    }
    std::cerr << "projctl: " << st << " " << (e && e->is_string() ? e->as_string() : error_body)
              << (detail.empty() ? "" : ": " + detail) << "\n";
  }
  return st == 200 ? 0 : 1;
}

// projctl snapshot VIEW -o FILE: the view's store, as projd streams it, into FILE.
int SnapshotCommand(const Server& s, const std::string& view, const std::string& out) {
  std::string tmp = out + ".part";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) {
    std::cerr << "projctl snapshot: cannot write " << tmp << ": " << strerror(errno) << "\n";
    return 1;
  }
  std::vector<std::pair<std::string, std::string>> headers;
  std::string error_body, error;
  int st = Download(s, "/v1/views/" + projd::PercentEncode(view) + "/snapshot", fd, &headers,
                    &error_body, &error);
  bool synced = fsync(fd) == 0;
  close(fd);
  if (st != 200 || !synced) {
    unlink(tmp.c_str());
    if (st == 0) {
      std::cerr << "projctl: cannot reach projd at " << s.host << ":" << s.port << ": " << error
                << "\n";
    } else if (st != 200) {
      std::cerr << "projctl: " << st << " " << error_body << "\n";
    } else {
      std::cerr << "projctl snapshot: cannot write " << tmp << ": " << strerror(errno) << "\n";
    }
    return 1;
  }
  if (rename(tmp.c_str(), out.c_str()) != 0) {
    std::cerr << "projctl snapshot: cannot write " << out << ": " << strerror(errno) << "\n";
    return 1;
  }
  std::cout << "snapshot of " << view << " written to " << out << "\n"
            << "position " << HeaderOf(headers, "x-projd-position") << "\n"
            << "definition_hash " << HeaderOf(headers, "x-projd-definition-hash") << "\n";
  return 0;
}

// projctl restore --data DIR VIEW FILE: installs a snapshot as the view's next generation in
// the data folder of a stopped projd, which then resumes from the snapshot's offsets.
int Restore(const std::string& data, const std::string& view, const std::string& file) {
  bool identifier = !view.empty() && !(view[0] >= '0' && view[0] <= '9') &&
                    view.find_first_not_of(
                        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789_") == std::string::npos;
  if (!identifier) return UsageError("projctl restore", "'" + view + "' is not a view name");
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) {
    std::cerr << file << ": cannot read file\n";
    return 1;
  }
  std::string view_dir = data + "/views/" + view;
  fs::create_directories(view_dir, ec);
  if (ec) {
    std::cerr << "projctl restore: cannot create " << view_dir << ": " << ec.message() << "\n";
    return 1;
  }
  int lock = TakeRestoreLock(data);
  if (lock < 0) return 1;
  int gen = HighestGeneration(view_dir) + 1;
  std::string gen_dir = view_dir + "/gen-" + std::to_string(gen);
  std::string position, hash, error;
  bool renamed = false;  // CURRENT replaced (it may name gen_dir even if an error follows)
  fs::create_directories(gen_dir, ec);
  if (!ec) fs::copy_file(file, gen_dir + "/data.mdb", fs::copy_options::overwrite_existing, ec);
  if (ec) error = "cannot copy " + file + " into " + gen_dir + ": " + ec.message();
  if (!ec && MarkRestored(gen_dir, file, &position, &hash, &error)) {
    // CURRENT names the new generation, durably before the old ones go (as projd swaps).
    projd::WriteCurrentGeneration(view_dir, gen, true, &error, &renamed);
  } else if (error.empty()) {
    error = "cannot open " + gen_dir;
  }
  if (!ec && error.empty()) {
    // The older generations and a pending rebuild belonged to the replaced view.
    fs::remove(view_dir + "/REBUILD", ec);
    for (int g = 1; g < gen; ++g) fs::remove_all(view_dir + "/gen-" + std::to_string(g), ec);
  } else if (!renamed) {
    fs::remove_all(gen_dir, ec);
  }
  close(lock);
  if (!error.empty()) {
    std::cerr << "projctl restore: " << error << "\n";
    return 1;
  }
  std::cout << "restored " << view << " into " << gen_dir << "\nposition " << position
            << "\ndefinition_hash " << hash << "\n";
  return 0;
}

}  // namespace projctl
