// The binary encoding of Values for storage: EncodeBinary and DecodeBinary of dsl/value.h.
#include <cstring>
#include <string>

#include "dsl/value.h"
#include "dsl/varint.h"

namespace projd {
namespace {

using u128 = unsigned __int128;

// Binary encoding: one tag byte, then
//   number: 16 bytes, the raw two's-complement value, little-endian;
//   string: varint byte length, bytes;
//   array:  varint count, elements;
//   object: varint count, then per member varint name length, name bytes, value.
// Varints are LEB128 (7 bits per byte, low first).

enum BinaryTag : uint8_t {
  kTagNull = 0,
  kTagFalse = 1,
  kTagTrue = 2,
  kTagNumber = 3,
  kTagString = 4,
  kTagArray = 5,
  kTagObject = 6,
};

// Raw Decimal magnitudes stay below 10^38 (values below 10^20).
constexpr u128 kRawLimit = static_cast<u128>(10000000000000000000ULL) * 10000000000000000000ULL;

// Deeper than any JSON input (64) plus the levels rows and lists add around event values.
constexpr int kMaxBinaryDepth = 256;

// Encoding is two passes: the size, then the bytes written through a pointer into a string
// resized once (an append per tag, varint and name cost a capacity check and a call each; a
// row is encoded for every event a view applies).

size_t EncodedSize(const Value& v);

size_t EncodedObjectSize(const Object& o) {
  size_t n = 1 + VarintSize(o.size());
  for (const auto& [name, item] : o.members()) {
    n += VarintSize(name.size()) + name.size() + EncodedSize(item);
  }
  return n;
}

size_t EncodedSize(const Value& v) {
  switch (v.type()) {
    case Value::Type::kNull:
    case Value::Type::kBool:
      return 1;
    case Value::Type::kNumber:
      return 17;
    case Value::Type::kString: {
      size_t len = v.as_string().size();
      return 1 + VarintSize(len) + len;
    }
    case Value::Type::kArray: {
      size_t n = 1 + VarintSize(v.as_array().size());
      for (const Value& item : v.as_array()) n += EncodedSize(item);
      return n;
    }
    case Value::Type::kObject:
      return EncodedObjectSize(v.as_object());
  }
  return 0;
}

// Room for n bytes at p before end (always, when not bounded).
template <bool kBounded>
bool Room(const char* p, const char* end, size_t n) {
  return !kBounded || static_cast<size_t>(end - p) >= n;
}

// The writers: bounded, they return nullptr instead of writing past `end` (the bytes before
// it are then unspecified); unbounded, the caller made room for EncodedSize bytes.
template <bool kBounded>
char* WriteValue(const Value& v, char* p, const char* end);

template <bool kBounded>
char* WriteObject(const Object& o, char* p, const char* end) {
  if (!Room<kBounded>(p, end, 1 + VarintSize(o.size()))) return nullptr;
  *p++ = static_cast<char>(kTagObject);
  p = WriteVarint(p, o.size());
  for (const auto& [name, item] : o.members()) {
    if (!Room<kBounded>(p, end, VarintSize(name.size()) + name.size())) return nullptr;
    p = WriteVarint(p, name.size());
    p = WriteBytes(p, name);
    p = WriteValue<kBounded>(item, p, end);
    if (kBounded && !p) return nullptr;
  }
  return p;
}

template <bool kBounded>
char* WriteValue(const Value& v, char* p, const char* end) {
  switch (v.type()) {
    case Value::Type::kNull:
      if (!Room<kBounded>(p, end, 1)) return nullptr;
      *p++ = static_cast<char>(kTagNull);
      return p;
    case Value::Type::kBool:
      if (!Room<kBounded>(p, end, 1)) return nullptr;
      *p++ = static_cast<char>(v.as_bool() ? kTagTrue : kTagFalse);
      return p;
    case Value::Type::kNumber: {
      if (!Room<kBounded>(p, end, 17)) return nullptr;
      u128 raw = static_cast<u128>(v.as_number().raw());
      *p++ = static_cast<char>(kTagNumber);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
      std::memcpy(p, &raw, 16);  // the bytes the loop below writes, in one store
#else
      for (int i = 0; i < 16; ++i) p[i] = static_cast<char>(raw >> (8 * i));
#endif
      return p + 16;
    }
    case Value::Type::kString: {
      const std::string& s = v.as_string();
      if (!Room<kBounded>(p, end, 1 + VarintSize(s.size()) + s.size())) return nullptr;
      *p++ = static_cast<char>(kTagString);
      p = WriteVarint(p, s.size());
      return WriteBytes(p, s);
    }
    case Value::Type::kArray:
      if (!Room<kBounded>(p, end, 1 + VarintSize(v.as_array().size()))) return nullptr;
      *p++ = static_cast<char>(kTagArray);
      p = WriteVarint(p, v.as_array().size());
      for (const Value& item : v.as_array()) {
        p = WriteValue<kBounded>(item, p, end);
        if (kBounded && !p) return nullptr;
      }
      return p;
    case Value::Type::kObject:
      return WriteObject<kBounded>(v.as_object(), p, end);
  }
  return p;
}

void Encode(const Value& v, std::string* out) {
  size_t at = out->size();
  size_t size = EncodedSize(v);
  out->resize(at + size);
  WriteValue<false>(v, out->data() + at, nullptr);
}

void EncodeObject(const Object& o, std::string* out) {
  size_t at = out->size();
  size_t size = EncodedObjectSize(o);
  out->resize(at + size);
  WriteObject<false>(o, out->data() + at, nullptr);
}

class BinaryReader {
 public:
  explicit BinaryReader(std::string_view data) : data_(data) {}

  bool AtEnd() const { return pos_ == data_.size(); }

  bool ReadValue(int depth, Value* out) {
    if (pos_ >= data_.size()) return false;
    uint8_t tag = static_cast<uint8_t>(data_[pos_++]);
    switch (tag) {
      case kTagNull:
        *out = Value();
        return true;
      case kTagFalse:
      case kTagTrue:
        *out = Value::Bool(tag == kTagTrue);
        return true;
      case kTagNumber: {
        Decimal d;
        if (!ReadNumber(&d)) return false;
        *out = Value::Number(d);
        return true;
      }
      case kTagString: {
        std::string_view s;
        if (!ReadBytes(&s)) return false;
        *out = Value::String(std::string(s));
        return true;
      }
      case kTagArray: {
        uint64_t count;
        // Each element takes at least one byte, which bounds the reservation below.
        if (depth >= kMaxBinaryDepth || !ReadVarint(&count) || count > data_.size() - pos_) {
          return false;
        }
        Array items;
        items.reserve(count);
        for (uint64_t i = 0; i < count; ++i) {
          items.emplace_back();
          if (!ReadValue(depth + 1, &items.back())) return false;
        }
        *out = Value::MakeArray(std::move(items));
        return true;
      }
      case kTagObject: {
        uint64_t count;
        // Each member takes at least two bytes (name length and value tag).
        if (depth >= kMaxBinaryDepth || !ReadVarint(&count) || count > (data_.size() - pos_) / 2) {
          return false;
        }
        std::vector<Object::Member> members;
        members.reserve(count);
        for (uint64_t i = 0; i < count; ++i) {
          std::string_view name;
          if (!ReadBytes(&name)) return false;
          // The encoder writes names strictly ascending; anything else is corruption.
          if (i > 0 && !(std::string_view(members.back().first) < name)) return false;
          members.emplace_back(std::string(name), Value());
          if (!ReadValue(depth + 1, &members.back().second)) return false;
        }
        *out = Value::MakeObject(Object::FromMembers(std::move(members)));
        return true;
      }
      default:
        return false;
    }
  }

  // Appends the value's compact JSON, as WriteJson(the value ReadValue gives) would, with the
  // same checks, without building the value.
  bool WriteJson(int depth, std::string* out) {
    if (pos_ >= data_.size()) return false;
    uint8_t tag = static_cast<uint8_t>(data_[pos_++]);
    switch (tag) {
      case kTagNull:
        out->append("null");
        return true;
      case kTagFalse:
        out->append("false");
        return true;
      case kTagTrue:
        out->append("true");
        return true;
      case kTagNumber: {
        Decimal d;
        if (!ReadNumber(&d)) return false;
        d.AppendTo(out);
        return true;
      }
      case kTagString: {
        std::string_view s;
        if (!ReadBytes(&s)) return false;
        WriteJsonString(s, out);
        return true;
      }
      case kTagArray: {
        uint64_t count;
        if (depth >= kMaxBinaryDepth || !ReadVarint(&count) || count > data_.size() - pos_) {
          return false;
        }
        out->push_back('[');
        for (uint64_t i = 0; i < count; ++i) {
          if (i > 0) out->push_back(',');
          if (!WriteJson(depth + 1, out)) return false;
        }
        out->push_back(']');
        return true;
      }
      case kTagObject: {
        uint64_t count;
        if (depth >= kMaxBinaryDepth || !ReadVarint(&count) || count > (data_.size() - pos_) / 2) {
          return false;
        }
        out->push_back('{');
        std::string_view last;
        for (uint64_t i = 0; i < count; ++i) {
          std::string_view name;
          if (!ReadBytes(&name)) return false;
          if (i > 0 && !(last < name)) return false;  // strictly ascending, as encoded
          last = name;
          if (i > 0) out->push_back(',');
          WriteJsonString(name, out);
          out->push_back(':');
          if (!WriteJson(depth + 1, out)) return false;
        }
        out->push_back('}');
        return true;
      }
      default:
        return false;
    }
  }

 private:
  // A number's 16 bytes after its tag.
  bool ReadNumber(Decimal* out) {
    if (data_.size() - pos_ < 16) return false;
    u128 raw = 0;
    for (int i = 15; i >= 0; --i) {
      raw = (raw << 8) | static_cast<uint8_t>(data_[pos_ + static_cast<size_t>(i)]);
    }
    pos_ += 16;
    __int128 value = static_cast<__int128>(raw);
    // An out-of-range number cannot have been encoded from a valid Value.
    if ((value < 0 ? -raw : raw) >= kRawLimit) return false;
    *out = Decimal::FromRaw(value);
    return true;
  }

  bool ReadVarint(uint64_t* out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) return false;
      uint8_t b = static_cast<uint8_t>(data_[pos_++]);
      if (shift == 63 && (b & 0x7E) != 0) return false;  // more than 64 bits
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) {
        // Only the shortest form is valid, so every value has exactly one encoding.
        if (b == 0 && shift > 0) return false;
        *out = v;
        return true;
      }
    }
    return false;
  }

  bool ReadBytes(std::string_view* out) {
    uint64_t len;
    if (!ReadVarint(&len) || len > data_.size() - pos_) return false;
    *out = data_.substr(pos_, len);
    pos_ += len;
    return true;
  }

  std::string_view data_;
  size_t pos_ = 0;
};

}  // namespace

void EncodeBinary(const Value& v, std::string* out) { Encode(v, out); }
void EncodeBinary(const Object& o, std::string* out) { EncodeObject(o, out); }
size_t EncodedBinarySize(const Object& o) { return EncodedObjectSize(o); }
char* WriteBinary(const Object& o, char* p) { return WriteObject<false>(o, p, nullptr); }
char* WriteBinaryWithin(const Object& o, char* p, const char* end) {
  return WriteObject<true>(o, p, end);
}

bool StartsEncodedObject(std::string_view data) {
  return !data.empty() && static_cast<uint8_t>(data[0]) == kTagObject;
}

bool BinaryToJson(std::string_view data, std::string* out) {
  size_t at = out->size();
  BinaryReader reader(data);
  if (!reader.WriteJson(0, out) || !reader.AtEnd()) {
    out->resize(at);
    return false;
  }
  return true;
}

bool DecodeBinary(std::string_view data, Value* out) {
  BinaryReader reader(data);
  Value result;
  if (!reader.ReadValue(0, &result) || !reader.AtEnd()) return false;
  *out = std::move(result);
  return true;
}

}  // namespace projd
