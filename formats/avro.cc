// The Confluent wire format and AvroEventDecoder: writer schemas by id from the schema
// registry, parsed once and kept. The codec itself is in avro_schema.cc, avro_decode.cc and
// avro_encode.cc (formats/avro_internal.h).
#include "formats/avro.h"

#include <string>
#include <utility>

namespace projd {

// --- framing
// ---------------------------------------------------------------------------------------

bool SplitConfluentFrame(std::string_view message, int32_t* schema_id, std::string_view* datum,
                         std::string* error) {
  if (message.size() < 5 || message[0] != 0) {
    *error =
        message.size() < 5
            ? "not Confluent Avro: " + std::to_string(message.size()) + " bytes, need 5 or more"
            : "not Confluent Avro: magic byte is " +
                  std::to_string(static_cast<unsigned char>(message[0])) + ", not 0";
    return false;
  }
  const auto* p = reinterpret_cast<const unsigned char*>(message.data());
  uint32_t id = (uint32_t{p[1]} << 24) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 8) | p[4];
  *schema_id = static_cast<int32_t>(id);
  *datum = message.substr(5);
  return true;
}

void AppendConfluentFrame(int32_t schema_id, std::string_view datum, std::string* out) {
  uint32_t id = static_cast<uint32_t>(schema_id);
  out->push_back('\0');
  out->push_back(static_cast<char>(id >> 24));
  out->push_back(static_cast<char>((id >> 16) & 0xFF));
  out->push_back(static_cast<char>((id >> 8) & 0xFF));
  out->push_back(static_cast<char>(id & 0xFF));
  out->append(datum);
}

// --- AvroEventDecoder ----------------------------------------------------------------------------

AvroEventDecoder::AvroEventDecoder(std::shared_ptr<SchemaRegistry> registry)
    : registry_(std::move(registry)) {}

AvroEventDecoder::~AvroEventDecoder() = default;

bool AvroEventDecoder::Load(int32_t id, Entry** out, std::string* problem) {
  auto it = schemas_.find(id);
  if (it != schemas_.end()) {
    if (!it->second.not_found || std::chrono::steady_clock::now() < it->second.ask_again_at) {
      *out = &it->second;
      return true;
    }
    if (last_ == &it->second) last_ = nullptr;
    schemas_.erase(it);
  }
  if (!registry_) {
    *problem = "no schema registry configured (start projd with --schema-registry URL)";
    return false;
  }
  std::string json, error;
  Entry e;
  switch (registry_->Get(id, &json, &error)) {
    case SchemaRegistry::Lookup::kUnavailable:
      *problem = error;
      return false;
    case SchemaRegistry::Lookup::kNotFound:
      e.error = error;
      e.not_found = true;
      e.ask_again_at = std::chrono::steady_clock::now() + ask_again_after_;
      break;
    case SchemaRegistry::Lookup::kFound:
      e.schema = AvroSchema::Parse(json, &error);
      if (!e.schema) e.error = "schema id " + std::to_string(id) + ": " + error;
      break;
  }
  *out = &schemas_.emplace(id, std::move(e)).first->second;
  return true;
}

bool AvroEventDecoder::Prefetch(const std::vector<Message>& messages, std::string* problem) {
  int32_t last = -1;
  for (const Message& m : messages) {
    int32_t id;
    std::string_view datum;
    std::string ignored;
    if (!m.error.empty() || !SplitConfluentFrame(m.value, &id, &datum, &ignored)) continue;
    if (id == last) continue;
    last = id;
    Entry* e;
    if (!Load(id, &e, problem)) return false;
  }
  return true;
}

bool AvroEventDecoder::Decode(std::string_view value, Value* out, std::string* error,
                              bool* unavailable) {
  *unavailable = false;
  int32_t id;
  std::string_view datum;
  if (!SplitConfluentFrame(value, &id, &datum, error)) return false;
  Entry* e = last_;
  if (id != last_id_ || !e || e->not_found) {
    if (!Load(id, &e, error)) {
      *unavailable = true;
      return false;
    }
    last_id_ = id;
    last_ = e;
  }
  if (!e->schema) {
    *error = e->error;
    return false;
  }
  if (!e->schema->Decode(datum, out, error)) {
    *error = "schema id " + std::to_string(id) + ": " + *error;
    return false;
  }
  return true;
}

}  // namespace projd
