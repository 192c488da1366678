// The canonical digest of a view's rows (store/row_digest.h): its exact input, and the same
// digest from a view store (ViewStore::ComputeChecksum) as from a local replay.
#include "store/row_digest.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "dsl/compiler.h"
#include "engine/projector.h"
#include "engine/replay.h"
#include "store/view_store.h"
#include "tests/engine/file_view.h"
#include "tests/unit_dir.h"

namespace {

namespace fs = std::filesystem;

projd::Value Json(const std::string& text) {
  projd::Value v;
  std::string error;
  REQUIRE(projd::ParseJson(text, &v, &error));
  return v;
}

std::string EmptyDigest() {
  projd::RowDigest d;
  return d.HexDigest();
}

}  // namespace

TEST_CASE("row digest: SHA-256 of key JSON, newline, sorted compact row JSON, newline",
          "[engine]") {
  // sha256 of "\"a\"\n{\"b\":\"x\",\"n\":0.1}\n\"b\\\"q\"\n{}\n", computed elsewhere.
  projd::RowDigest d;
  d.Add("a", Json(R"({"n": 0.10, "b": "x"})"));  // members sorted, 0.10 written as 0.1
  d.Add("b\"q", Json("{}"));
  CHECK(d.rows() == 2);
  CHECK(d.HexDigest() == "65257a35a93a5860288d4095c4d35c66322b9da2bbf2958d5f0b021abc40dc92");
  // An empty view hashes the empty input.
  CHECK(EmptyDigest() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("row digest: any change of a key, a field or a value changes it", "[engine]") {
  auto digest = [](const std::string& key, const std::string& row) {
    projd::RowDigest d;
    d.Add(key, Json(row));
    return d.HexDigest();
  };
  std::string base = digest("k", R"({"a": 1, "b": "x"})");
  CHECK(digest("k", R"({"b": "x", "a": 1.0})") == base);
  CHECK(digest("k2", R"({"a": 1, "b": "x"})") != base);
  CHECK(digest("k", R"({"a": 2, "b": "x"})") != base);
  CHECK(digest("k", R"({"a": 1, "c": "x"})") != base);
  CHECK(digest("k", R"({"a": "1", "b": "x"})") != base);
}

TEST_CASE("row digest: a view store's checksum equals the replay's digest", "[engine]") {
  fs::path dir = projd_test::FreshUnitDir("row_digest");
  auto p = projd_test::CompileFirst(R"(
projection counter {
  from "t"
  key event.k
  on * { total += event.n  count += 1  last = event.s }
}
)");
  std::string events_path = (dir / "events.jsonl").string();
  std::vector<std::string> values;
  {
    std::ofstream out(events_path);
    for (int i = 0; i < 500; ++i) {
      values.push_back("{\"k\":\"k" + std::to_string(i % 37) + "\",\"n\":" + std::to_string(i) +
                       ".25,\"s\":\"\\u00e9" + std::to_string(i) + "\\n\"}");
      out << values.back() << "\n";
    }
  }
  projd::ReplayResult r;
  std::string error;
  REQUIRE(projd::Replay(p, events_path, &r, &error));
  projd::RowDigest expected;
  for (const auto& [k, rec] : r.rows) expected.Add(k, projd::Value::MakeObject(rec.fields));

  auto store = projd::ViewStore::Open((dir / "store").string(), projd::KvOptions(), &error);
  REQUIRE(store);
  REQUIRE(store->PutMeta("definition_hash", p->definition_hash(), &error));
  projd::Projector projector(p);
  projd::Batch batch;
  for (size_t start = 0; start < values.size(); start += 64) {
    batch.Clear();
    REQUIRE(store->BeginBatch(&error));
    for (size_t i = start; i < values.size() && i < start + 64; ++i) {
      projd::Message m;
      m.topic = "t";
      m.partition = 0;
      m.offset = static_cast<int64_t>(i);
      m.value = values[i];
      std::string reason;
      projector.Apply(m, store.get(), &batch, &reason);
    }
    REQUIRE(store->Commit(batch, &error));
  }
  projd::ViewStore::Checksum sum;
  REQUIRE(store->ComputeChecksum(&sum, &error));
  CHECK(sum.rows == 37);
  CHECK(sum.digest == expected.HexDigest());
  CHECK(sum.position.ToString() == "t:0:500");
  CHECK(sum.definition_hash == p->definition_hash());

  // A snapshot copy holds the same rows at the same position.
  fs::create_directories(dir / "copy");
  projd::Position position;
  std::string hash;
  REQUIRE(store->SnapshotTo((dir / "copy").string(), &position, &hash, &error));
  CHECK(position.ToString() == "t:0:500");
  CHECK(hash == p->definition_hash());
  auto copy = projd::ViewStore::Open((dir / "copy").string(), projd::KvOptions(), &error);
  REQUIRE(copy);
  projd::ViewStore::Checksum copy_sum;
  REQUIRE(copy->ComputeChecksum(&copy_sum, &error));
  CHECK(copy_sum.digest == sum.digest);
  fs::remove_all(dir);
}
