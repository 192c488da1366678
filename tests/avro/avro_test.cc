// Avro decoding (formats/avro.h), the schema registry client and the projector's Avro path.
#include "formats/avro.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "dsl/compiler.h"
#include "engine/projector.h"
#include "formats/schema_registry.h"

namespace projd {
namespace {

Value Json(const std::string& text) {
  Value v;
  std::string error;
  INFO("parsing " << text << ": " << error);
  REQUIRE(ParseJson(text, &v, &error));
  return v;
}

std::unique_ptr<AvroSchema> Schema(const std::string& json) {
  std::string error;
  auto s = AvroSchema::Parse(json, &error);
  INFO("schema error: " << error);
  REQUIRE(s);
  return s;
}

std::string Encode(AvroSchema* s, const std::string& json) {
  std::string out, error;
  INFO("encoding " << json << ": " << error);
  REQUIRE(s->Encode(Json(json), &out, &error));
  return out;
}

std::string DecodeToJson(AvroSchema* s, std::string_view bytes) {
  Value v;
  std::string error;
  bool ok = s->Decode(bytes, &v, &error);
  INFO("decode error: " << error);
  REQUIRE(ok);
  return ToJson(v);
}

std::string Bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}

const char kAccountSchema[] = R"({
  "type": "record", "name": "AccountEvent", "namespace": "bank",
  "fields": [
    {"name": "type", "type": {"type": "enum", "name": "Kind",
                              "symbols": ["AccountOpened", "Deposited", "Withdrawn"]}},
    {"name": "account_id", "type": "string"},
    {"name": "amount", "type": ["null", {"type": "bytes", "logicalType": "decimal",
                                         "precision": 20, "scale": 2}], "default": null},
    {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "day", "type": {"type": "int", "logicalType": "date"}},
    {"name": "seq", "type": "long"},
    {"name": "rate", "type": "double"},
    {"name": "flag", "type": "boolean"},
    {"name": "tags", "type": {"type": "array", "items": "string"}},
    {"name": "attrs", "type": {"type": "map", "values": "int"}},
    {"name": "raw", "type": "bytes"},
    {"name": "kind2", "type": "Kind"}
  ]})";

TEST_CASE("avro: hand-written bytes decode as the Avro specification says", "[avro]") {
  auto s = Schema(R"({"type":"record","name":"R","fields":[
      {"name":"n","type":"long"},{"name":"s","type":"string"},
      {"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}},
      {"name":"u","type":["null","int"]}]})");
  // n = -3 (zigzag 5), s = "hi", d = 1234 unscaled (0x04D2) -> 12.34, u = branch 1, int 7.
  std::string body = Bytes({0x05, 0x04, 'h', 'i', 0x04, 0x04, 0xD2, 0x02, 0x0E});
  CHECK(DecodeToJson(s.get(), body) == R"({"d":12.34,"n":-3,"s":"hi","u":7})");
  // Union branch 0: null.
  CHECK(DecodeToJson(s.get(), Bytes({0x05, 0x04, 'h', 'i', 0x04, 0x04, 0xD2, 0x00})) ==
        R"({"d":12.34,"n":-3,"s":"hi","u":null})");
}

TEST_CASE("avro: every type maps to the JSON value model", "[avro]") {
  auto s = Schema(kAccountSchema);
  std::string bytes = Encode(s.get(), R"({
      "type": "Deposited", "account_id": "acc-1", "amount": "12345678901234567.89",
      "ts": "2025-07-14T09:30:00.123Z", "day": "2025-07-14", "seq": 9007199254740993,
      "rate": 0.1, "flag": true, "tags": ["a", "é"], "attrs": {"x": 1, "y": -2},
      "raw": "AAEC/w==", "kind2": "Withdrawn"})");
  CHECK(DecodeToJson(s.get(), bytes) ==
        R"({"account_id":"acc-1","amount":12345678901234567.89,"attrs":{"x":1,"y":-2},)"
        R"("day":"2025-07-14","flag":true,"kind2":"Withdrawn","rate":0.1,"raw":"AAEC/w==",)"
        R"("seq":9007199254740993,"tags":["a","é"],"ts":"2025-07-14T09:30:00.123Z",)"
        R"("type":"Deposited"})");
  // A missing union field takes its default (null); numbers work for timestamps and dates.
  bytes = Encode(s.get(), R"({
      "type": "AccountOpened", "account_id": "acc-2", "ts": 0, "day": -1, "seq": -5,
      "rate": -2.5e-3, "flag": false, "tags": [], "attrs": {}, "raw": "", "kind2": "Deposited"})");
  CHECK(DecodeToJson(s.get(), bytes) ==
        R"({"account_id":"acc-2","amount":null,"attrs":{},"day":"1969-12-31","flag":false,)"
        R"("kind2":"Deposited","rate":-0.0025,"raw":"","seq":-5,"tags":[],)"
        R"("ts":"1970-01-01T00:00:00Z","type":"AccountOpened"})");
}

TEST_CASE("avro: decimals are exact, in bytes and fixed, negative and wide", "[avro]") {
  auto s = Schema(R"({"type":"record","name":"D","fields":[
      {"name":"b","type":{"type":"bytes","logicalType":"decimal","precision":38,"scale":2}},
      {"name":"f","type":{"type":"fixed","name":"F","size":12,"logicalType":"decimal",
                          "precision":28,"scale":4}},
      {"name":"z","type":{"type":"bytes","logicalType":"decimal","precision":30,"scale":20}}]})");
  struct Case {
    const char* in;
    const char* out;
  } cases[] = {
      {R"({"b":"0.01","f":"-1","z":"0.00000000000000000001"})", R"({"b":0.01,"f":-1,"z":0})"},
      {R"({"b":-128,"f":"0.0001","z":"0.00000000000000000051"})",
       R"({"b":-128,"f":0.0001,"z":0.000000000000000001})"},
      {R"({"b":"-99999999999999999999.99","f":"-12345678.9012","z":"1.5"})",
       R"({"b":-99999999999999999999.99,"f":-12345678.9012,"z":1.5})"},
      {R"({"b":"127","f":"128","z":"-0.000000000000000000015"})", R"({"b":127,"f":128,"z":-0})"},
  };
  for (const auto& c : cases) {
    INFO(c.in);
    std::string bytes = Encode(s.get(), c.in);
    std::string got = DecodeToJson(s.get(), bytes);
    // -0 prints as 0.
    std::string want = c.out;
    size_t at = want.find("-0}");
    if (at != std::string::npos) want.replace(at, 3, "0}");
    CHECK(got == want);
  }
  // Two's complement by hand: 0xFF = -1, 0x0080 = 128, 0x80 = -128 (scale 0).
  auto d = Schema(R"({"type":"bytes","logicalType":"decimal","precision":5,"scale":0})");
  CHECK(DecodeToJson(d.get(), Bytes({0x02, 0xFF})) == "-1");
  CHECK(DecodeToJson(d.get(), Bytes({0x04, 0x00, 0x80})) == "128");
  CHECK(DecodeToJson(d.get(), Bytes({0x02, 0x80})) == "-128");
  CHECK(DecodeToJson(d.get(), Bytes({0x00})) == "0");
  // 10^20 does not fit projd's decimals: an event error, not a wrong number.
  Value v;
  std::string error;
  std::string big = Bytes({0x12, 0x05, 0x6B, 0xC7, 0x5E, 0x2D, 0x63, 0x10, 0x00, 0x00});  // 10^20
  CHECK_FALSE(d->Decode(big, &v, &error));
  CHECK(error.find("out of range") != std::string::npos);
  // Too many digits after the point for the schema's scale cannot be encoded.
  CHECK_FALSE(s->Encode(Json(R"({"b":"0.001","f":0,"z":0})"), &big, &error));
  CHECK(error.find("more than 2 digits") != std::string::npos);
}

TEST_CASE("avro: times, dates and floating point", "[avro]") {
  auto s = Schema(R"({"type":"record","name":"T","fields":[
      {"name":"us","type":{"type":"long","logicalType":"timestamp-micros"}},
      {"name":"lt","type":{"type":"long","logicalType":"local-timestamp-millis"}},
      {"name":"tm","type":{"type":"int","logicalType":"time-millis"}},
      {"name":"tu","type":{"type":"long","logicalType":"time-micros"}},
      {"name":"f","type":"float"},{"name":"d","type":"double"},
      {"name":"bad","type":{"type":"int","logicalType":"timestamp-millis"}}]})");
  std::string bytes = Encode(
      s.get(),
      R"({"us":1500,"lt":1752485400000,"tm":34200123,"tu":1000001,"f":0.1,"d":1e19,"bad":7})");
  CHECK(DecodeToJson(s.get(), bytes) ==
        R"({"bad":7,"d":10000000000000000000,"f":0.1,"lt":"2025-07-14T09:30:00Z",)"
        R"("tm":"09:30:00.123","tu":"00:00:01.000001","us":"1970-01-01T00:00:00.001500Z"})");
  bytes = Encode(s.get(), R"({"us":-1,"lt":0,"tm":0,"tu":0,"f":-3.5,"d":123.456,"bad":0})");
  CHECK(DecodeToJson(s.get(), bytes) ==
        R"({"bad":0,"d":123.456,"f":-3.5,"lt":"1970-01-01T00:00:00Z","tm":"00:00:00",)"
        R"("tu":"00:00:00","us":"1969-12-31T23:59:59.999999Z"})");
  // NaN and doubles beyond 10^20 are event errors.
  auto dbl = Schema(R"("double")");
  Value v;
  std::string error;
  std::string nan = Bytes({0, 0, 0, 0, 0, 0, 0xF8, 0x7F});
  CHECK_FALSE(dbl->Decode(nan, &v, &error));
  CHECK(error.find("finite") != std::string::npos);
  std::string huge = Encode(dbl.get(), "1e19");
  huge[7] = 0x54;  // exponent up: about 1e97
  CHECK_FALSE(dbl->Decode(huge, &v, &error));
}

TEST_CASE("avro: times to the microsecond, and times past year 9999 are errors", "[avro]") {
  auto s = Schema(R"({"type":"record","name":"T","fields":[
      {"name":"us","type":{"type":"long","logicalType":"timestamp-micros"}},
      {"name":"ms","type":{"type":"long","logicalType":"timestamp-millis"}},
      {"name":"day","type":{"type":"int","logicalType":"date"}}]})");
  // Written from RFC 3339 text: micros keep six digits, millis drop the finer ones.
  std::string bytes = Encode(s.get(), R"({"us":"2025-07-14T09:30:00.123456Z",)"
                                      R"("ms":"2025-07-14T09:30:00.123456Z","day":"2025-07-14"})");
  CHECK(DecodeToJson(s.get(), bytes) == R"({"day":"2025-07-14","ms":"2025-07-14T09:30:00.123Z",)"
                                        R"("us":"2025-07-14T09:30:00.123456Z"})");
  bytes = Encode(s.get(), R"({"us":"1969-12-31T23:59:59.9999995Z",)"
                          R"("ms":"1969-12-31T23:59:59.9995Z","day":"9999-12-31"})");
  CHECK(DecodeToJson(s.get(), bytes) == R"({"day":"9999-12-31","ms":"1969-12-31T23:59:59.999Z",)"
                                        R"("us":"1969-12-31T23:59:59.999999Z"})");
  // The last instant RFC 3339 can write, and the first it cannot.
  bytes = Encode(s.get(), R"({"us":253402300799999999,"ms":253402300799999,"day":0})");
  CHECK(DecodeToJson(s.get(), bytes) == R"({"day":"1970-01-01","ms":"9999-12-31T23:59:59.999Z",)"
                                        R"("us":"9999-12-31T23:59:59.999999Z"})");
  Value v;
  std::string error;
  for (const char* past :
       {R"({"us":253402300800000000,"ms":0,"day":0})", R"({"us":0,"ms":253402300800000,"day":0})",
        R"({"us":0,"ms":-62167219200001,"day":0})", R"({"us":9223372036854775807,"ms":0,"day":0})",
        R"({"us":0,"ms":0,"day":2932897})"}) {
    INFO(past);
    CHECK_FALSE(s->Decode(Encode(s.get(), past), &v, &error));
    CHECK(error.find("outside the years 0000-9999") != std::string::npos);
  }
}

TEST_CASE("avro: a schema whose defaults hold NUL characters is read", "[avro]") {
  // Bytes and fixed defaults are strings of code points 0-255: "\u0000" is a zero decimal.
  auto s = Schema(R"({"type":"record","name":"T","doc":"nul \u0000 in a doc","fields":[
      {"name":"id","type":"string"},
      {"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2},
       "default":"\u0000"},
      {"name":"f","type":{"type":"fixed","name":"F","size":2},"default":"\u0000\u0001"}]})");
  std::string bytes = Encode(s.get(), R"({"id":"a","d":"-1.50","f":"AAE="})");
  CHECK(DecodeToJson(s.get(), bytes) == R"({"d":-1.5,"f":"AAE=","id":"a"})");
  // Missing fields take their defaults, read as Avro writes them (code points 0-255 per byte).
  bytes = Encode(s.get(), R"({"id":"b"})");
  CHECK(DecodeToJson(s.get(), bytes) == R"({"d":0,"f":"AAE=","id":"b"})");
  auto more = Schema(R"({"type":"record","name":"U","fields":[
      {"name":"raw","type":"bytes","default":"\u0001\u00ff"},
      {"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2},
       "default":"\u0004\u00d2"},
      {"name":"inner","type":{"type":"record","name":"In","fields":[
         {"name":"b","type":"bytes"}]},"default":{"b":"\u0000"}},
      {"name":"maybe","type":["null","bytes"],"default":null}]})");
  CHECK(DecodeToJson(more.get(), Encode(more.get(), "{}")) ==
        R"({"amount":12.34,"inner":{"b":"AA=="},"maybe":null,"raw":"Af8="})");
  // A decimal's text past the range says so.
  std::string out, error;
  CHECK_FALSE(
      s->Encode(Json(R"({"id":"a","d":"100000000000000000000","f":"AAE="})"), &out, &error));
  CHECK(error == "d: decimal out of range (magnitude 10^20 or more)");
}

TEST_CASE("avro: bodies that do not decode are errors", "[avro]") {
  auto s = Schema(R"({"type":"record","name":"R","fields":[
      {"name":"n","type":"long"},{"name":"s","type":"string"},{"name":"u","type":["null","int"]}]})");
  std::string good = Encode(s.get(), R"({"n":1,"s":"abc","u":null})");
  Value v;
  std::string error;
  CHECK(s->Decode(good, &v, &error));
  CHECK_FALSE(s->Decode(good.substr(0, good.size() - 2), &v, &error));  // truncated
  CHECK(error.find("does not decode") != std::string::npos);
  CHECK_FALSE(s->Decode(good + "x", &v, &error));  // trailing bytes
  CHECK(error.find("bytes left") != std::string::npos);
  CHECK_FALSE(s->Decode(Bytes({0x02, 0x04, 0xC3, 0x28, 0x00}), &v, &error));  // bad UTF-8
  CHECK(error.find("UTF-8") != std::string::npos);
  CHECK_FALSE(s->Decode(Bytes({0x02, 0x00, 0x06}), &v, &error));  // union branch 3 of 2
  // A block count far beyond the bytes (items of zero bytes): refused, not looped over.
  auto nulls = Schema(R"({"type":"array","items":"null"})");
  CHECK_FALSE(nulls->Decode(Bytes({0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x00}), &v, &error));
  CHECK(error.find("block of") != std::string::npos);
  CHECK(DecodeToJson(nulls.get(), Bytes({0x06, 0x00})) == "[null,null,null]");
  // Map keys and negative block counts (with their byte size) as the specification allows.
  auto map = Schema(R"({"type":"map","values":"int"})");
  CHECK(DecodeToJson(map.get(), Bytes({0x01, 0x06, 0x02, 'a', 0x02, 0x00})) == R"({"a":1})");
  CHECK_FALSE(map->Decode(Bytes({0x02, 0x0A, 'a'}), &v, &error));  // key longer than the body
  // Not Confluent framing at all.
  int32_t id;
  std::string_view datum;
  CHECK_FALSE(SplitConfluentFrame("{\"a\":1}", &id, &datum, &error));
  CHECK(error.find("magic byte is 123") != std::string::npos);
  CHECK_FALSE(SplitConfluentFrame(Bytes({0, 0, 1}), &id, &datum, &error));
  std::string framed;
  AppendConfluentFrame(258, "xyz", &framed);
  REQUIRE(SplitConfluentFrame(framed, &id, &datum, &error));
  CHECK(id == 258);
  CHECK(datum == "xyz");
  CHECK(framed.substr(0, 5) == Bytes({0, 0, 0, 1, 2}));
}

TEST_CASE("avro: schemas that are not valid are refused", "[avro]") {
  std::string error;
  CHECK_FALSE(AvroSchema::Parse("{", &error));
  CHECK_FALSE(AvroSchema::Parse(R"({"type":"record","name":"R","fields":[{"name":"a"}]})", &error));
  CHECK_FALSE(AvroSchema::Parse(R"({"type":"nope"})", &error));
  CHECK_FALSE(AvroSchema::Parse(R"("Unknown")", &error));
  // Named types referenced by name, with namespaces, and recursion.
  auto s = Schema(R"({"type":"record","name":"Node","namespace":"x","fields":[
      {"name":"v","type":"int"},{"name":"next","type":["null","Node"]},
      {"name":"m","type":{"type":"fixed","name":"y.M","size":2}},{"name":"m2","type":"y.M"}]})");
  std::string bytes = Encode(s.get(), R"({"v":1,"next":{"v":2,"next":null,"m":"AAE=","m2":"AAI="},
      "m":"AAM=","m2":"AAQ="})");
  CHECK(DecodeToJson(s.get(), bytes) ==
        R"({"m":"AAM=","m2":"AAQ=","next":{"m":"AAE=","m2":"AAI=","next":null,"v":2},"v":1})");
}

// A registry stand-in for the client: answers from a map, counts requests, or is down.
struct FakeHttp {
  std::map<int32_t, std::string> schemas;
  bool down = false;
  int status_override = 0;
  int calls = 0;
  std::string last_target;
  RegistryHttpFn Fn() {
    return [this](const RegistryHttpRequest& req, RegistryHttpResponse* resp, std::string* error) {
      ++calls;
      last_target = req.target;
      if (down) {
        *error = "connection refused";
        return false;
      }
      if (status_override) {
        resp->status = status_override;
        resp->body = R"({"message":"boom"})";
        return true;
      }
      size_t slash = req.target.rfind('/');
      int32_t id = std::stoi(req.target.substr(slash + 1));
      auto it = schemas.find(id);
      if (it == schemas.end()) {
        resp->status = 404;
        resp->body =
            R"({"message":"Schema )" + std::to_string(id) + R"( not found.","error_code":40403})";
        return true;
      }
      Object o;
      o.Set("schema", Value::String(it->second));
      resp->status = 200;
      resp->body = ToJson(Value::MakeObject(std::move(o)));
      return true;
    };
  }
};

TEST_CASE("avro: the registry client caches, and tells unknown ids from outages", "[avro]") {
  FakeHttp http;
  http.schemas[7] = R"("string")";
  std::string error, json;
  CHECK_FALSE(SchemaRegistry::Connect("https://r:1", http.Fn(), &error));
  CHECK_FALSE(SchemaRegistry::Connect("http://r:99999", http.Fn(), &error));
  auto reg = SchemaRegistry::Connect("http://127.0.0.1:8081/apis/ccompat/v7/", http.Fn(), &error);
  REQUIRE(reg);
  CHECK(reg->Get(7, &json, &error) == SchemaRegistry::Lookup::kFound);
  CHECK(http.last_target == "/apis/ccompat/v7/schemas/ids/7");
  CHECK(json == R"("string")");
  http.down = true;
  CHECK(reg->Get(7, &json, &error) == SchemaRegistry::Lookup::kFound);  // cached
  CHECK(http.calls == 1);
  CHECK(reg->Get(8, &json, &error) == SchemaRegistry::Lookup::kUnavailable);
  CHECK(error.find("unreachable") != std::string::npos);
  http.down = false;
  http.status_override = 503;
  CHECK(reg->Get(8, &json, &error) == SchemaRegistry::Lookup::kUnavailable);
  http.status_override = 0;
  CHECK(reg->Get(8, &json, &error) == SchemaRegistry::Lookup::kNotFound);
  CHECK(error.find("unknown schema id 8") != std::string::npos);
}

TEST_CASE("avro: an id the registry did not know is asked for again, not unknown for good",
          "[avro]") {
  // A registry replica that lags (or a failover) answers 404 for an id it will know: the
  // events that name it meanwhile are event errors, the ones after the wait decode.
  FakeHttp http;
  std::string error;
  auto reg = SchemaRegistry::Connect("http://127.0.0.1:8081", http.Fn(), &error);
  REQUIRE(reg);
  projd::AvroEventDecoder decoder(reg);
  decoder.AskAgainAfter(std::chrono::milliseconds(50));
  auto schema = Schema(R"("string")");
  std::string frame;
  projd::AppendConfluentFrame(31, Encode(schema.get(), R"("hello")"), &frame);
  Value v;
  bool unavailable = false;
  CHECK_FALSE(decoder.Decode(frame, &v, &error, &unavailable));
  CHECK_FALSE(unavailable);
  CHECK(error.find("unknown schema id 31") != std::string::npos);
  http.schemas[31] = R"("string")";
  // Within the wait: still unknown, without asking the registry again.
  int calls = http.calls;
  CHECK_FALSE(decoder.Decode(frame, &v, &error, &unavailable));
  CHECK(http.calls == calls);
  std::this_thread::sleep_for(std::chrono::milliseconds(80));
  REQUIRE(decoder.Decode(frame, &v, &error, &unavailable));
  CHECK(ToJson(v) == R"("hello")");
  CHECK(decoder.cached_schemas() == 1);
}

TEST_CASE("avro: schema references are fetched and written into the schema", "[avro]") {
  // Confluent schema references: the event names bank.Money (subject money, version 1), which
  // names bank.Currency (subject currency, version 2); bank.Money is used twice.
  std::map<std::string, std::string> answers = {
      {"/schemas/ids/5",
       R"({"schema":"{\"type\":\"record\",\"name\":\"Moved\",\"namespace\":\"bank\",)"
       R"(\"fields\":[{\"name\":\"amount\",\"type\":\"Money\"},)"
       R"({\"name\":\"fee\",\"type\":[\"null\",\"bank.Money\"]}]}",)"
       R"("references":[{"name":"bank.Money","subject":"money","version":1}]})"},
      {"/subjects/money/versions/1",
       R"({"subject":"money","version":1,"id":3,"schema":"{\"type\":\"record\",)"
       R"(\"name\":\"Money\",\"namespace\":\"bank\",\"fields\":[{\"name\":\"units\",)"
       R"(\"type\":{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":20,)"
       R"(\"scale\":2}},{\"name\":\"ccy\",\"type\":\"Currency\"}]}",)"
       R"("references":[{"name":"bank.Currency","subject":"currency","version":2}]})"},
      {"/subjects/currency/versions/2",
       R"({"schema":"{\"type\":\"enum\",\"name\":\"Currency\",\"symbols\":[\"EUR\",\"CHF\"]}"})"},
  };
  int calls = 0;
  bool down = false;
  RegistryHttpFn http = [&](const RegistryHttpRequest& req, RegistryHttpResponse* resp,
                            std::string* error) {
    ++calls;
    if (down) {
      *error = "connection refused";
      return false;
    }
    auto it = answers.find(req.target);
    resp->status = it == answers.end() ? 404 : 200;
    resp->body = it == answers.end() ? R"({"message":"not found"})" : it->second;
    return true;
  };
  std::string error, json;
  auto reg = SchemaRegistry::Connect("http://127.0.0.1:8081", http, &error);
  REQUIRE(reg);
  down = true;  // an outage while the references are fetched holds, as for the schema itself
  CHECK(reg->Get(5, &json, &error) == SchemaRegistry::Lookup::kUnavailable);
  down = false;
  REQUIRE(reg->Get(5, &json, &error) == SchemaRegistry::Lookup::kFound);
  CHECK(calls == 4);
  auto s = Schema(json);  // whole: it parses alone
  std::string bytes = Encode(s.get(), R"({"amount":{"units":"12.50","ccy":"CHF"},)"
                                      R"("fee":{"units":-0.01,"ccy":"EUR"}})");
  CHECK(DecodeToJson(s.get(), bytes) ==
        R"({"amount":{"ccy":"CHF","units":12.5},"fee":{"ccy":"EUR","units":-0.01}})");
  CHECK(reg->Get(5, &json, &error) == SchemaRegistry::Lookup::kFound);  // cached whole
  CHECK(calls == 4);
  // A reference the registry does not know: the schema is unknown (an event error).
  answers["/schemas/ids/6"] =
      R"({"schema":"\"bank.Gone\"","references":[{"name":"bank.Gone","subject":"gone","version":1}]})";
  CHECK(reg->Get(6, &json, &error) == SchemaRegistry::Lookup::kNotFound);
  CHECK(error.find("unknown reference bank.Gone (subject gone version 1)") != std::string::npos);
}

std::string Frame(int32_t id, const std::string& datum) {
  std::string out;
  AppendConfluentFrame(id, datum, &out);
  return out;
}

class NoRows final : public RowSource {
 public:
  bool LoadRow(const std::string& key, RowRecord* out) override {
    auto it = rows.find(key);
    if (it == rows.end()) return false;
    *out = it->second;
    return true;
  }
  bool SeenId(const std::string&, uint64_t) override { return false; }
  std::map<std::string, RowRecord> rows;
};

Message Msg(const std::string& value, int64_t offset) {
  Message m;
  m.topic = "accounts";
  m.value = value;
  m.offset = offset;
  m.timestamp_ms = 1000 + offset;
  return m;
}

const char kBalanceProj[] = R"(
projection balance {
  from "accounts"
  key event.account_id
  FORMAT
  on Opened { owner = event.owner  balance = 0  channel = event.channel }
  on Deposited { balance += event.amount  last_channel = coalesce(event.channel, "none") }
})";

std::shared_ptr<const Projection> Compile(const std::string& format) {
  std::string text = kBalanceProj;
  text.replace(text.find("FORMAT"), 6, "format " + format);
  CompiledFile f = CompileFile("balance.proj", text);
  REQUIRE(f.ok());
  return f.projections[0];
}

// Applies values in one batch; returns the rows as JSON and the dead-letter reasons.
std::string Run(Projector* p, const std::vector<std::string>& values,
                std::vector<std::string>* dead = nullptr) {
  NoRows rows;
  Batch batch;
  std::vector<Message> msgs;
  for (size_t i = 0; i < values.size(); ++i) msgs.push_back(Msg(values[i], int64_t(i)));
  std::string problem;
  REQUIRE(p->PrefetchSchemas(msgs, &problem));
  for (const auto& m : msgs) {
    std::string stop;
    REQUIRE(p->Apply(m, &rows, &batch, &stop) != Projector::Outcome::kStop);
  }
  if (dead) {
    for (const auto& d : batch.dead_letters) dead->push_back(d.reason);
  }
  Object o;
  for (const auto& [k, r] : batch.rows) {
    if (r.exists) o.Set(k, Value::MakeObject(r.fields));
  }
  return ToJson(Value::MakeObject(std::move(o)));
}

const char kV1[] = R"({"type":"record","name":"E","fields":[
    {"name":"type","type":"string"},{"name":"account_id","type":"string"},
    {"name":"owner","type":["null","string"],"default":null},
    {"name":"amount","type":["null",{"type":"bytes","logicalType":"decimal","precision":20,"scale":2}],
     "default":null}]})";
// v2 adds "channel" (with a default) and drops "owner".
const char kV2[] = R"({"type":"record","name":"E","fields":[
    {"name":"type","type":"string"},{"name":"account_id","type":"string"},
    {"name":"amount","type":["null",{"type":"bytes","logicalType":"decimal","precision":20,"scale":2}],
     "default":null},
    {"name":"channel","type":"string","default":"web"}]})";

TEST_CASE("avro: two schema versions give the same view as JSON", "[avro]") {
  auto v1 = Schema(kV1);
  auto v2 = Schema(kV2);
  std::vector<std::pair<int, std::string>> events = {
      {1, R"({"type":"Opened","account_id":"a","owner":"alice"})"},
      {1, R"({"type":"Deposited","account_id":"a","amount":"0.10"})"},
      {2, R"({"type":"Deposited","account_id":"a","amount":"0.20","channel":"atm"})"},
      {2, R"({"type":"Opened","account_id":"b","channel":"branch"})"},
      {2, R"({"type":"Deposited","account_id":"b","amount":"99999999999999999.99"})"},
      {1, R"({"type":"Deposited","account_id":"b","amount":"0.01"})"},
  };
  // The same events as a JSON producer writes them (v2's writer filled channel's default).
  std::vector<std::string> json = {
      R"({"type":"Opened","account_id":"a","owner":"alice"})",
      R"({"type":"Deposited","account_id":"a","amount":0.10})",
      R"({"type":"Deposited","account_id":"a","amount":0.20,"channel":"atm"})",
      R"({"type":"Opened","account_id":"b","channel":"branch"})",
      R"({"type":"Deposited","account_id":"b","amount":99999999999999999.99,"channel":"web"})",
      R"({"type":"Deposited","account_id":"b","amount":0.01})",
  };
  std::vector<std::string> avro;
  for (const auto& [ver, e] : events) {
    avro.push_back(Frame(ver == 1 ? 41 : 42, Encode(ver == 1 ? v1.get() : v2.get(), e)));
  }
  Projector pa(Compile("avro"));
  pa.UseAvro(SchemaRegistry::Fixed({{41, kV1}, {42, kV2}}));
  Projector pj(Compile("json"));
  std::string got = Run(&pa, avro);
  CHECK(got == Run(&pj, json));
  CHECK(
      got ==
      R"({"a":{"balance":0.3,"channel":null,"last_channel":"atm","owner":"alice"},)"
      R"("b":{"balance":100000000000000000,"channel":"branch","last_channel":"none","owner":null}})");
}

TEST_CASE("avro: unknown ids and corrupt bodies are dead letters; outages hold", "[avro]") {
  auto v1 = Schema(kV1);
  std::string good = Frame(41, Encode(v1.get(), R"({"type":"Opened","account_id":"a"})"));
  std::string corrupt = good.substr(0, good.size() - 1);
  std::string unknown = Frame(99, Encode(v1.get(), R"({"type":"Opened","account_id":"c"})"));
  Projector p(Compile("avro"));
  p.UseAvro(SchemaRegistry::Fixed({{41, kV1}}));
  std::vector<std::string> dead;
  std::string rows = Run(&p, {good, corrupt, unknown, "{\"type\":\"Opened\"}"}, &dead);
  CHECK(rows == R"({"a":{"balance":0,"channel":null,"owner":null}})");
  REQUIRE(dead.size() == 3);
  CHECK(dead[0].find("does not decode") != std::string::npos);
  CHECK(dead[1].find("unknown schema id 99") != std::string::npos);
  CHECK(dead[2].find("not Confluent Avro") != std::string::npos);

  // A dead letter of an event that decoded (its key is empty) keeps the event as its JSON, not
  // the frame's bytes as text; one that did not decode keeps its bytes.
  {
    std::string empty_key = Frame(41, Encode(v1.get(), R"({"type":"Opened","account_id":""})"));
    Projector e(Compile("avro"));
    e.UseAvro(SchemaRegistry::Fixed({{41, kV1}}));
    NoRows none;
    Batch batch;
    std::vector<Message> msgs = {Msg(empty_key, 0), Msg(corrupt, 1)};
    std::string problem, stop;
    REQUIRE(e.PrefetchSchemas(msgs, &problem));
    for (const auto& m : msgs)
      REQUIRE(e.Apply(m, &none, &batch, &stop) != Projector::Outcome::kStop);
    REQUIRE(batch.dead_letters.size() == 2);
    CHECK(batch.dead_letters[0].event ==
          R"({"account_id":"","amount":null,"owner":null,"type":"Opened"})");
    CHECK(batch.dead_letters[1].event == corrupt);
  }

  // A registry that cannot be reached: Prefetch reports it and nothing is decided.
  FakeHttp http;
  http.down = true;
  std::string error;
  auto reg = SchemaRegistry::Connect("http://127.0.0.1:1", http.Fn(), &error);
  Projector q(Compile("avro"));
  q.UseAvro(reg);
  std::vector<Message> msgs = {Msg(good, 0)};
  std::string problem;
  CHECK_FALSE(q.PrefetchSchemas(msgs, &problem));
  CHECK(problem.find("unreachable") != std::string::npos);
  // Applied anyway (no prefetch): the view stops at the event, never a dead letter.
  NoRows norows;
  Batch batch;
  std::string stop;
  CHECK(q.Apply(msgs[0], &norows, &batch, &stop) == Projector::Outcome::kStop);
  CHECK(batch.dead_letters.empty());
  http.down = false;
  http.schemas[41] = kV1;
  CHECK(q.PrefetchSchemas(msgs, &problem));
  CHECK(q.Apply(msgs[0], &norows, &batch, &stop) == Projector::Outcome::kApplied);
}

}  // namespace
}  // namespace projd
