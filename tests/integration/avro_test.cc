// End to end with Avro: the real projd, the real Kafka broker (PROJD_KAFKA_BROKERS) and a real
// Confluent-compatible schema registry (PROJD_SCHEMA_REGISTRY, Apicurio from
// scripts/registry.sh). Events are Avro-encoded with Avro C (avro_value_write) and produced
// with librdkafka, beside the same stream in JSON.
#include "formats/avro.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <thread>

#include "connectors/source.h"
#include "dsl/time.h"
#include "formats/schema_registry.h"
#include "tests/integration/harness.h"

namespace {

using projd::Value;
using projd::testing::ProjdProcess;

const char kProjections[] = R"(
projection balances_json {
  from "@JSON@"
  key event.account
  time event.ts
  on Opened { balance = 0  owner = event.owner  opened_on = event.day }
  on Deposited { balance += event.amount  deposits += 1  channel = event.channel }
  on Withdrawn { balance -= event.amount  withdrawals += 1  channel = event.channel }
}
projection balances_avro {
  from "@AVRO@"
  format avro
  key event.account
  time event.ts
  on Opened { balance = 0  owner = event.owner  opened_on = event.day }
  on Deposited { balance += event.amount  deposits += 1  channel = event.channel }
  on Withdrawn { balance -= event.amount  withdrawals += 1  channel = event.channel }
}
)";

// v1: owner, no channel. v2: channel added with a default, owner removed. v3: a note added.
const char kV1[] = R"({"type":"record","name":"AccountEvent","namespace":"bank","fields":[
  {"name":"type","type":{"type":"enum","name":"Kind","symbols":["Opened","Deposited","Withdrawn"]}},
  {"name":"account","type":"string"},
  {"name":"owner","type":["null","string"],"default":null},
  {"name":"amount","type":["null",{"type":"bytes","logicalType":"decimal","precision":20,"scale":2}],
   "default":null},
  {"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},
  {"name":"day","type":["null",{"type":"int","logicalType":"date"}],"default":null}]})";
const char kV2[] = R"({"type":"record","name":"AccountEvent","namespace":"bank","fields":[
  {"name":"type","type":{"type":"enum","name":"Kind","symbols":["Opened","Deposited","Withdrawn"]}},
  {"name":"account","type":"string"},
  {"name":"amount","type":["null",{"type":"bytes","logicalType":"decimal","precision":20,"scale":2}],
   "default":null},
  {"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},
  {"name":"day","type":["null",{"type":"int","logicalType":"date"}],"default":null},
  {"name":"channel","type":"string","default":"web"}]})";
const char kV3[] = R"({"type":"record","name":"AccountEvent","namespace":"bank","fields":[
  {"name":"type","type":{"type":"enum","name":"Kind","symbols":["Opened","Deposited","Withdrawn"]}},
  {"name":"account","type":"string"},
  {"name":"amount","type":["null",{"type":"bytes","logicalType":"decimal","precision":20,"scale":2}],
   "default":null},
  {"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},
  {"name":"day","type":["null",{"type":"int","logicalType":"date"}],"default":null},
  {"name":"channel","type":"string","default":"web"},
  {"name":"note","type":"string","default":""}]})";

bool RegistryHttp(const projd::RegistryHttpRequest& req, projd::RegistryHttpResponse* resp,
                  std::string* error) {
  projd::HttpClientResult r;
  std::vector<std::pair<std::string, std::string>> headers = {
      {"Content-Type", "application/vnd.schemaregistry.v1+json"}};
  if (!projd::HttpCall(req.host, req.port, req.method, req.target, headers, req.body, req.timeout,
                       &r, error)) {
    return false;
  }
  resp->status = r.status;
  resp->body = r.body;
  return true;
}

// The test's own truth: balances in cents.
std::string Cents(int64_t c) {
  std::string sign = c < 0 ? "-" : "";
  if (c < 0) c = -c;
  std::string frac = std::to_string(c % 100);
  if (frac.size() < 2) frac = "0" + frac;
  return sign + std::to_string(c / 100) + "." + frac;
}

struct Stream {
  std::vector<std::pair<std::string, std::string>> json;  // key, value
  std::vector<std::pair<std::string, std::string>> avro;  // key, Confluent Avro
  std::map<std::string, int64_t> cents;
};

// Banking events; each written with one of the schema versions (v1 and v2 alternate in runs,
// like producers upgraded one by one). The JSON twin carries what the writer wrote, with the
// writer's defaults (v2's channel) as a JSON producer of that version would.
struct Writer {
  int32_t id;
  projd::AvroSchema* schema;
  bool writes_owner;  // v1 only
};

void MakeEvents(int n, uint32_t seed, const std::vector<Writer>& w, Stream* s, int64_t start_ms) {
  std::mt19937 rng(seed);
  for (int i = 0; i < n; ++i) {
    std::string acc = "acc-" + std::to_string(rng() % 200);
    size_t version = (static_cast<size_t>(i) / 50) % w.size();
    bool has_owner = w[version].writes_owner;
    int64_t ts = start_ms + i * 1000;
    std::string tss = projd::FormatRfc3339(ts);
    std::string ev;
    if (!s->cents.count(acc)) {
      s->cents[acc] = 0;
      ev = R"({"type":"Opened","account":")" + acc + R"(","ts":")" + tss +
           R"(","day":"2025-07-14")" + (has_owner ? R"(,"owner":"owner-)" + acc + "\"" : "");
    } else {
      int64_t c = static_cast<int64_t>(rng() % 1000000) + 1;
      bool dep = rng() % 3 != 0;
      s->cents[acc] += dep ? c : -c;
      ev = std::string(R"({"type":")") + (dep ? "Deposited" : "Withdrawn") + R"(","account":")" +
           acc + R"(","amount":)" + Cents(c) + R"(,"ts":")" + tss + "\"";
      if (!has_owner) ev += std::string(R"(,"channel":")") + (rng() % 2 ? "atm" : "web") + "\"";
    }
    ev += "}";
    Value v;
    std::string error, bytes, framed;
    REQUIRE(projd::ParseJson(ev, &v, &error));
    INFO(ev);
    REQUIRE(w[version].schema->Encode(v, &bytes, &error));
    projd::AppendConfluentFrame(w[version].id, bytes, &framed);
    // A v2+ writer that was not given a channel wrote its default.
    if (!has_owner && ev.find("channel") == std::string::npos) {
      ev.pop_back();
      ev += R"(,"channel":"web"})";
    }
    s->json.emplace_back(acc, ev);
    s->avro.emplace_back(acc, framed);
  }
}

void Produce(const std::string& brokers, const std::string& topic,
             const std::vector<std::pair<std::string, std::string>>& ev) {
  std::string error;
  auto producer = projd::Producer::Create(brokers, {}, &error);
  REQUIRE(producer);
  for (const auto& [k, v] : ev) REQUIRE(producer->ProduceAsync(topic, k, v, &error));
  REQUIRE(producer->Flush(std::chrono::seconds(60), &error));
}

std::map<std::string, std::string> AllRows(ProjdProcess& p, const std::string& view) {
  std::map<std::string, std::string> rows;
  std::string cursor;
  while (true) {
    std::string target = "/v1/views/" + view + "/rows?limit=1000";
    if (!cursor.empty()) target += "&cursor=" + cursor;
    int status = 0;
    Value v = p.GetJson(target, &status);
    REQUIRE(status == 200);
    for (const auto& r : v.as_object().Find("rows")->as_array()) {
      rows[r.as_object().Find("key")->as_string()] = projd::ToJson(*r.as_object().Find("row"));
    }
    const Value* next = v.as_object().Find("next_cursor");
    if (next->is_null()) break;
    cursor = next->as_string();
  }
  return rows;
}

void CheckSame(ProjdProcess& p, const Stream& s) {
  auto json = AllRows(p, "balances_json");
  auto avro = AllRows(p, "balances_avro");
  REQUIRE(json.size() == s.cents.size());
  CHECK(avro == json);
  int wrong = 0;
  for (const auto& [acc, cents] : s.cents) {
    Value row;
    std::string error;
    REQUIRE(projd::ParseJson(avro[acc], &row, &error));
    projd::Decimal want;
    projd::Decimal::Parse(Cents(cents), &want);
    const Value* bal = row.as_object().Find("balance");
    if (!bal || !bal->is_number() || bal->as_number() != want) {
      if (++wrong < 5) UNSCOPED_INFO(acc << " want " << Cents(cents) << " got " << avro[acc]);
    }
  }
  CHECK(wrong == 0);
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// A suffix for this run's topics and subjects: the process and a clock reading.
std::string RunSuffix() {
  return std::to_string(getpid()) + "-" +
         std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 100000);
}

int64_t DeadLetters(ProjdProcess& p) {
  Value st = p.GetJson("/v1/views/balances_avro");
  int64_t n = -1;
  const Value* d = st.as_object().Find("dead_letters");
  if (d && d->is_number()) d->as_number().ToInt64(&n);
  return n;
}

}  // namespace

TEST_CASE("real Kafka + registry: Avro with schema evolution, corrupt bodies, a registry outage",
          "[avro-registry]") {
  std::string brokers = Env("PROJD_KAFKA_BROKERS");
  std::string url = Env("PROJD_SCHEMA_REGISTRY");
  std::string script = Env("PROJD_REGISTRY_SCRIPT");
  if (brokers.empty() || url.empty() || script.empty()) {
    if (!Env("PROJD_KAFKA_REQUIRED").empty()) {
      FAIL(
          "PROJD_KAFKA_REQUIRED is set but PROJD_KAFKA_BROKERS, PROJD_SCHEMA_REGISTRY or "
          "PROJD_REGISTRY_SCRIPT is not");
    }
    WARN("no broker or registry (scripts/test.sh starts both): Avro end-to-end test not run");
    return;
  }
  std::string error;
  auto registry = projd::SchemaRegistry::Connect(url, RegistryHttp, &error);
  REQUIRE(registry);
  std::string suffix = RunSuffix();
  std::string json_topic = "bank-json-" + suffix, avro_topic = "bank-avro-" + suffix;
  int32_t id1, id2, id3;
  REQUIRE(registry->Register(avro_topic + "-value", kV1, &id1, &error));
  REQUIRE(registry->Register(avro_topic + "-value", kV2, &id2, &error));
  REQUIRE(registry->Register(avro_topic + "-value", kV3, &id3, &error));
  REQUIRE(id1 != id2);
  auto v1 = projd::AvroSchema::Parse(kV1, &error);
  auto v2 = projd::AvroSchema::Parse(kV2, &error);
  auto v3 = projd::AvroSchema::Parse(kV3, &error);
  REQUIRE((v1 && v2 && v3));
  REQUIRE(projd::CreateKafkaTopic(brokers, json_topic, 2, &error));
  REQUIRE(projd::CreateKafkaTopic(brokers, avro_topic, 2, &error));

  std::string proj = kProjections;
  proj.replace(proj.find("@JSON@"), 6, json_topic);
  proj.replace(proj.find("@AVRO@"), 6, avro_topic);
  std::string dir = projd::testing::ProjectionFolder("avro-registry", "bank.proj", proj);

  // Without --schema-registry, an Avro projection keeps projd from starting.
  std::string out;
  CHECK(projd::testing::Run(std::string(PROJD_BIN) + " --projections " + dir +
                                "/projections --data " + dir + "/nodata --brokers " + brokers +
                                " --listen 127.0.0.1:0",
                            &out) != 0);
  CHECK(out.find("--schema-registry") != std::string::npos);

  Stream s;
  MakeEvents(3000, 11, {{id1, v1.get(), true}, {id2, v2.get(), false}}, &s, 1752480000000);
  // Two bad messages in the Avro stream: a body cut short, and an id no registry knows.
  std::string corrupt = s.avro[10].second.substr(0, s.avro[10].second.size() - 3);
  std::string unknown;
  projd::AppendConfluentFrame(987654, s.avro[11].second.substr(5), &unknown);
  auto avro_events = s.avro;
  avro_events.insert(avro_events.begin() + 20, {"acc-x", corrupt});
  avro_events.insert(avro_events.begin() + 40, {"acc-y", unknown});
  Produce(brokers, json_topic, s.json);
  Produce(brokers, avro_topic, avro_events);

  auto p = ProjdProcess::StartIn(dir, {"--brokers", brokers, "--schema-registry", url}, &error);
  REQUIRE(p);
  REQUIRE(p->WaitCaughtUp("balances_json", static_cast<int64_t>(s.json.size())));
  REQUIRE(p->WaitCaughtUp("balances_avro", static_cast<int64_t>(avro_events.size())));
  CheckSame(*p, s);
  // Owner (v1 only) reads as null for accounts opened by a v2 writer; dates and times decode.
  Value dl = p->GetJson("/v1/views/balances_avro/dead-letters");
  const auto& dead = dl.as_object().Find("dead_letters")->as_array();
  REQUIRE(dead.size() == 2);
  std::string reasons = projd::ToJson(dl);
  CHECK(reasons.find("does not decode") != std::string::npos);
  CHECK(reasons.find("unknown schema id 987654") != std::string::npos);

  // Registry outage: v3 events need a schema projd has not fetched yet; the registry is frozen
  // (SIGSTOP) for 20 s. The Avro view holds (stalled, with the reason), no dead letters.
  Stream more;
  more.cents = s.cents;
  MakeEvents(1000, 12, {{id3, v3.get(), false}}, &more, 1752490000000);
  REQUIRE(projd::testing::Run(script + " pause", &out) == 0);
  Produce(brokers, json_topic, more.json);
  Produce(brokers, avro_topic, more.avro);
  std::string position_before;
  {
    Value st = p->GetJson("/v1/views/balances_avro");
    position_before = st.as_object().Find("position")->as_string();
  }
  auto paused_at = std::chrono::steady_clock::now();
  bool stalled_shown = false;
  std::string reason;
  while (std::chrono::steady_clock::now() - paused_at < std::chrono::seconds(20)) {
    Value st = p->GetJson("/v1/views/balances_avro");
    const Value* r = st.as_object().Find("reason");
    if (st.as_object().Find("state")->as_string() == "stalled" && r && r->is_string() &&
        r->as_string().find("schema registry") != std::string::npos) {
      stalled_shown = true;
      reason = r->as_string();
    }
    CHECK(st.as_object().Find("position")->as_string() == position_before);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  INFO("last reason: " << reason);
  CHECK(stalled_shown);
  CHECK(DeadLetters(*p) == 2);
  REQUIRE(projd::testing::Run(script + " resume", &out) == 0);
  REQUIRE(p->WaitCaughtUp("balances_json", static_cast<int64_t>(s.json.size() + more.json.size())));
  REQUIRE(p->WaitCaughtUp("balances_avro",
                          static_cast<int64_t>(avro_events.size() + more.avro.size()),
                          std::chrono::seconds(90)));
  CheckSame(*p, more);
  CHECK(DeadLetters(*p) == 2);
  Value st = p->GetJson("/v1/views/balances_avro");
  CHECK(st.as_object().Find("state")->as_string() != "stalled");
  CHECK(p->Log().find("writer schemas fetched; consumption resumes") != std::string::npos);
  CHECK(p->Terminate() == 0);
}

TEST_CASE("real Kafka + registry: a schema with references to other subjects", "[avro-registry]") {
  std::string brokers = Env("PROJD_KAFKA_BROKERS");
  std::string url = Env("PROJD_SCHEMA_REGISTRY");
  if (brokers.empty() || url.empty()) {
    if (!Env("PROJD_KAFKA_REQUIRED").empty()) {
      FAIL("PROJD_KAFKA_REQUIRED is set but PROJD_KAFKA_BROKERS or PROJD_SCHEMA_REGISTRY is not");
    }
    WARN("no broker or registry (scripts/test.sh starts both): Avro references test not run");
    return;
  }
  std::string error;
  auto registry = projd::SchemaRegistry::Connect(url, RegistryHttp, &error);
  REQUIRE(registry);
  std::string suffix = RunSuffix();
  std::string topic = "bank-refs-" + suffix;
  // Moved names bank.Money (its own subject), which names bank.Currency (another subject), as
  // a Confluent serializer registers shared types.
  int32_t currency_id, money_id, moved_id;
  REQUIRE(registry->Register(
      "currency-" + suffix,
      R"({"type":"enum","name":"Currency","namespace":"bank","symbols":["EUR","CHF"]})",
      &currency_id, &error));
  REQUIRE(registry->Register(
      "money-" + suffix, R"({"type":"record","name":"Money",
      "namespace":"bank","fields":[{"name":"units","type":{"type":"bytes",
      "logicalType":"decimal","precision":20,"scale":2}},{"name":"ccy","type":"Currency"}]})",
      &money_id, &error,
      R"([{"name":"bank.Currency","subject":"currency-)" + suffix + R"(","version":1}])"));
  REQUIRE(registry->Register(
      topic + "-value", R"({"type":"record","name":"Moved",
      "namespace":"bank","fields":[{"name":"account","type":"string"},
      {"name":"amount","type":"Money"},{"name":"fee","type":["null","bank.Money"],
      "default":null}]})",
      &moved_id, &error,
      R"([{"name":"bank.Money","subject":"money-)" + suffix + R"(","version":1}])"));
  // The writer's encoder has the whole schema; projd gets it from the registry, references and
  // all.
  std::string whole;
  REQUIRE(registry->Get(moved_id, &whole, &error) == projd::SchemaRegistry::Lookup::kFound);
  auto writer = projd::AvroSchema::Parse(whole, &error);
  INFO(error);
  REQUIRE(writer);
  REQUIRE(projd::CreateKafkaTopic(brokers, topic, 1, &error));
  std::vector<std::pair<std::string, std::string>> events;
  for (
      const char* e :
      {R"({"account":"a","amount":{"units":"10.25","ccy":"CHF"},"fee":null})",
       R"({"account":"a","amount":{"units":"-0.25","ccy":"CHF"},"fee":{"units":"0.10","ccy":"CHF"}})",
       R"({"account":"b","amount":{"units":"7","ccy":"EUR"},"fee":null})"}) {
    Value v;
    REQUIRE(projd::ParseJson(e, &v, &error));
    std::string datum, framed;
    REQUIRE(writer->Encode(v, &datum, &error));
    projd::AppendConfluentFrame(moved_id, datum, &framed);
    events.emplace_back(v.as_object().Find("account")->as_string(), framed);
  }
  Produce(brokers, topic, events);
  std::string dir = projd::testing::ProjectionFolder("avro-refs", "refs.proj", R"(
projection moved {
  from ")" + topic + R"("
  format avro
  key event.account
  on * { balance += event.amount.units  ccy = event.amount.ccy
         fees += coalesce(event.fee.units, 0) }
}
)");
  auto p = ProjdProcess::StartIn(dir, {"--brokers", brokers, "--schema-registry", url}, &error);
  REQUIRE(p);
  REQUIRE(p->WaitCaughtUp("moved", 3));
  CHECK(projd::ToJson(*p->GetJson("/v1/views/moved/rows/a").as_object().Find("row")) ==
        R"({"balance":10,"ccy":"CHF","fees":0.1})");
  CHECK(projd::ToJson(*p->GetJson("/v1/views/moved/rows/b").as_object().Find("row")) ==
        R"({"balance":7,"ccy":"EUR","fees":0})");
  CHECK(projd::ToJson(*p->GetJson("/v1/views/moved").as_object().Find("dead_letters")) == "0");
  CHECK(p->Terminate() == 0);
}
