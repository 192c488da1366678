// The quick JSON reader against the full one (dsl/value_internal.h): whatever the quick reader
// accepts, the full reader accepts with the same value (same JSON, same binary encoding, so the
// same decimal scales), and it takes the plain texts events are.
#include <catch2/catch.hpp>
#include <random>
#include <string>
#include <vector>

#include "dsl/value.h"
#include "dsl/value_internal.h"

namespace projd {
namespace {

using value_internal::FullParseJson;
using value_internal::FullParseJsonMembers;
using value_internal::QuickParseJson;
using value_internal::QuickParseJsonMembers;

std::string Encode(const Value& v) {
  std::string out;
  EncodeBinary(v, &out);
  return out;
}

// Random JSON-like text: mostly well formed, with the things the quick reader must hand over
// (escapes, control characters, malformed UTF-8, odd numbers, deep nesting) mixed in.
class TextMaker {
 public:
  explicit TextMaker(uint32_t seed) : rng_(seed) {}

  std::string Document() {
    std::string out;
    Space(&out);
    Object(&out, 0);
    Space(&out);
    return out;
  }

  std::string Mutate(std::string text) {
    const char kAlphabet[] = "{}[]\",:\\ \t\n0123456789.eE+-tfnulrsa\x01\x7f\xc3\xa9\xe2\x82\xff";
    int edits = 1 + static_cast<int>(rng_() % 3);
    for (int e = 0; e < edits && !text.empty(); ++e) {
      size_t at = rng_() % text.size();
      char c = kAlphabet[rng_() % (sizeof(kAlphabet) - 1)];
      switch (rng_() % 3) {
        case 0:
          text[at] = c;
          break;
        case 1:
          text.erase(at, 1);
          break;
        default:
          text.insert(at, 1, c);
      }
    }
    return text;
  }

  uint32_t Next() { return rng_(); }

 private:
  void Space(std::string* out) {
    static const char* const kSpaces[] = {"", "", "", " ", "\n  ", "\t", "\r\n"};
    *out += kSpaces[rng_() % 7];
  }

  void String(std::string* out) {
    static const char* const kPieces[] = {
        "acc-00042",
        "Deposited",
        "",
        "a",
        "caf\xc3\xa9",
        "\xe2\x82\xac 12",
        "\xf0\x9f\x92\xb0",
        "long text of a memo that goes past sixteen bytes and more",
        "\\n",
        "\\\"",
        "\\u00e9",
        "\\ud83d\\udcb0",
        "\\ud800",
        "\x01",
        "\xff",
        "\xc3",
        "\xed\xa0\x80",
        "\xc0\xaf",
        "x\x7fy",
        "tab\tin"};
    out->push_back('"');
    int n = static_cast<int>(rng_() % 3);
    for (int i = 0; i < n; ++i) {
      size_t k = rng_() % 20;
      // Mostly the plain pieces (the first eight).
      if (rng_() % 4 != 0) k %= 8;
      *out += kPieces[k];
    }
    out->push_back('"');
  }

  void Number(std::string* out) {
    static const char* const kNumbers[] = {"0",
                                           "-0",
                                           "1",
                                           "125.50",
                                           "-3.25",
                                           "1e3",
                                           "2.5E-2",
                                           "1590.70",
                                           "99999999999999999999",
                                           "123456789012345678901234",
                                           "01",
                                           "1.",
                                           ".5",
                                           "-",
                                           "1e",
                                           "+1",
                                           "0.000000000000000000001",
                                           "1.2.3",
                                           "--1",
                                           "0x10"};
    size_t k = rng_() % 20;
    if (rng_() % 3 != 0) k %= 8;
    *out += kNumbers[k];
  }

  void Item(std::string* out, int depth) {
    switch (rng_() % 9) {
      case 0:
      case 1:
      case 2:
        String(out);
        break;
      case 3:
      case 4:
        Number(out);
        break;
      case 5:
        *out += (rng_() % 2) ? "true" : "false";
        break;
      case 6:
        *out += (rng_() % 8) ? "null" : "nul";
        break;
      case 7:
        if (depth < 40 && rng_() % 2) {
          Object(out, depth + 1);
        } else {
          String(out);
        }
        break;
      default:
        if (depth < 40) {
          Array(out, depth + 1);
        } else {
          Number(out);
        }
    }
  }

  void Object(std::string* out, int depth) {
    static const char* const kNames[] = {"type", "account_id", "amount", "ts",         "meta",
                                         "memo", "t\\u0079pe", "",       "caf\xc3\xa9"};
    out->push_back('{');
    int n = depth > 3 ? static_cast<int>(rng_() % 2) : static_cast<int>(rng_() % 8);
    for (int i = 0; i < n; ++i) {
      if (i > 0) out->push_back(',');
      Space(out);
      *out += '"';
      *out += kNames[rng_() % 9];
      *out += '"';
      Space(out);
      out->push_back(':');
      Space(out);
      Item(out, depth);
      Space(out);
    }
    out->push_back('}');
  }

  void Array(std::string* out, int depth) {
    out->push_back('[');
    int n = depth > 3 ? static_cast<int>(rng_() % 2) : static_cast<int>(rng_() % 4);
    for (int i = 0; i < n; ++i) {
      if (i > 0) out->push_back(',');
      Space(out);
      Item(out, depth);
    }
    out->push_back(']');
  }

  std::mt19937 rng_;
};

TEST_CASE("The quick JSON reader accepts only what the full reader reads the same", "[dsl]") {
  TextMaker maker(23);
  int quick_accepted = 0, full_accepted = 0, plain = 0, plain_quick = 0;
  for (int i = 0; i < 40000; ++i) {
    std::string text = maker.Document();
    if (i % 2 == 1) text = maker.Mutate(text);
    INFO("text: " << text);
    Value full, quick = Value::String("before");
    std::string error;
    bool full_ok = FullParseJson(text, &full, &error);
    bool quick_ok = QuickParseJson(text, &quick);
    full_accepted += full_ok ? 1 : 0;
    if (quick_ok) {
      ++quick_accepted;
      REQUIRE(full_ok);
      REQUIRE(ToJson(quick) == ToJson(full));
      REQUIRE(Encode(quick) == Encode(full));
    }
    // What ParseJson says is what the full reader says.
    Value v;
    std::string parse_error;
    REQUIRE(ParseJson(text, &v, &parse_error) == full_ok);
    if (full_ok) {
      REQUIRE(Encode(v) == Encode(full));
    } else {
      REQUIRE(parse_error == error);
    }
    // Valid objects and arrays without escapes are the quick reader's: it takes every one
    // (top-level scalars go to the full reader).
    if (full_ok && (full.is_object() || full.is_array()) && text.find('\\') == std::string::npos) {
      ++plain;
      plain_quick += quick_ok ? 1 : 0;
    }
  }
  INFO("quick " << quick_accepted << ", full " << full_accepted << ", plain " << plain);
  CHECK(full_accepted > 5000);
  CHECK(quick_accepted > full_accepted / 3);
  CHECK(plain > 1000);
  CHECK(plain_quick == plain);
}

TEST_CASE("The quick member reader fills the same slots as the full one", "[dsl]") {
  TextMaker maker(41);
  JsonFieldSet fields({"type", "amount", "meta", "ts", "missing", ""});
  std::vector<Value> quick(fields.size()), full(fields.size());
  int quick_accepted = 0, full_accepted = 0;
  for (int i = 0; i < 40000; ++i) {
    std::string text = maker.Document();
    if (i % 2 == 1) text = maker.Mutate(text);
    INFO("text: " << text);
    for (auto& s : quick) s = Value::String("left over from the last event");
    std::string error;
    MemberRead full_read = FullParseJsonMembers(text, fields, full.data(), &error);
    bool quick_ok = QuickParseJsonMembers(text, fields, quick.data());
    full_accepted += full_read == MemberRead::kObject ? 1 : 0;
    if (!quick_ok) continue;
    ++quick_accepted;
    REQUIRE(full_read == MemberRead::kObject);
    for (size_t k = 0; k < fields.size(); ++k) {
      INFO("slot " << fields.names()[k]);
      REQUIRE(Encode(quick[k]) == Encode(full[k]));
    }
  }
  CHECK(full_accepted > 5000);
  CHECK(quick_accepted > full_accepted / 3);
}

TEST_CASE("The quick JSON reader finds a string's end in a text's last 16 bytes", "[dsl]") {
  // Strings that end in the last 16 bytes of the text are scanned with one load ending at the
  // text's end: each kind of byte a string must stop at, at every place in such a string, in
  // texts shorter and longer than 16 bytes.
  const std::vector<std::string> specials = {"\\\"", "\x01", "\x1f", "\xc3\xa9", "\xe2\x82\xac",
                                             "\xff", "\xc3", "\\n",  "\\u0041"};
  int quick_accepted = 0, plain = 0;
  for (size_t lead = 0; lead < 24; ++lead) {
    const std::string name(lead, 'k');
    const JsonFieldSet fields({name});
    for (size_t len = 0; len < 20; ++len) {
      for (size_t at = 0; at <= len; ++at) {
        for (const std::string& special : specials) {
          std::string body(len, 'x');
          body.insert(at, special);
          std::string text = "{\"" + name + "\":\"" + body + "\"}";
          INFO("text: " << text);
          Value full, quick;
          std::string error;
          const bool full_ok = FullParseJson(text, &full, &error);
          // Valid, and without escapes or control characters: the quick reader's to take.
          const bool is_plain =
              full_ok && special[0] != '\\' && static_cast<unsigned char>(special[0]) >= 0x20;
          plain += is_plain ? 1 : 0;
          if (QuickParseJson(text, &quick)) {
            ++quick_accepted;
            REQUIRE(full_ok);
            REQUIRE(Encode(quick) == Encode(full));
          } else if (is_plain) {
            FAIL("a plain string went to the full reader");
          }
          Value slot = Value::String("old");
          if (QuickParseJsonMembers(text, fields, &slot)) {
            REQUIRE(full_ok);
            REQUIRE(Encode(slot) == Encode(*full.as_object().Find(name)));
          }
        }
      }
    }
  }
  CHECK(plain > 1000);
  CHECK(quick_accepted == plain);
}

TEST_CASE("The quick JSON reader takes the usual event and hands over the rest", "[dsl]") {
  const std::string event =
      R"({"type":"Deposited","account_id":"acc-00042","amount":125.50,"currency":"EUR",)"
      "\"memo\":\"Caf\xc3\xa9 du Commerce \xe2\x82\xac\",\"ts\":\"2025-07-14T09:30:00Z\","
      R"("tags":["a",1,true,null,{}],"meta":{"channel":"web","seq":17}})";
  Value v;
  REQUIRE(QuickParseJson(event, &v));
  Value full;
  std::string error;
  REQUIRE(FullParseJson(event, &full, &error));
  CHECK(Encode(v) == Encode(full));
  CHECK(v.as_object().Find("memo")->as_string() == "Caf\xc3\xa9 du Commerce \xe2\x82\xac");
  JsonFieldSet fields({"amount", "meta", "absent"});
  std::vector<Value> slots(3, Value::String("old"));
  REQUIRE(QuickParseJsonMembers(event, fields, slots.data()));
  CHECK(slots[0] == *v.as_object().Find("amount"));
  CHECK(slots[1] == *v.as_object().Find("meta"));
  CHECK(slots[2].is_null());
  // Every truncation and every text that is not plain goes to the full reader.
  for (size_t n = 0; n < event.size(); ++n) {
    INFO("prefix " << n);
    CHECK_FALSE(QuickParseJson(event.substr(0, n), &v));
    CHECK_FALSE(QuickParseJsonMembers(event.substr(0, n), fields, slots.data()));
  }
  for (const char* text :
       {R"({"a":"x\"y"})", "{\"a\":\"\x01\"}", "{\"a\":\"\xff\"}", R"({"a":01})", R"({"a":1.})",
        R"({"a":tru})", R"({"a":truex})", R"({"a":1}x)", R"({"a" 1})", R"({"a":1,})", R"([1,])",
        R"({"a":123456789012345678901234})", R"("top")", "17", "", "  ", R"({"a":"\u0041"})"}) {
    INFO(text);
    CHECK_FALSE(QuickParseJson(text, &v));
  }
  CHECK(QuickParseJson(" [ 1 , {\"b\" : [ ] } ]\n", &v));
  CHECK(ToJson(v) == R"([1,{"b":[]}])");
}

}  // namespace
}  // namespace projd
