// Avro against JSON on the same events: decode speed, and decode + apply through the projector.
//
//   avro_bench PROJECTION.proj EVENTS.jsonl [REPEAT]
//
// EVENTS.jsonl holds banking events (scripts/gen_events.py, bare or --envelope). Each is
// encoded once, before timing, with the writer schema below (amount as decimal(20,2) bytes, ts
// as timestamp-millis, type as an enum) into the Confluent wire format. Then, on one core:
//   - decode only: ParseJson over the JSON texts, AvroEventDecoder::Decode over the Avro values;
//   - decode + apply: Projector::Apply in batches of 5,000 into memory rows, the projection as
//     given (JSON) and the same projection with `format avro`.
// Every Avro event must decode to the same value as its JSON twin; the program fails if not.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "dsl/compiler.h"
#include "engine/projector.h"
#include "formats/avro.h"
#include "formats/schema_registry.h"

namespace {

using projd::Value;

const char kSchema[] = R"({"type":"record","name":"AccountEvent","namespace":"bank","fields":[
  {"name":"type","type":{"type":"enum","name":"Type","symbols":
    ["AccountOpened","Deposited","Withdrawn","InterestPaid","AccountClosed"]}},
  {"name":"account_id","type":"string"},
  {"name":"owner","type":"string"},
  {"name":"currency","type":"string"},
  {"name":"amount","type":["null",{"type":"bytes","logicalType":"decimal","precision":20,
    "scale":2}],"default":null},
  {"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},
  {"name":"event_id","type":"string"}]})";

// A missing member and a null one read the same in a projection: drop nulls to compare.
Value WithoutNulls(const Value& v) {
  if (!v.is_object()) return v;
  projd::Object o;
  for (const auto& [k, m] : v.as_object().members()) {
    if (!m.is_null()) o.Set(k, WithoutNulls(m));
  }
  return Value::MakeObject(std::move(o));
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

class MemoryRows final : public projd::RowSource {
 public:
  bool LoadRow(const std::string& key, projd::RowRecord* out) override {
    auto it = rows_.find(key);
    if (it == rows_.end()) return false;
    *out = std::move(it->second);
    rows_.erase(it);
    return true;
  }
  bool SeenId(const std::string& id, uint64_t /*hash*/) override { return ids_.Contains(id); }
  void Commit(projd::Batch* b) {
    for (auto& [key, rec] : b->rows) {
      if (rec.exists) rows_[key] = std::move(rec);
    }
    b->new_ids.ForEach([this](std::string_view id) { ids_.Insert(id); });
  }
  size_t size() const { return rows_.size(); }
  std::string Digest() const {
    std::vector<std::string> keys;
    for (const auto& [k, r] : rows_)
      keys.push_back(k + "=" + projd::ToJson(Value::MakeObject(r.fields)));
    std::sort(keys.begin(), keys.end());
    std::string all;
    for (const auto& k : keys) all += k + "\n";
    return all;
  }

 private:
  std::unordered_map<std::string, projd::RowRecord> rows_;
  projd::StringSet ids_;
};

// Decode + apply of `values` in batches of 5,000; returns events/s, fills *digest.
double ApplyAll(std::shared_ptr<const projd::Projection> p, const std::vector<std::string>& values,
                std::string* digest) {
  projd::Projector projector(p);
  if (p->format() == projd::Projection::Format::kAvro) {
    projector.UseAvro(projd::SchemaRegistry::Fixed({{1, kSchema}}));
  }
  MemoryRows rows;
  projd::Batch batch;
  std::vector<projd::Message> msgs;
  const size_t kBatch = 5000;
  auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < values.size(); i += kBatch) {
    msgs.clear();
    for (size_t j = i; j < values.size() && j < i + kBatch; ++j) {
      projd::Message m;
      m.topic = p->topics()[0];
      m.offset = static_cast<int64_t>(j);
      m.timestamp_ms = 1;
      m.value = values[j];
      msgs.push_back(m);
    }
    std::string problem, stop;
    if (!projector.PrefetchSchemas(msgs, &problem)) {
      std::cerr << "prefetch: " << problem << "\n";
      std::exit(1);
    }
    batch.Clear();
    for (const auto& m : msgs) projector.Apply(m, &rows, &batch, &stop);
    rows.Commit(&batch);
  }
  double secs = Seconds(start);
  *digest = rows.Digest();
  return static_cast<double>(values.size()) / secs;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: avro_bench PROJECTION.proj EVENTS.jsonl [REPEAT]\n";
    return 2;
  }
  int repeat = argc > 3 ? std::atoi(argv[3]) : 3;
  std::ifstream proj_in(argv[1]);
  std::string proj_text((std::istreambuf_iterator<char>(proj_in)),
                        std::istreambuf_iterator<char>());
  auto json_file = projd::CompileFile(argv[1], proj_text);
  size_t brace = proj_text.find('{');
  auto avro_file = projd::CompileFile(
      argv[1], proj_text.substr(0, brace + 1) + "\n  format avro\n" + proj_text.substr(brace + 1));
  if (!json_file.ok() || !avro_file.ok() || json_file.projections.empty()) {
    std::cerr << "projection does not compile\n";
    return 1;
  }
  std::string error;
  auto schema = projd::AvroSchema::Parse(kSchema, &error);
  if (!schema) {
    std::cerr << error << "\n";
    return 1;
  }
  std::vector<std::string> json, avro;
  size_t json_bytes = 0, avro_bytes = 0;
  {
    std::ifstream in(argv[2]);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      Value v;
      if (!projd::ParseJson(line, &v, &error)) {
        std::cerr << "bad event: " << error << "\n";
        return 1;
      }
      // An envelope line {"topic", "key", "value": {...}}: the event is its value.
      const Value* inner = v.is_object() ? v.as_object().Find("value") : nullptr;
      if (inner && inner->is_object() && v.as_object().Find("topic")) {
        Value event = *inner;
        v = std::move(event);
        line = projd::ToJson(v);
      }
      std::string datum, framed;
      if (!schema->Encode(v, &datum, &error)) {
        std::cerr << "event does not fit the schema: " << error << "\n" << line << "\n";
        return 1;
      }
      projd::AppendConfluentFrame(1, datum, &framed);
      json_bytes += line.size();
      avro_bytes += framed.size();
      json.push_back(std::move(line));
      avro.push_back(std::move(framed));
    }
  }
  size_t n = json.size();
  std::printf("%zu events: JSON %.1f bytes/event, Avro (Confluent framing) %.1f bytes/event\n", n,
              static_cast<double>(json_bytes) / n, static_cast<double>(avro_bytes) / n);

  // Same values from both encodings.
  {
    projd::AvroEventDecoder dec(projd::SchemaRegistry::Fixed({{1, kSchema}}));
    size_t mismatches = 0;
    for (size_t i = 0; i < n; ++i) {
      Value a, b;
      bool unavailable;
      projd::ParseJson(json[i], &a, &error);
      if (!dec.Decode(avro[i], &b, &error, &unavailable) || !(WithoutNulls(a) == WithoutNulls(b))) {
        if (++mismatches < 3)
          std::cerr << "differs: " << json[i] << " vs " << projd::ToJson(b) << "\n";
      }
    }
    if (mismatches) {
      std::cerr << mismatches << " events decode differently\n";
      return 1;
    }
  }

  for (int r = 0; r < repeat; ++r) {
    Value v;
    auto start = std::chrono::steady_clock::now();
    for (const auto& t : json) projd::ParseJson(t, &v, &error);
    double json_rate = n / Seconds(start);
    projd::AvroEventDecoder dec(projd::SchemaRegistry::Fixed({{1, kSchema}}));
    bool unavailable;
    start = std::chrono::steady_clock::now();
    for (const auto& t : avro) dec.Decode(t, &v, &error, &unavailable);
    double avro_rate = n / Seconds(start);
    std::string dj, da;
    double apply_json = ApplyAll(json_file.projections[0], json, &dj);
    double apply_avro = ApplyAll(avro_file.projections[0], avro, &da);
    if (dj != da) {
      std::cerr << "the Avro view differs from the JSON view\n";
      return 1;
    }
    std::printf(
        "run %d: decode only   JSON %9.0f events/s   Avro %9.0f events/s   (Avro/JSON %.2f)\n",
        r + 1, json_rate, avro_rate, avro_rate / json_rate);
    std::printf(
        "run %d: decode+apply  JSON %9.0f events/s   Avro %9.0f events/s   (Avro/JSON %.2f)\n",
        r + 1, apply_json, apply_avro, apply_avro / apply_json);
  }
  std::printf("the Avro view equalled the JSON view in every run\n");
  return 0;
}
