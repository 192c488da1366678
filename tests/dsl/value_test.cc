#include "dsl/value.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <random>
#include <string>

#include "dsl/varint.h"

namespace projd {
namespace {

const char kEvent[] =
    R"({"type":"Deposited","account_id":"acc-00042","amount":125.50,"currency":"EUR",)"
    R"("ts":"2025-07-14T09:30:00Z","event_id":"e-1234567","owner":"alice",)"
    R"("meta":{"channel":"web","seq":17}})";

Value Parse(const std::string& text) {
  Value v;
  std::string error;
  INFO("parsing " << text);
  bool ok = ParseJson(text, &v, &error);
  INFO("error: " << error);
  REQUIRE(ok);
  return v;
}

// Parses text that must be rejected; returns the error message.
std::string ParseError(const std::string& text) {
  Value v = Value::String("untouched");
  std::string error;
  INFO("parsing " << text);
  CHECK_FALSE(ParseJson(text, &v, &error));
  CHECK(v == Value::String("untouched"));  // output left alone on failure
  CHECK(error.rfind("invalid JSON at byte ", 0) == 0);
  return error;
}

Value Num(const char* text) {
  Decimal d;
  REQUIRE(Decimal::Parse(text, &d));
  return Value::Number(d);
}

std::string Encode(const Value& v) {
  std::string out;
  EncodeBinary(v, &out);
  return out;
}

std::string Nested(int depth, char open, char close) {
  std::string s;
  for (int i = 0; i < depth; ++i) s += open == '[' ? "[" : "{\"k\":";
  s += "1";
  for (int i = 0; i < depth; ++i) s += close;
  return s;
}

TEST_CASE("Value is compact", "[dsl]") { CHECK(sizeof(Value) <= 32); }

TEST_CASE("Value constructors, accessors and type names", "[dsl]") {
  Value null;
  CHECK(null.is_null());
  CHECK(Value::Null().type() == Value::Type::kNull);
  CHECK(Value::Bool(true).as_bool());
  CHECK_FALSE(Value::Bool(false).as_bool());
  CHECK(Num("-3.25").as_number().ToString() == "-3.25");
  CHECK(Num("-99999999999999999999.999999999999999999").as_number().ToString() ==
        "-99999999999999999999.999999999999999999");
  CHECK(Value::String("héllo").as_string() == "héllo");
  Value arr = Value::MakeArray({Value::Bool(true), Num("1")});
  CHECK(arr.is_array());
  CHECK(arr.as_array().size() == 2);
  arr.as_array().push_back(Value::String("x"));
  CHECK(arr.as_array().back().as_string() == "x");
  Object o;
  o.Set("a", Num("1"));
  Value obj = Value::MakeObject(o);
  CHECK(obj.is_object());
  CHECK(obj.as_object().Find("a")->as_number() == Decimal::FromInt(1));

  CHECK(std::string(Value::TypeName(Value::Type::kNull)) == "null");
  CHECK(std::string(Value::TypeName(Value::Type::kBool)) == "bool");
  CHECK(std::string(Value::TypeName(Value::Type::kNumber)) == "number");
  CHECK(std::string(Value::TypeName(Value::Type::kString)) == "string");
  CHECK(std::string(Value::TypeName(Value::Type::kArray)) == "array");
  CHECK(std::string(Value::TypeName(Value::Type::kObject)) == "object");
}

TEST_CASE("Value copies deeply and moves cheaply", "[dsl]") {
  Value a = Parse(R"({"list":[1,"two",{"x":null}],"s":"a long string that does not fit SSO"})");
  Value b = a;
  CHECK(a == b);
  b.as_object().Find("list")->as_array().push_back(Value::Bool(false));
  CHECK(a != b);
  CHECK(a.as_object().Find("list")->as_array().size() == 3);

  Value c = std::move(b);
  CHECK(b.is_null());  // NOLINT: moved-from values are null by design
  CHECK(c.as_object().Find("list")->as_array().size() == 4);

  Value d;
  d = c;
  CHECK(d == c);
  d = d;  // self-assignment
  CHECK(d == c);
  d = std::move(d);
  CHECK(d == c);

  // Assigning a value from inside itself must not read freed memory.
  Value e = Parse(R"([[1,2],"x"])");
  e = e.as_array()[0];
  CHECK(ToJson(e) == "[1,2]");
  e = std::move(e.as_array()[1]);
  CHECK(ToJson(e) == "2");
  // A scalar from inside itself (copied without the heap) and into a scalar.
  Value g = Parse(R"([7.5,{"k":true}])");
  g = g.as_array()[0];
  CHECK(ToJson(g) == "7.5");
  Value h = Parse(R"({"k":true})");
  h = *h.as_object().Find("k");
  CHECK(ToJson(h) == "true");
  Value i = Value::Bool(false);
  i = Parse(R"(["s"])");
  i = i.as_array()[0];
  CHECK(ToJson(i) == R"("s")");
  Value f = Parse(R"({"inner":{"k":"v"}})");
  f = std::move(*f.as_object().Find("inner"));
  CHECK(ToJson(f) == R"({"k":"v"})");
}

TEST_CASE("Value equality is deep and compares numbers by value", "[dsl]") {
  CHECK(Num("1.0") == Num("1"));
  CHECK(Num("-0") == Num("0"));
  CHECK(Num("1") != Value::String("1"));
  CHECK(Value::Null() != Value::Bool(false));
  CHECK(Value::Bool(true) != Value::Bool(false));
  CHECK(Parse(R"({"a":[1,2.50],"b":{"c":"d"}})") == Parse(R"({"b":{"c":"d"},"a":[1.0,2.5]})"));
  CHECK(Parse("[1,2]") != Parse("[2,1]"));
  CHECK(Parse("[1,2]") != Parse("[1,2,3]"));
  CHECK(Parse(R"({"a":1})") != Parse(R"({"a":1,"b":2})"));
  CHECK(Parse(R"({"a":1})") != Parse(R"({"b":1})"));
}

TEST_CASE("Object keeps members sorted by name in byte order", "[dsl]") {
  Object o;
  o.Set("b", Num("2"));
  o.Set("a", Num("1"));
  o.Set("\xc3\xa9", Num("5"));  // é sorts after all ASCII
  o.Set("B", Num("0"));
  o.Set("c", Num("3"));
  Value& stored = o.Set("a", Num("10"));  // replaces in place
  CHECK(stored.as_number() == Decimal::FromInt(10));
  REQUIRE(o.size() == 5);
  std::vector<std::string> names;
  for (const auto& m : o.members()) names.push_back(m.first);
  CHECK(names == std::vector<std::string>{"B", "a", "b", "c", "\xc3\xa9"});
  CHECK(o.Find("a")->as_number() == Decimal::FromInt(10));
  CHECK(o.Find("zz") == nullptr);
  CHECK(o.Find("") == nullptr);
  o.Find("c")->as_number();
  *o.Find("c") = Value::String("changed");
  CHECK(o.Find("c")->as_string() == "changed");
  CHECK(o.Erase("b"));
  CHECK_FALSE(o.Erase("b"));
  CHECK(o.size() == 4);
  CHECK_FALSE(o.empty());
  const Object& co = o;
  CHECK(co.Find("B") != nullptr);

  Object p;
  CHECK(p.empty());
  p.Set("", Value::Null());
  CHECK(p.Find("") != nullptr);
}

// Erase of small objects (members scanned) and large ones (binary search): each name once,
// in a shuffled order, names of equal length and prefixes of each other among them, and
// absent names (longer, or as long with another last byte) erasing nothing.
TEST_CASE("Object::Erase removes exactly the named member", "[dsl]") {
  for (int n : {1, 5, 16, 17, 40}) {
    std::vector<std::string> names;
    for (int i = 0; i < n; ++i)
      names.push_back(std::string(static_cast<size_t>(i % 3) + 1, 'a') + std::to_string(i));
    Object o;
    for (const auto& name : names) o.Set(name, Value::String(name));
    std::mt19937 rng(static_cast<uint32_t>(n));
    std::shuffle(names.begin(), names.end(), rng);
    for (size_t k = 0; k < names.size(); ++k) {
      CHECK_FALSE(o.Erase(names[k] + "x"));
      CHECK_FALSE(o.Erase(names[k].substr(0, names[k].size() - 1) + "#"));  // same length
      REQUIRE(o.Erase(names[k]));
      CHECK_FALSE(o.Erase(names[k]));
      REQUIRE(o.size() == names.size() - k - 1);
      for (size_t j = 0; j < names.size(); ++j) {
        const Value* v = o.Find(names[j]);
        if (j <= k) {
          CHECK(v == nullptr);
        } else {
          REQUIRE(v != nullptr);
          CHECK(v->as_string() == names[j]);
        }
      }
    }
    CHECK(o.empty());
  }
}

TEST_CASE("Object::FromMembers sorts and keeps the last duplicate", "[dsl]") {
  std::vector<Object::Member> members;
  members.emplace_back("z", Num("1"));
  members.emplace_back("a", Num("2"));
  members.emplace_back("m", Num("3"));
  members.emplace_back("a", Num("4"));
  members.emplace_back("z", Num("5"));
  members.emplace_back("a", Num("6"));
  Object o = Object::FromMembers(std::move(members));
  REQUIRE(o.size() == 3);
  CHECK(o.members()[0].first == "a");
  CHECK(o.members()[0].second == Num("6"));
  CHECK(o.members()[1].first == "m");
  CHECK(o.members()[2].first == "z");
  CHECK(o.members()[2].second == Num("5"));
  CHECK(Object::FromMembers({}).empty());
}

TEST_CASE("ParseJson reads an event exactly", "[dsl]") {
  Value v = Parse(kEvent);
  REQUIRE(v.is_object());
  const Object& o = v.as_object();
  CHECK(o.size() == 8);
  CHECK(o.Find("amount")->as_number().ToString() == "125.5");
  CHECK(o.Find("account_id")->as_string() == "acc-00042");
  CHECK(o.Find("meta")->as_object().Find("seq")->as_number() == Decimal::FromInt(17));
  CHECK(ToJson(v) ==
        R"({"account_id":"acc-00042","amount":125.5,"currency":"EUR","event_id":"e-1234567",)"
        R"("meta":{"channel":"web","seq":17},"owner":"alice","ts":"2025-07-14T09:30:00Z",)"
        R"("type":"Deposited"})");
}

TEST_CASE("ParseJson keeps numbers exact", "[dsl]") {
  Value v = Parse(
      "[0.1, 0.30000000000000004, 1e3, -2.5E-2, 99999999999999999999.999999999999999999, "
      "1e-30, 0.1234567890123456789, -0]");
  CHECK(ToJson(v) ==
        "[0.1,0.30000000000000004,1000,-0.025,99999999999999999999.999999999999999999,0,"
        "0.123456789012345679,0]");
}

TEST_CASE("ParseJson accepts top-level scalars and whitespace", "[dsl]") {
  CHECK(Parse("12") == Num("12"));
  CHECK(Parse(" \t\r\n-0.5e1 \n") == Num("-5"));
  CHECK(Parse(" true ") == Value::Bool(true));
  CHECK(Parse("false") == Value::Bool(false));
  CHECK(Parse("null").is_null());
  CHECK(Parse(R"( "x\ny" )") == Value::String("x\ny"));
  CHECK(Parse(" [ ] ") == Value::MakeArray({}));
  CHECK(Parse(" { } ") == Value::MakeObject(Object()));
  CHECK(Parse(" { \"a\" : [ 1 , { } ] } ") == Parse(R"({"a":[1,{}]})"));
}

TEST_CASE("ParseJson duplicate member names: the last wins", "[dsl]") {
  CHECK(ToJson(Parse(R"({"a":1,"b":2,"a":3})")) == R"({"a":3,"b":2})");
  CHECK(ToJson(Parse(R"({"x":{"k":1,"k":{"deep":true}},"x":{"k":"last"}})")) ==
        R"({"x":{"k":"last"}})");
}

TEST_CASE("ParseJson handles many members in any order", "[dsl]") {
  std::string text = "{";
  for (int i = 5000; i > 0; --i) {
    text += "\"k" + std::to_string(i) + "\":" + std::to_string(i);
    text += i > 1 ? "," : "}";
  }
  Value v = Parse(text);
  const Object& o = v.as_object();
  REQUIRE(o.size() == 5000);
  for (size_t i = 1; i < o.size(); ++i) {
    REQUIRE(o.members()[i - 1].first < o.members()[i].first);
  }
  CHECK(o.Find("k1234")->as_number() == Decimal::FromInt(1234));
}

TEST_CASE("ParseJson decodes escapes and unicode", "[dsl]") {
  Value v = Parse(R"(["\"\\\/\b\f\n\r\t", "\u0041\u00e9\u20ac", "\ud83d\ude00", "\u0000x"])");
  const Array& a = v.as_array();
  CHECK(a[0].as_string() == "\"\\/\b\f\n\r\t");
  CHECK(a[1].as_string() == "A\xc3\xa9\xe2\x82\xac");
  CHECK(a[2].as_string() == "\xf0\x9f\x98\x80");
  CHECK(a[3].as_string() == std::string("\0x", 2));
  // Raw UTF-8 passes through unchanged, in names too.
  Value w = Parse("{\"cl\xc3\xa9\":\"\xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80\"}");
  CHECK(w.as_object().Find("cl\xc3\xa9")->as_string() ==
        "\xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80");
  CHECK(Parse(R"({"a\u0062":1})").as_object().Find("ab") != nullptr);
}

TEST_CASE("ParseJson rejects malformed input with a reason and offset", "[dsl]") {
  CHECK(ParseError("") == "invalid JSON at byte 0: no value");
  CHECK(ParseError("   ") == "invalid JSON at byte 3: no value");
  CHECK(ParseError("{\"a\":1,}") == "invalid JSON at byte 7: unexpected character '}'");
  CHECK(ParseError("[1 2]") == "invalid JSON at byte 3: unexpected character '2'");
  CHECK(ParseError("{\"a\" 1}") == "invalid JSON at byte 5: unexpected character '1'");
  CHECK(ParseError("{1:2}") == "invalid JSON at byte 1: unexpected character '1'");
  CHECK(ParseError("[1,]") == "invalid JSON at byte 3: unexpected character ']'");
  CHECK(ParseError("[1,2] ]") == "invalid JSON at byte 6: unexpected content after the value");
  CHECK(ParseError("{\"a\":1} x") == "invalid JSON at byte 8: unexpected content after the value");
  CHECK(ParseError("{\"a\":1}{\"b\":2}") ==
        "invalid JSON at byte 7: unexpected content after the value");
  CHECK(ParseError("[1,2]]") == "invalid JSON at byte 5: unexpected content after the value");
  CHECK(ParseError("[1true]") == "invalid JSON at byte 1: invalid number");
  CHECK(ParseError("{\"a\\q\":1}").find("invalid string") != std::string::npos);
  CHECK(ParseError("[1}") == "invalid JSON at byte 2: unexpected character '}'");
  CHECK(ParseError("{\"a\":[1}") == "invalid JSON at byte 7: unexpected character '}'");
  CHECK(ParseError("{}}") == "invalid JSON at byte 2: unexpected content after the value");
  CHECK(ParseError("true false") == "invalid JSON at byte 5: unexpected content after the value");
  CHECK(ParseError("12 3") == "invalid JSON at byte 3: unexpected content after the value");
  CHECK(ParseError("\"a\" \"b\"") == "invalid JSON at byte 4: unexpected content after the value");
  CHECK(ParseError(std::string("[1]\0", 4)) ==
        "invalid JSON at byte 3: unexpected content after the value");
  CHECK(ParseError("{\"a\":").rfind("invalid JSON at byte 5: unexpected end of input", 0) == 0);
  CHECK(ParseError("[[1]").find("byte 4") != std::string::npos);
  CHECK(ParseError("[\"ab") == "invalid JSON at byte 1: unterminated string");
  CHECK(ParseError("[\"a\x01\"]") ==
        "invalid JSON at byte 3: unescaped control character in string");
  CHECK(ParseError("[\"\xff\"]") == "invalid JSON at byte 2: invalid UTF-8");
  CHECK(ParseError("[\"\xc3\x28\"]") == "invalid JSON at byte 2: invalid UTF-8");
  CHECK(ParseError("[\"\xed\xa0\x80\"]") == "invalid JSON at byte 2: invalid UTF-8");  // surrogate
  CHECK(ParseError("[\"\xc0\xaf\"]") == "invalid JSON at byte 2: invalid UTF-8");      // overlong
  CHECK(ParseError("[\"\\ud800\"]") ==
        "invalid JSON at byte 1: invalid string (bad escape or unpaired surrogate)");
  CHECK(ParseError("[\"\\udc00\"]").find("invalid string") != std::string::npos);
  CHECK(ParseError("[\"\\x\"]").find("invalid string") != std::string::npos);
  CHECK(ParseError("[tru]").find("invalid literal") != std::string::npos);
  CHECK(ParseError("[nulx]").find("invalid literal") != std::string::npos);
  CHECK(ParseError("nul") == "invalid JSON at byte 0: invalid literal");
  CHECK(ParseError("x").find("byte 0") != std::string::npos);
  CHECK(ParseError("NaN").find("byte 0") != std::string::npos);
  CHECK(ParseError("'a'").find("byte 0") != std::string::npos);
  for (const char* bad_number : {"01", "1.", ".5", "-", "+1", "1e", "0x10", "12abc", "1.2.3"}) {
    std::string text = std::string("{\"n\":") + bad_number + "}";
    INFO(text);
    std::string error = ParseError(text);
    CHECK(error.find("byte 5") != std::string::npos);
  }
  CHECK(ParseError("[01]") == "invalid JSON at byte 1: invalid number");
  CHECK(ParseError("[1e20]") == "invalid JSON at byte 1: number out of range (|n| >= 10^20)");
  CHECK(ParseError("{\"big\": -100000000000000000000}") ==
        "invalid JSON at byte 8: number out of range (|n| >= 10^20)");
  CHECK(ParseError("1e25") == "invalid JSON at byte 0: number out of range (|n| >= 10^20)");
}

TEST_CASE("ParseJson limits nesting to 64 levels", "[dsl]") {
  CHECK(Parse(Nested(64, '[', ']')).is_array());
  CHECK(Parse(Nested(64, '{', '}')).is_object());
  CHECK(ParseError(Nested(65, '[', ']')) == "invalid JSON at byte 64: nesting deeper than 64");
  CHECK(ParseError(Nested(65, '{', '}')).find("nesting deeper than 64") != std::string::npos);
  // Far deeper input is refused without exhausting the stack.
  CHECK(ParseError(std::string(100000, '[') + std::string(100000, ']'))
            .find("nesting deeper than 64") != std::string::npos);
  CHECK(!ParseError(std::string(100000, '[')).empty());
}

TEST_CASE("ParseJson rejects every truncation of an object", "[dsl]") {
  std::string event = kEvent;
  for (size_t n = 0; n < event.size(); ++n) {
    Value v;
    std::string error;
    INFO("prefix " << event.substr(0, n));
    CHECK_FALSE(ParseJson(event.substr(0, n), &v, &error));
    CHECK_FALSE(error.empty());
  }
}

TEST_CASE("ParseJson survives mutated input and round-trips what it accepts", "[dsl]") {
  const std::string event = kEvent;
  const char kAlphabet[] = "{}[]\",:\\ 0123456789.eE+-tfnulrsa\x01\x7f\xc3\xa9\xff";
  std::mt19937 rng(7);
  int accepted = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string text = event;
    int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      size_t at = rng() % text.size();
      switch (rng() % 3) {
        case 0:
          text[at] = kAlphabet[rng() % (sizeof(kAlphabet) - 1)];
          break;
        case 1:
          text.erase(at, 1);
          break;
        default:
          text.insert(at, 1, kAlphabet[rng() % (sizeof(kAlphabet) - 1)]);
      }
    }
    Value v;
    std::string error;
    INFO(text);
    if (ParseJson(text, &v, &error)) {
      ++accepted;
      Value again;
      REQUIRE(ParseJson(ToJson(v), &again, &error));
      REQUIRE(again == v);
    } else {
      REQUIRE(error.rfind("invalid JSON at byte ", 0) == 0);
    }
  }
  CHECK(accepted > 0);
}

TEST_CASE("WriteJson writes compact JSON with RFC 8259 escaping", "[dsl]") {
  Object o;
  o.Set("text", Value::String(std::string("q\"b\\s/\n\t\x01\x1f\x7f\0", 12)));
  o.Set("uni", Value::String("\xc3\xa9\xf0\x9f\x98\x80"));
  o.Set("n", Num("-3.250"));
  o.Set("list", Value::MakeArray({Value::Null(), Value::Bool(true), Value::Bool(false)}));
  o.Set("empty", Value::MakeObject(Object()));
  o.Set("none", Value::MakeArray({}));
  Value v = Value::MakeObject(o);
  std::string out = "prefix:";
  WriteJson(v, &out);
  CHECK(out ==
        "prefix:{\"empty\":{},\"list\":[null,true,false],\"n\":-3.25,\"none\":[],"
        "\"text\":\"q\\\"b\\\\s/\\n\\t\\u0001\\u001f\x7f\\u0000\","
        "\"uni\":\"\xc3\xa9\xf0\x9f\x98\x80\"}");
  CHECK(ToJson(Value()) == "null");
  CHECK(ToJson(Num("10000")) == "10000");
  // Invalid UTF-8 (possible in values from other sources) still yields valid JSON.
  CHECK(ToJson(Value::String("a\xff"
                             "b\xc3")) == "\"a\\ufffdb\\ufffd\"");
  Object keys;
  keys.Set("line\nbreak", Value::Null());
  CHECK(ToJson(Value::MakeObject(keys)) == "{\"line\\nbreak\":null}");
}

TEST_CASE("WriteJson escapes a special byte wherever it falls in a long string", "[dsl]") {
  // Strings are scanned eight bytes at a time: each kind of byte that is not copied verbatim,
  // at every position of strings up to 70 bytes long, escaped (or kept: UTF-8) like one alone.
  const std::vector<std::pair<std::string, std::string>> specials = {
      {"\"", "\\\""},
      {"\\", "\\\\"},
      {"\n", "\\n"},
      {std::string(1, '\0'), "\\u0000"},
      {"\x1f", "\\u001f"},
      {"\x7f", "\x7f"},
      {"\xc3\xa9", "\xc3\xa9"},
      {"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"},
      {"\xff", "\\ufffd"},
      {"\x80", "\\ufffd"},
      {" ", " "}};
  for (size_t len = 0; len <= 70; ++len) {
    for (size_t at = 0; at <= len; ++at) {
      for (const auto& [raw, escaped] : specials) {
        std::string plain(len, 'a');
        for (size_t i = 0; i < len; ++i) plain[i] = static_cast<char>('a' + i % 26);
        std::string text = plain.substr(0, at) + raw + plain.substr(at);
        std::string expected = "\"" + plain.substr(0, at) + escaped + plain.substr(at) + "\"";
        INFO("length " << len << " at " << at << " byte " << static_cast<int>(raw[0]));
        REQUIRE(ToJson(Value::String(text)) == expected);
      }
    }
    std::string plain(len, '~');
    CHECK(ToJson(Value::String(plain)) == "\"" + plain + "\"");
  }
}

TEST_CASE("JSON round-trips through WriteJson and ParseJson", "[dsl]") {
  for (const char* text :
       {kEvent, "[]", "{}", "[[[]]]", R"({"a":{"b":{"c":[1,-2.5,"x",null,true,false]}}})",
        R"(["\u0000\u001f\"\\","é😀",-99999999999999999999.999999999999999999])", "0", "\"\""}) {
    Value v = Parse(text);
    std::string json = ToJson(v);
    INFO(json);
    Value back = Parse(json);
    CHECK(back == v);
    CHECK(ToJson(back) == json);
  }
}

TEST_CASE("WritePrettyJson indents by two spaces", "[dsl]") {
  Value v = Parse(R"({"b":[1,{"c":null}],"a":"x","e":{},"f":[]})");
  std::string out;
  WritePrettyJson(v, &out);
  CHECK(out ==
        "{\n"
        "  \"a\": \"x\",\n"
        "  \"b\": [\n"
        "    1,\n"
        "    {\n"
        "      \"c\": null\n"
        "    }\n"
        "  ],\n"
        "  \"e\": {},\n"
        "  \"f\": []\n"
        "}");
  std::string scalar;
  WritePrettyJson(Num("-0.5"), &scalar);
  CHECK(scalar == "-0.5");
  std::string empty;
  WritePrettyJson(Value::MakeArray({}), &empty);
  CHECK(empty == "[]");
  Value back = Parse(out);
  CHECK(back == v);
}

TEST_CASE("Binary encoding round-trips", "[dsl]") {
  Array many;
  for (int i = 0; i < 300; ++i) many.push_back(Value::Number(Decimal::FromInt(i - 150)));
  std::vector<Value> values = {
      Value(),
      Value::Bool(true),
      Value::Bool(false),
      Num("0"),
      Num("-0.000000000000000001"),
      Num("99999999999999999999.999999999999999999"),
      Num("-99999999999999999999.999999999999999999"),
      Value::String(""),
      Value::String(std::string(1000, 'x') + std::string("\0\xff", 2)),
      Value::MakeArray(many),
      Value::MakeObject(Object()),
      Parse(kEvent),
      Parse(Nested(64, '{', '}')),
  };
  for (const Value& v : values) {
    std::string data = Encode(v);
    Value back = Value::String("garbage");
    INFO(ToJson(v));
    REQUIRE(DecodeBinary(data, &back));
    CHECK(back == v);
  }
  CHECK(Encode(Value()) == std::string(1, '\0'));
  CHECK(Encode(Num("1")).size() == 17);
  CHECK(Encode(Parse(kEvent)).size() < std::string(kEvent).size());
}

TEST_CASE("Binary encoding is the stored format, byte for byte, appended to what is there",
          "[dsl]") {
  // {"a": [null, true, false, -1.5, "xy"], "b": {}, "c": "yyy…" (200 bytes)}: tags, LEB128
  // counts and lengths (200 takes two bytes), numbers as 16 bytes of two's complement
  // (-1.5 is -1.5e18 raw), members in name order.
  Object o;
  o.Set("c", Value::String(std::string(200, 'y')));
  o.Set("b", Value::MakeObject(Object()));
  o.Set("a", Value::MakeArray({Value(), Value::Bool(true), Value::Bool(false), Num("-1.5"),
                               Value::String("xy")}));
  std::string expected(
      "\x06\x03"
      "\x01"
      "a"
      "\x05\x05\x00\x02\x01"
      "\x03\x00\x00\xea\x84\xf2\xed\x2e\xeb\xff\xff\xff\xff\xff\xff\xff\xff"
      "\x04\x02xy"
      "\x01"
      "b"
      "\x06\x00"
      "\x01"
      "c"
      "\x04\xc8\x01",
      39);
  expected += std::string(200, 'y');
  std::string out = "pre";
  EncodeBinary(o, &out);
  CHECK(out == "pre" + expected);
  out = "pre";
  EncodeBinary(Value::MakeObject(o), &out);
  CHECK(out == "pre" + expected);
}

TEST_CASE("WriteBytes copies exactly the bytes given, whatever their length", "[dsl]") {
  std::string source;
  for (int i = 0; i < 40; ++i) source.push_back(static_cast<char>('a' + i % 26));
  for (size_t n = 0; n <= source.size(); ++n) {
    for (size_t at : {0, 1, 7}) {
      INFO("length " << n << " at " << at);
      std::string buf(64, '.');
      char* end = WriteBytes(buf.data() + at, std::string_view(source.data(), n));
      CHECK(end == buf.data() + at + n);
      CHECK(buf == std::string(at, '.') + source.substr(0, n) + std::string(64 - at - n, '.'));
    }
  }
}

TEST_CASE("WriteBinaryWithin writes the encoding when it fits, else stops at the end", "[dsl]") {
  Object o = Parse(kEvent).as_object();
  o.Set("list", Value::MakeArray({Num("-1.5"), Value::String(std::string(200, 'y')), Value(),
                                  Value::Bool(false), Value::MakeObject(Object())}));
  const std::string expected = Encode(Value::MakeObject(o));
  // Every room from none to more than enough: nullptr short of the encoding's size (never a
  // byte written past the end: the guard bytes after it stay), the encoding from there on.
  for (size_t room = 0; room <= expected.size() + 3; ++room) {
    INFO("room " << room);
    std::string buf(room + 16, '\x5a');
    char* end = WriteBinaryWithin(o, buf.data(), buf.data() + room);
    CHECK(buf.substr(room) == std::string(16, '\x5a'));
    if (room < expected.size()) {
      CHECK(end == nullptr);
    } else {
      REQUIRE(end == buf.data() + expected.size());
      CHECK(buf.substr(0, expected.size()) == expected);
    }
  }
}

TEST_CASE("DecodeBinary rejects every truncation", "[dsl]") {
  Object o = Parse(kEvent).as_object();
  o.Set("list", Value::MakeArray({Num("-1.5"), Value::String(std::string(200, 'y')), Value()}));
  std::string data = Encode(Value::MakeObject(o));
  for (size_t n = 0; n < data.size(); ++n) {
    Value v;
    INFO("prefix length " << n);
    CHECK_FALSE(DecodeBinary(std::string_view(data.data(), n), &v));
  }
  Value v;
  CHECK_FALSE(DecodeBinary(data + '\0', &v));  // trailing byte
}

TEST_CASE("DecodeBinary rejects corrupt input", "[dsl]") {
  Value v = Value::String("kept");
  CHECK_FALSE(DecodeBinary("", &v));
  CHECK_FALSE(DecodeBinary("\x07", &v));  // unknown tag
  CHECK_FALSE(DecodeBinary("\xff", &v));
  CHECK(v == Value::String("kept"));
  // String longer than the data.
  CHECK_FALSE(DecodeBinary(std::string("\x04\x05"
                                       "abc",
                                       5),
                           &v));
  // Array count far beyond the data must fail before reserving memory.
  CHECK_FALSE(DecodeBinary(std::string("\x05\xff\xff\xff\xff\xff\xff\xff\xff\x7f\x00", 11), &v));
  // Varint longer than 64 bits.
  CHECK_FALSE(DecodeBinary(std::string("\x04\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 11), &v));
  // Number at 10^20 (raw 10^38) is out of range.
  std::string big(1, '\x03');
  unsigned __int128 raw =
      static_cast<unsigned __int128>(10000000000000000000ULL) * 10000000000000000000ULL;
  for (int i = 0; i < 16; ++i) big.push_back(static_cast<char>(raw >> (8 * i)));
  CHECK_FALSE(DecodeBinary(big, &v));
  // Unsorted or duplicate names.
  CHECK_FALSE(DecodeBinary(std::string("\x06\x02\x01"
                                       "b\x00\x01"
                                       "a\x00",
                                       8),
                           &v));
  CHECK_FALSE(DecodeBinary(std::string("\x06\x02\x01"
                                       "a\x00\x01"
                                       "a\x00",
                                       8),
                           &v));
  CHECK(DecodeBinary(std::string("\x06\x02\x01"
                                 "a\x00\x01"
                                 "b\x00",
                                 8),
                     &v));
  CHECK(ToJson(v) == R"({"a":null,"b":null})");
  // Nesting beyond the decoder's limit.
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += std::string("\x05\x01", 2);
  deep += '\0';
  CHECK_FALSE(DecodeBinary(deep, &v));
}

TEST_CASE("DecodeBinary never crashes on random corruption", "[dsl]") {
  std::string data = Encode(Parse(
      R"({"a":[1,-2.5,"xyz",{"b":null,"c":[true,false]}],"d":"long string value here","e":{}})"));
  std::mt19937 rng(99);
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string bad = data;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      size_t at = rng() % bad.size();
      if (rng() % 4 == 0) {
        bad.erase(at, 1 + rng() % 3);
        if (bad.empty()) bad = "x";
      } else {
        bad[at] = static_cast<char>(rng());
      }
    }
    Value v;
    if (DecodeBinary(bad, &v)) {
      ++accepted;
      // Whatever decodes is a well-formed value that re-encodes identically.
      CHECK(Encode(v) == bad);
    }
  }
  CHECK(accepted < 20000);
}

}  // namespace
}  // namespace projd

namespace projd {
namespace {

// ParseJsonMembers accepts and rejects exactly what ParseJson does, with the same reasons, and
// reads the named members as ParseJson would.
TEST_CASE("ParseJsonMembers reads named members and checks the rest like ParseJson", "[dsl]") {
  JsonFieldSet fields({"amount", "type", "meta", "tab\tbed", "missing"});
  const std::vector<std::string> texts = {
      kEvent,
      R"({"type":"A","amount":1,"type":"B"})",              // duplicates: the last wins
      R"({"t\u0079pe":"escaped name","tab\tbed":true})",    // escaped names match unescaped
      R"({"type":"A","unused":[1,2,{"x":[true,null]}]})",   // unused members are skipped
      R"({"type":"A","unused":[1,2,}]})",                   // ... but checked
      R"({"type":"A","unused":12.3.4})",                    // invalid number in an unused member
      R"({"type":"A","unused":123456789012345678901234})",  // out of range in an unused member
      R"({"type":"A","unused":"bad \x escape"})",
      R"({"type":"A","unused":tru})",
      R"({"type":"A","amount":1} trailing)",
      R"({"type":"A","amount":1)",
      R"({"type":"A" "amount":1})",
      R"({"type":"A","amount":})",
      R"({"type":"unterminated)",
      R"({})",
      "{\"type\":\"A\",\"unused\":\"\x01\"}",
      "{\"type\":\"A\",\"unused\":\"\xff\"}",
      std::string(70, '[') + std::string(70, ']'),
      R"({"deep":)" + std::string(70, '[') + std::string(70, ']') + "}",
      R"([1,2])",
      R"("a string")",
      "not json",
      "",
  };
  std::vector<Value> slots(fields.size());
  for (const auto& text : texts) {
    INFO("text: " << text);
    Value whole;
    std::string whole_error, member_error;
    bool whole_ok = ParseJson(text, &whole, &whole_error);
    for (auto& s : slots) s = Value::String("left over from the last event");
    MemberRead r = ParseJsonMembers(text, fields, slots.data(), &member_error);
    if (!whole_ok) {
      // Either rejected with the same reason, or handed back for ParseJson to word it.
      CHECK(r != MemberRead::kObject);
      if (r == MemberRead::kInvalid) CHECK(member_error == whole_error);
      continue;
    }
    if (!whole.is_object()) {
      CHECK(r == MemberRead::kNotObject);
      continue;
    }
    REQUIRE(r == MemberRead::kObject);
    for (size_t i = 0; i < fields.size(); ++i) {
      const Value* want = whole.as_object().Find(fields.names()[i]);
      CHECK(slots[i] == (want ? *want : Value()));
    }
  }
}

TEST_CASE("JsonFieldSet gives each name its index", "[dsl]") {
  JsonFieldSet fields({"b", "a", "ab"});
  CHECK(fields.Slot("b") == 0);
  CHECK(fields.Slot("a") == 1);
  CHECK(fields.Slot("ab") == 2);
  CHECK(fields.Slot("") == -1);
  CHECK(fields.Slot("abc") == -1);
  // Names of one length, the empty name, names past the by-length table.
  const std::string long_a(40, 'a'), long_b = std::string(39, 'a') + "b";
  JsonFieldSet more({"ts", "id", "", long_a, "to", long_b, "id"});
  CHECK(more.Slot("ts") == 0);
  CHECK(more.Slot("id") == 1);  // of duplicates, the first
  CHECK(more.Slot("") == 2);
  CHECK(more.Slot(long_a) == 3);
  CHECK(more.Slot("to") == 4);
  CHECK(more.Slot(long_b) == 5);
  CHECK(more.Slot("tx") == -1);
  CHECK(more.Slot(std::string(40, 'c')) == -1);
  CHECK(more.Slot(std::string(31, 'a')) == -1);
}

TEST_CASE("Value::SetString reuses a string and replaces anything else", "[dsl]") {
  Value v = Value::String("a fairly long string that lives on the heap");
  v.SetString("short");
  CHECK(v == Value::String("short"));
  v = Value::Number(Decimal::FromInt(3));
  v.SetString("now a string");
  CHECK(v == Value::String("now a string"));
  // A part of its own string.
  v.SetString("abcdefghijklmnopqrstuvwxyz");
  v.SetString(std::string_view(v.as_string()).substr(3, 5));
  CHECK(v.as_string() == "defgh");
  v.SetString(std::string_view(v.as_string()).substr(0, 2));
  CHECK(v.as_string() == "de");
  // The same length: copied over the old bytes (an event's ids and times, event after event).
  v.SetString("acc-00001");
  const char* bytes = v.as_string().data();
  v.SetString("acc-00002");
  CHECK(v.as_string() == "acc-00002");
  CHECK(v.as_string().data() == bytes);
  v.SetString(v.as_string());  // all of its own string
  CHECK(v.as_string() == "acc-00002");
  v.SetString("");
  v.SetString("");
  CHECK(v.as_string().empty());
}

}  // namespace
}  // namespace projd

namespace projd {
namespace {

TEST_CASE("SameBytes agrees with memcmp at every length and difference", "[dsl]") {
  std::string a(40, 'x');
  for (size_t n = 0; n <= 40; ++n) {
    std::string b = a;
    CHECK(SameBytes(a.data(), b.data(), n));
    for (size_t i = 0; i < n; ++i) {
      b = a;
      b[i] = 'y';
      INFO("n " << n << " differing at " << i);
      CHECK_FALSE(SameBytes(a.data(), b.data(), n));
    }
  }
}

TEST_CASE("BinaryToJson writes what WriteJson writes of the decoded value, and fails alike",
          "[dsl]") {
  Object o = Parse(kEvent).as_object();
  o.Set("list", Value::MakeArray({Num("-1.5"), Value::String(std::string(200, 'y')), Value(),
                                  Value::Bool(true), Value::Bool(false)}));
  o.Set("escapes", Value::String(std::string("a\"b\\c\n\x01\xc3\xa9", 9)));
  o.Set("nested", Parse(Nested(64, '{', '}')));
  o.Set("empty", Value::MakeObject(Object()));
  o.Set("none", Value::MakeArray({}));
  o.Set("big", Num("-99999999999999999999.999999999999999999"));
  std::vector<std::string> encodings = {Encode(Value::MakeObject(o)), Encode(Value()),
                                        Encode(Num("0.10")), Encode(Value::String("\x7f"))};
  // Every encoding, every truncation of the first, and random byte changes of it: BinaryToJson
  // succeeds exactly where DecodeBinary does, with WriteJson's bytes, and otherwise leaves
  // its output as it was.
  std::string data = encodings[0];
  for (size_t n = 0; n < data.size(); n += 7) encodings.push_back(data.substr(0, n));
  encodings.push_back(data + '\0');
  std::mt19937 rng(5);
  for (int i = 0; i < 3000; ++i) {
    std::string changed = data;
    for (int k = 0; k < 1 + static_cast<int>(rng() % 3); ++k) {
      changed[rng() % changed.size()] = static_cast<char>(rng());
    }
    encodings.push_back(changed);
  }
  int valid = 0;
  for (const std::string& e : encodings) {
    Value v;
    bool decodes = DecodeBinary(e, &v);
    std::string json = "prefix";
    bool writes = BinaryToJson(e, &json);
    REQUIRE(writes == decodes);
    if (decodes) {
      ++valid;
      CHECK(json == "prefix" + ToJson(v));
    } else {
      CHECK(json == "prefix");
    }
  }
  CHECK(valid > 10);
}

}  // namespace
}  // namespace projd
