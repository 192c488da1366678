// Avro event values: the Confluent wire format, writer schemas from a schema registry, and the
// conversion of Avro data to projd's value model (SPEC §2 `format avro`).
//
// Decoding uses Avro C (libavro) with the writer schema only: nothing is resolved against a
// reader schema, so a field that an older writer lacks is simply absent from the decoded
// object, and reads as null in a projection.
//
// Avro data becomes:
//   record -> object (fields by name)     map -> object            array -> array
//   union -> the branch's value           enum -> its symbol       null/boolean -> same
//   string -> string (must be UTF-8)      int/long -> exact integer
//   float/double -> the decimal of its shortest round-trip text (what a JSON writer prints:
//                   0.1f reads as 0.1); NaN and infinities are an event error
//   bytes/fixed -> base64 string (RFC 4648, with padding)
//   decimal (bytes or fixed, precision, scale) -> exact decimal (scale above 18 rounds
//                   half-even to 18 places; a magnitude of 10^20 or more is an event error)
//   date -> "YYYY-MM-DD"                  time-millis/-micros -> "HH:MM:SS[.fff[fff]]"
//   timestamp-millis/-micros, local-timestamp-millis/-micros -> RFC 3339 string in UTC
//                   ("2025-07-14T09:30:00.123Z"; micros keep six digits when not whole millis)
//
// Thread-safety: an AvroSchema or AvroEventDecoder is used by one thread at a time.
#ifndef PROJD_CONNECTORS_AVRO_H_
#define PROJD_CONNECTORS_AVRO_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/source.h"
#include "dsl/value.h"
#include "formats/schema_registry.h"

namespace projd {

struct AvroNode;

// One parsed writer schema, ready to decode (and encode) data written with it.
class AvroSchema {
 public:
  // Parses Avro schema JSON. nullptr with *error when it is not a valid schema.
  static std::unique_ptr<AvroSchema> Parse(std::string_view json, std::string* error);
  ~AvroSchema();
  AvroSchema(const AvroSchema&) = delete;
  AvroSchema& operator=(const AvroSchema&) = delete;

  // Decodes one Avro binary datum into *out. false with *error when the bytes do not decode
  // with this schema (truncated, trailing bytes, bad union branch, invalid UTF-8, ...).
  bool Decode(std::string_view datum, Value* out, std::string* error);

  // Encodes a value of the JSON model as Avro binary with this schema (projctl test --schema,
  // test producers, benchmarks). Accepts what Decode produces, and also: a union as its bare
  // value (the first branch that fits) or as {"BRANCH_TYPE": value}; a missing record field
  // takes its default, or null when its type allows it; decimals as numbers or strings;
  // timestamps as RFC 3339 strings or epoch numbers; dates as "YYYY-MM-DD" or day numbers;
  // bytes and fixed as base64 strings. false with *error naming the field when it cannot.
  bool Encode(const Value& v, std::string* out, std::string* error);

 private:
  struct Impl;
  explicit AvroSchema(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The Confluent wire format: magic byte 0, schema id (4 bytes, big-endian), Avro binary.
bool SplitConfluentFrame(std::string_view message, int32_t* schema_id, std::string_view* datum,
                         std::string* error);
void AppendConfluentFrame(int32_t schema_id, std::string_view datum, std::string* out);

// Decodes the Avro event values of one view: finds each message's writer schema in a
// SchemaRegistry and keeps the parsed schema (with its decoder) per id.
class AvroEventDecoder {
 public:
  explicit AvroEventDecoder(std::shared_ptr<SchemaRegistry> registry);
  ~AvroEventDecoder();

  // Makes sure the writer schema of every message is known before the batch is applied.
  // Returns false with *problem when the registry cannot be reached (the caller holds the
  // batch and tries again later). Ids the registry does not know and schemas that do not parse
  // are remembered as event errors for Decode, not returned as problems.
  bool Prefetch(const std::vector<Message>& messages, std::string* problem);

  // Decodes one message value. false with *error (an event error) when the frame is not
  // Confluent Avro, the schema id is unknown, or the body does not decode. A schema id not
  // prefetched is looked up now; if the registry is unreachable then, *unavailable is set.
  bool Decode(std::string_view value, Value* out, std::string* error, bool* unavailable);

  size_t cached_schemas() const { return schemas_.size(); }
  // How long an id the registry did not know stays unknown before the registry is asked again
  // (default 5 s; a registry replica that lags, or a failover, may not know it yet).
  void AskAgainAfter(std::chrono::milliseconds d) { ask_again_after_ = d; }

 private:
  struct Entry {
    std::unique_ptr<AvroSchema> schema;  // null: error says why the id cannot decode
    std::string error;
    // The registry did not know the id: asked again from then on (a registry replica that
    // lags, a failover), not taken as final for the life of the view.
    bool not_found = false;
    std::chrono::steady_clock::time_point ask_again_at;
  };

  // Looks an id up and caches what the registry said. false: registry unreachable.
  bool Load(int32_t id, Entry** out, std::string* problem);

  std::shared_ptr<SchemaRegistry> registry_;
  std::map<int32_t, Entry> schemas_;
  int32_t last_id_ = -1;
  Entry* last_ = nullptr;
  std::chrono::milliseconds ask_again_after_{5000};
};

}  // namespace projd

#endif  // PROJD_CONNECTORS_AVRO_H_
