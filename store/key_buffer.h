// A short byte string kept across many assignments (the last row looked up, the last key a
// lookup stepped to): its buffer only grows, so assigning is one copy, without the general
// replace that std::string::assign goes through.
#ifndef PROJD_STORE_KEY_BUFFER_H_
#define PROJD_STORE_KEY_BUFFER_H_

#include <algorithm>
#include <cstring>
#include <memory>
#include <string_view>

namespace projd {

class KeyBuffer {
 public:
  void assign(std::string_view v) {
    if (v.size() > cap_) {
      cap_ = std::max<size_t>({v.size(), 2 * cap_, 32});
      data_.reset(new char[cap_]);
    }
    if (!v.empty()) std::memcpy(data_.get(), v.data(), v.size());
    size_ = v.size();
  }
  std::string_view view() const { return std::string_view(data_.get(), size_); }

 private:
  std::unique_ptr<char[]> data_;
  size_t size_ = 0, cap_ = 0;
};

}  // namespace projd

#endif  // PROJD_STORE_KEY_BUFFER_H_
