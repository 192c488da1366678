// The value model: Object (members sorted by name) and Value. JSON and the binary encoding are
// in value_json_read.cc, value_json_write.cc and value_binary.cc.
#include "dsl/value.h"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "dsl/value_internal.h"

namespace projd {
namespace {

using u128 = unsigned __int128;

bool NameLess(const Object::Member& m, std::string_view name) {
  // string_view compares through char_traits<char>, i.e. as unsigned bytes.
  return std::string_view(m.first) < name;
}

bool MembersSorted(const Object::Member* m, size_t n) {
  for (size_t i = 1; i < n; ++i) {
    if (!(std::string_view(m[i - 1].first) < std::string_view(m[i].first))) return false;
  }
  return true;
}

}  // namespace

namespace value_internal {

std::vector<Object::Member> SortMembers(Object::Member* m, size_t n) {
  std::vector<Object::Member> out;
  out.reserve(n);
  if (MembersSorted(m, n)) {
    for (size_t i = 0; i < n; ++i) out.push_back(std::move(m[i]));
    return out;
  }
  constexpr size_t kSmall = 32;
  uint32_t small[kSmall];
  std::vector<uint32_t> large;
  uint32_t* idx = small;
  if (n > kSmall) {
    large.resize(n);
    idx = large.data();
  }
  for (size_t i = 0; i < n; ++i) idx[i] = static_cast<uint32_t>(i);
  // Both sorts are stable: equal names stay in input order, so the last of a run wins.
  auto less = [m](uint32_t a, uint32_t b) {
    return std::string_view(m[a].first) < std::string_view(m[b].first);
  };
  if (n <= kSmall) {
    for (size_t i = 1; i < n; ++i) {
      uint32_t cur = idx[i];
      size_t j = i;
      for (; j > 0 && less(cur, idx[j - 1]); --j) idx[j] = idx[j - 1];
      idx[j] = cur;
    }
  } else {
    std::stable_sort(idx, idx + n, less);
  }
  for (size_t i = 0; i < n; ++i) {
    if (i + 1 < n && m[idx[i]].first == m[idx[i + 1]].first) continue;
    out.push_back(std::move(m[idx[i]]));
  }
  return out;
}

}  // namespace value_internal

// ---------------------------------------------------------------------------------------------
// Object

Object Object::FromMembers(std::vector<Member> members) {
  Object o;
  if (MembersSorted(members.data(), members.size())) {
    o.members_ = std::move(members);
  } else {
    o.members_ = value_internal::SortMembers(members.data(), members.size());
  }
  return o;
}

namespace {

// The member named `name` in sorted members [b, e), or e. Small objects (rows, events) are
// scanned comparing sizes first, which beats a binary search of string comparisons.
template <typename It>
It FindMember(It b, It e, std::string_view name) {
  if (e - b <= 16) {
    for (It it = b; it != e; ++it) {
      if (it->first.size() == name.size() &&
          SameBytes(it->first.data(), name.data(), name.size())) {
        return it;
      }
    }
    return e;
  }
  It it = std::lower_bound(b, e, name, NameLess);
  return it != e && it->first == name ? it : e;
}

}  // namespace

const Value* Object::Find(std::string_view name) const {
  auto it = FindMember(members_.begin(), members_.end(), name);
  return it != members_.end() ? &it->second : nullptr;
}

Value* Object::Find(std::string_view name) {
  auto it = FindMember(members_.begin(), members_.end(), name);
  return it != members_.end() ? &it->second : nullptr;
}

Value& Object::Set(std::string_view name, Value v) {
  auto it = FindMember(members_.begin(), members_.end(), name);
  if (it != members_.end()) {
    it->second = std::move(v);
    return it->second;
  }
  it = std::lower_bound(members_.begin(), members_.end(), name, NameLess);
  return members_.emplace(it, std::string(name), std::move(v))->second;
}

bool Object::Erase(std::string_view name) {
  // FindMember: a row's `unset` of a field it does not have (the usual case) costs a scan of
  // the sizes, not a binary search of string comparisons.
  auto it = FindMember(members_.begin(), members_.end(), name);
  if (it == members_.end()) return false;
  members_.erase(it);
  return true;
}

bool Object::operator==(const Object& o) const { return members_ == o.members_; }

// ---------------------------------------------------------------------------------------------
// Value

Value::Value(const Value& o) { CopyFrom(o); }

Value& Value::operator=(const Value& o) {
  // Copy first: `o` may live inside this value (v = v.as_array()[0]).
  Value copy(o);
  return *this = std::move(copy);
}

void Value::Destroy() {
  switch (type_) {
    case Type::kString:
      delete payload_.string;
      break;
    case Type::kArray:
      delete payload_.array;
      break;
    case Type::kObject:
      delete payload_.object;
      break;
    default:
      break;
  }
  type_ = Type::kNull;
}

// Requires *this to hold no payload (null).
void Value::CopyFrom(const Value& o) {
  switch (o.type_) {
    case Type::kString:
      payload_.string = new std::string(*o.payload_.string);
      break;
    case Type::kArray:
      payload_.array = new Array(*o.payload_.array);
      break;
    case Type::kObject:
      payload_.object = new Object(*o.payload_.object);
      break;
    default:
      payload_ = o.payload_;
      break;
  }
  type_ = o.type_;
}

Value Value::String(std::string s) {
  Value v;
  v.payload_.string = new std::string(std::move(s));
  v.type_ = Type::kString;
  return v;
}

void Value::SetString(std::string_view s) {
  if (type_ == Type::kString) {
    std::string& t = *payload_.string;
    // The same length as before (an event's ids, codes and times mostly are): the bytes are
    // copied over the old ones, without a call into the string's general replace. memmove,
    // as `s` may lie inside `t`.
    if (t.size() == s.size()) {
      if (!s.empty()) std::memmove(t.data(), s.data(), s.size());
      return;
    }
    // clear + append copies without assign's general replace (which allows for `s` inside
    // `t`; clear would overwrite its first byte, so that case still assigns).
    auto at = [](const char* p) { return reinterpret_cast<uintptr_t>(p); };
    if (at(s.data()) >= at(t.data() + t.size()) || at(s.data() + s.size()) <= at(t.data())) {
      t.clear();
      t.append(s.data(), s.size());
    } else {
      t.assign(s.data(), s.size());
    }
    return;
  }
  *this = String(std::string(s));
}

Value Value::MakeArray(Array a) {
  Value v;
  v.payload_.array = new Array(std::move(a));
  v.type_ = Type::kArray;
  return v;
}

Value Value::MakeObject(Object o) {
  Value v;
  v.payload_.object = new Object(std::move(o));
  v.type_ = Type::kObject;
  return v;
}

bool Value::operator==(const Value& o) const {
  if (type_ != o.type_) return false;
  switch (type_) {
    case Type::kNull:
      return true;
    case Type::kBool:
      return payload_.boolean == o.payload_.boolean;
    case Type::kNumber:
      return payload_.number[0] == o.payload_.number[0] &&
             payload_.number[1] == o.payload_.number[1];
    case Type::kString:
      return *payload_.string == *o.payload_.string;
    case Type::kArray:
      return *payload_.array == *o.payload_.array;
    case Type::kObject:
      return *payload_.object == *o.payload_.object;
  }
  return false;
}

const char* Value::TypeName(Type t) {
  switch (t) {
    case Type::kNull:
      return "null";
    case Type::kBool:
      return "bool";
    case Type::kNumber:
      return "number";
    case Type::kString:
      return "string";
    case Type::kArray:
      return "array";
    case Type::kObject:
      return "object";
  }
  return "unknown";
}

}  // namespace projd
