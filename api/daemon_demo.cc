// The daemon's --demo (see daemon.h): the example events produced into the broker, then a live
// stream of money movements on the accounts they open, with a malformed event now and then.
#include <array>
#include <chrono>
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "api/daemon.h"
#include "dsl/time.h"
#include "dsl/value.h"

namespace projd {
namespace {

// A memo, and a merchant where there is one (card payments, ATM withdrawals, direct debits,
// refunds), for a money movement of the demo's live stream, from the vocabulary of the example
// events' memos (scripts/add_memos.py): card_transactions' full-text searches find new events too.
void SetDemoMemo(const std::string& type, const std::string& ts, std::mt19937_64& rng, Object* e) {
  static const char* kMonths[] = {"January",   "February", "March",    "April",
                                  "May",       "June",     "July",     "August",
                                  "September", "October",  "November", "December"};
  // {memo, merchant or null}; {month} and {n} are filled in.
  static const char* kDebits[][2] = {
      {"Card payment Coffee Fellows Berlin Hbf", "Coffee Fellows"},
      {"Card payment Café Einstein Unter den Linden", "Café Einstein"},
      {"Card payment Starbucks coffee London Victoria", "Starbucks"},
      {"Card payment REWE Markt Friedrichstraße Berlin", "REWE"},
      {"Card payment Deutsche Bahn ticket Berlin to München", "Deutsche Bahn"},
      {"Card payment Amazon order 302-{n}", "Amazon"},
      {"ATM withdrawal Paris Gare du Nord", "BNP Paribas"},
      {"ATM withdrawal Zürich Bahnhofstrasse", "UBS"},
      {"Direct debit Vodafone mobile {month}", "Vodafone"},
      {"Rent {month} Hauptstraße 12", nullptr},
      {"Transfer to savings", nullptr}};
  static const char* kCredits[][2] = {
      {"Salary {month} ACME GmbH", nullptr},
      {"Refund Amazon order 302-{n}", "Amazon"},
      {"Refund Deutsche Bahn ticket Berlin to München", "Deutsche Bahn"},
      {"Transfer from savings", nullptr},
      {"Cash deposit Berlin Alexanderplatz", nullptr}};
  const char* const* pick = type == "Withdrawn"   ? kDebits[rng() % std::size(kDebits)]
                            : type == "Deposited" ? kCredits[rng() % std::size(kCredits)]
                                                  : nullptr;
  std::string memo = pick ? pick[0] : "Interest {month}";
  auto fill = [&memo](const std::string& hole, const std::string& with) {
    size_t at = memo.find(hole);
    if (at != std::string::npos) memo.replace(at, hole.size(), with);
  };
  int month = ts.size() > 6 ? (ts[5] - '0') * 10 + (ts[6] - '0') : 1;
  fill("{month}", kMonths[(month + 11) % 12]);
  fill("{n}",
       std::to_string(1000000 + rng() % 9000000) + "-" + std::to_string(1000000 + rng() % 9000000));
  e->Set("memo", Value::String(memo));
  if (pick && pick[1]) e->Set("merchant", Value::String(pick[1]));
}

}  // namespace

bool Daemon::ProduceDemo(std::string* error) {
  std::string path = options_.demo_events;
  std::set<std::string> topics;
  {
    std::lock_guard<std::mutex> lock(views_mu_);
    for (const auto& [name, e] : views_) {
      for (const auto& t : e.active->projection().topics()) topics.insert(t);
    }
  }
  std::string default_topic = topics.empty() ? "account-events" : *topics.begin();
  // The same reader as projctl test's: bare events or envelopes, one a line.
  auto events = NewFileSource(path, default_topic, error);
  if (!events) {
    *error = "--demo: cannot read the example events: " + *error;
    return false;
  }
  auto producer = Producer::Create(brokers_, options_.kafka_props, error);
  if (!producer) return false;
  int64_t n = 0;
  // The accounts the example events open (id, owner, currency): the live stream moves money
  // on them.
  std::vector<std::array<std::string, 3>> accounts;
  std::string stream_topic = default_topic;
  std::vector<Message> batch;
  std::set<std::string> created;  // on a real cluster (--brokers): the topics asked for
  bool more = true;
  while (more) {
    more = events->Poll(&batch, 10000, std::chrono::milliseconds(0));
    for (const Message& m : batch) {
      std::string topic(m.topic);
      Value v;
      std::string err;
      if (ParseJson(m.value, &v, &err) && v.is_object()) {
        const Object& e = v.as_object();
        const Value* type = e.Find("type");
        const Value* id = e.Find("account_id");
        const Value* owner = e.Find("owner");
        const Value* ccy = e.Find("currency");
        if (type && type->is_string() && type->as_string() == "AccountOpened" && id &&
            id->is_string() && owner && owner->is_string() && ccy && ccy->is_string()) {
          accounts.push_back({id->as_string(), owner->as_string(), ccy->as_string()});
          stream_topic = topic;
        }
      }
      if (embedded_ && !embedded_->CreateTopic(topic, error)) return false;
      if (!embedded_ && created.insert(topic).second) {
        // The demo makes its example topics on a real cluster too (an existing one is kept).
        std::string why;
        if (CreateKafkaTopic(brokers_, topic, options_.partitions, &why)) {
          Log("info", "", "--demo: topic " + topic + " created, or found there already");
        } else {
          std::string line = "--demo: could not create topic " + topic;
          line += " (" + why + "); producing anyway: it may exist or be created by the broker";
          Log("warn", "", line);
        }
      }
      std::vector<std::pair<std::string, std::string>> headers;  // who and which command
      for (size_t h = 0; h < m.header_count; ++h) {
        headers.emplace_back(std::string(m.headers[h].name), std::string(m.headers[h].value));
      }
      if (!producer->ProduceAsync(topic, m.has_key ? m.key : std::string_view(), m.value, headers,
                                  error)) {
        return false;
      }
      ++n;
    }
  }
  // A broker that is slow or away must not end a daemon already serving: the events not
  // delivered are lost to the demo, said so in the log, and the live stream goes on.
  std::string flush_error;
  if (producer->Flush(std::chrono::seconds(30), &flush_error)) {
    Log("info", "", "--demo: produced " + std::to_string(n) + " example events from " + path);
  } else {
    Log("error", "",
        "--demo: the example events from " + path + " were not all delivered: " + flush_error);
  }
  if (options_.demo_rate > 0) {
    if (accounts.empty()) accounts.push_back({"acc-demo-0", "alice", "EUR"});
    Log("info", "",
        "--demo: a live stream of " + std::to_string(options_.demo_rate) + " events/s follows on " +
            stream_topic + " (five times that for 5 s every minute)");
    demo_ = std::thread([this, accounts = std::move(accounts), stream_topic]() mutable {
      DemoStream(std::move(accounts), stream_topic);
    });
  }
  return true;
}

void Daemon::DemoStream(std::vector<std::array<std::string, 3>> accounts,
                        const std::string& topic) {
  std::string error;
  auto producer = Producer::Create(brokers_, options_.kafka_props, &error);
  if (!producer) {
    Log("error", "", "--demo: no live stream: " + error);
    return;
  }
  static const char* kOwners[] = {"alice", "bob", "carol", "dave", "erin", "frank", "grace"};
  static const char* kCurrencies[] = {"EUR", "USD", "GBP"};
  std::mt19937_64 rng(
      static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  auto started = std::chrono::steady_clock::now();
  int64_t start_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  int64_t sent = 0;
  double owed = 0;  // events due but not sent yet (fractions carry over between ticks)
  bool planted = false;
  auto next_plant = started + std::chrono::seconds(20);
  while (!stopping_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto now = std::chrono::steady_clock::now();
    int64_t second_of_minute =
        std::chrono::duration_cast<std::chrono::seconds>(now - started).count() % 60;
    double rate = options_.demo_rate * (second_of_minute < 5 ? 5.0 : 1.0);
    owed += rate / 10;
    int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    std::string ts = FormatRfc3339(now_ms);
    for (; owed >= 1 && !stopping_; owed -= 1) {
      uint64_t dice = rng() % 100;
      std::string id = "e-live-" + std::to_string(start_ms) + "-" + std::to_string(sent++);
      std::array<std::string, 3> acc = accounts[rng() % accounts.size()];
      Object e;
      std::string type;  // of a money movement
      if (dice < 2) {
        // A new account now and then.
        acc = {"acc-live-" + std::to_string(sent), kOwners[rng() % 7], kCurrencies[rng() % 3]};
        accounts.push_back(acc);
        e.Set("type", Value::String("AccountOpened"));
      } else {
        type = dice < 4 ? "InterestPaid" : dice < 58 ? "Deposited" : "Withdrawn";
        e.Set("type", Value::String(type));
        uint64_t cents = 100 + rng() % (dice < 4 ? 5000 : 250000);
        Decimal amount;
        Decimal::Parse(std::to_string(cents / 100) + "." + std::to_string(cents % 100 / 10) +
                           std::to_string(cents % 10),
                       &amount);
        e.Set("amount", Value::Number(amount));
      }
      e.Set("account_id", Value::String(acc[0]));
      e.Set("owner", Value::String(acc[1]));
      e.Set("currency", Value::String(acc[2]));
      e.Set("ts", Value::String(ts));
      e.Set("event_id", Value::String(id));
      if (!type.empty()) SetDemoMemo(type, ts, rng, &e);
      // Who made the change and which command it belongs to (the audit trail of the demo).
      std::vector<std::pair<std::string, std::string>> headers = {
          {"user", (sent % 3 == 0 ? "teller-amy" : "app:" + acc[1])},
          {"correlation-id", "cmd-live-" + std::to_string(start_ms) + "-" + std::to_string(sent)}};
      if (!producer->ProduceAsync(topic, acc[1], ToJson(Value::MakeObject(std::move(e))), headers,
                                  &error)) {
        Log("warn", "", "--demo: " + error);
      }
    }
    if (now >= next_plant) {
      // A malformed event every few minutes: dead letters in most views, and the errors stop
      // view stops at it until it is skipped.
      next_plant = now + std::chrono::minutes(5);
      const auto& acc = accounts[rng() % accounts.size()];
      std::string bad = "{\"type\":\"Withdrawn\",\"account_id\":\"" + acc[0] + "\",\"owner\":\"" +
                        acc[1] + "\",\"currency\":\"" + acc[2] + "\",\"amount\":\"n/a\",\"ts\":\"" +
                        ts + "\",\"event_id\":\"e-live-bad-" + std::to_string(sent++) + "\"}";
      producer->ProduceAsync(topic, acc[1], bad, &error);
      if (!planted) Log("info", "", "--demo: planted a malformed event (amount \"n/a\")");
      planted = true;
    }
  }
  producer->Flush(std::chrono::seconds(5), &error);
}

}  // namespace projd
