// Inside formats/: what the pieces of the Avro codec share. The schema as projd reads it
// (AvroNode), the state of one AvroSchema (AvroSchema::Impl), Avro C's error text, and the
// conversions of Avro's scalar and logical types. Nothing outside formats/ includes this.
//
//   avro_schema.cc    schema JSON -> AvroNode, AvroSchema::Parse
//   avro_scalars.cc   base64, UTF-8, decimals, dates and times, floating point
//   avro_decode.cc    Avro binary -> Value (AvroSchema::Decode)
//   avro_encode.cc    Value -> Avro binary (AvroSchema::Encode)
//   avro.cc           the Confluent frame and AvroEventDecoder
#ifndef PROJD_FORMATS_AVRO_INTERNAL_H_
#define PROJD_FORMATS_AVRO_INTERNAL_H_

#include <avro.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dsl/value.h"
#include "formats/avro.h"

namespace projd {

// The schema as projd needs it beside Avro C's: the kind of each node, its logical type (Avro
// C 1.11 drops logicalType attributes), record field names and defaults, enum symbols.
struct AvroNode {
  enum class Kind {
    kNull,
    kBoolean,
    kInt,
    kLong,
    kFloat,
    kDouble,
    kBytes,
    kString,
    kRecord,
    kEnum,
    kArray,
    kMap,
    kUnion,
    kFixed
  };
  enum class Logical {
    kNone,
    kDecimal,
    kDate,
    kTimeMillis,
    kTimeMicros,
    kTimestampMillis,
    kTimestampMicros
  };
  Kind kind = Kind::kNull;
  Logical logical = Logical::kNone;
  int scale = 0;
  int64_t fixed_size = 0;
  std::string name;  // full name of a named type (record, enum, fixed)
  // Record fields / union branches / the array's items / the map's values.
  std::vector<const AvroNode*> children;
  std::vector<std::string> field_names;
  std::vector<bool> has_default;
  std::vector<Value> defaults;
  std::vector<std::string> symbols;  // enum
};

// One parsed schema: projd's nodes, Avro C's schema, and the value and reader every Decode and
// Encode reuses.
struct AvroSchema::Impl {
  std::vector<std::unique_ptr<AvroNode>> nodes;
  const AvroNode* root = nullptr;
  avro_schema_t schema = nullptr;
  avro_value_iface_t* iface = nullptr;
  avro_value_t value{};
  bool has_value = false;
  avro_reader_t reader = nullptr;

  ~Impl() {
    if (reader) avro_reader_free(reader);
    if (has_value) avro_value_decref(&value);
    if (iface) avro_value_iface_decref(iface);
    if (schema) avro_schema_decref(schema);
  }
};

namespace avro_internal {

// "WHAT: " and Avro C's last error (avro_schema.cc).
std::string AvroError(const char* what);

// --- avro_scalars.cc --------------------------------------------------------------------------

// Base64 (RFC 4648, with padding) of n bytes, appended to *out.
void AppendBase64(const unsigned char* p, size_t n, std::string* out);
// The bytes of padded base64 text; false when it is not that.
bool DecodeBase64(std::string_view s, std::string* out);
bool ValidUtf8(const unsigned char* s, size_t n);
// An exact Decimal from a big-endian two's-complement unscaled integer and a scale.
bool DecimalFromTwosComplement(const unsigned char* p, size_t n, int scale, Decimal* out,
                               std::string* error);
// The unscaled integer of `d` at `scale`, as minimal big-endian two's complement (or
// sign-extended to `width` bytes when width > 0).
bool DecimalToTwosComplement(Decimal d, int scale, int64_t width, std::string* out,
                             std::string* error);
// "YYYY-MM-DD" of days since 1970-01-01.
std::string FormatDate(int64_t days);
// "HH:MM:SS" with ".fff" or ".ffffff" when there is a fraction.
std::string FormatTimeOfDay(int64_t micros);
// RFC 3339 in UTC, with six digits of fraction when not whole milliseconds.
std::string FormatTimestampMicros(int64_t micros);
// The exact decimal of the shortest text of a double or a float; an error when not finite.
bool NumberFromDouble(double d, Decimal* out, std::string* error);
bool NumberFromFloat(float f, Decimal* out, std::string* error);

}  // namespace avro_internal
}  // namespace projd

#endif  // PROJD_FORMATS_AVRO_INTERNAL_H_
