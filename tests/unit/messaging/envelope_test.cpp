// Envelope codec round trip, rejection of malformed input, and conformance to its JSON Schema.
#include "bkr/messaging/envelope.hpp"

#include "bkr/common/ids.hpp"

#include <catch2/catch.hpp>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validator.hpp>

#include <cstdlib>
#include <fstream>

namespace {

bkr::messaging::envelope sample() {
  bkr::manual_clock clock(bkr::timestamp{std::chrono::milliseconds{1'790'000'000'123}});
  auto e =
      bkr::messaging::make_envelope("BackupRequestAccepted", bkr::new_uuid_v7(), {{"backupJobId", "job-1"}},
                                    "bkr-receive-request", "trace-abc", clock);
  e.attempt = 2;
  return e;
}

nlohmann::json load_schema() {
  const char* src = std::getenv("BKR_SOURCE_DIR");
  REQUIRE(src != nullptr);
  std::ifstream in(std::string(src) + "/proto/messages/envelope.schema.json");
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

bool valid_against(const nlohmann::json& schema_doc, const nlohmann::json& doc, std::string* why = nullptr) {
  valijson::Schema schema;
  valijson::SchemaParser parser;
  valijson::adapters::NlohmannJsonAdapter schema_adapter(schema_doc);
  parser.populateSchema(schema_adapter, schema);
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter doc_adapter(doc);
  bool ok = validator.validate(schema, doc_adapter, &results);
  if (!ok && why) {
    valijson::ValidationResults::Error err;
    while (results.popError(err))
      *why += err.description + "; ";
  }
  return ok;
}

}  // namespace

TEST_CASE("envelope survives a JSON round trip", "[messaging][envelope]") {
  auto e = sample();
  auto j = bkr::messaging::to_json(e);
  CHECK(j["occurredAt"] == "2026-09-21T14:13:20.123Z");
  CHECK(j["schemaVersion"] == 1);
  auto back = bkr::messaging::envelope_from_json(j);
  REQUIRE(back.has_value());
  CHECK(*back == e);
}

TEST_CASE("make_envelope issues UUIDv7 ids at the time of its clock", "[messaging][envelope]") {
  auto e = sample();
  CHECK(bkr::is_uuid(e.message_id));
  CHECK(bkr::uuid_v7_time(e.message_id) == e.occurred_at);
}

TEST_CASE("malformed envelopes are rejected with the field named", "[messaging][envelope]") {
  auto good = bkr::messaging::to_json(sample());
  struct variant_case {
    const char* field;
    nlohmann::json value;
  };
  for (const auto& v :
       {variant_case{"messageId", "not-a-uuid"}, variant_case{"type", ""}, variant_case{"schemaVersion", 0},
        variant_case{"occurredAt", "yesterday"}, variant_case{"payload", "text"}, variant_case{"key", 17},
        variant_case{"attempt", -1}}) {
    auto j = good;
    j[v.field] = v.value;
    auto r = bkr::messaging::envelope_from_json(j);
    INFO(v.field);
    REQUIRE(r.has_error());
    CHECK(r.error().code == bkr::messaging::errc::invalid_envelope);
    CHECK(r.error().message.find(v.field) != std::string::npos);
  }
  auto missing = good;
  missing.erase("key");
  CHECK(bkr::messaging::envelope_from_json(missing).has_error());
  CHECK(bkr::messaging::envelope_from_json(nlohmann::json::array()).has_error());
}

TEST_CASE("emitted envelopes validate against proto/messages/envelope.schema.json",
          "[messaging][envelope][schema]") {
  auto schema = load_schema();
  std::string why;
  auto doc = bkr::messaging::to_json(sample());
  CHECK(valid_against(schema, doc, &why));
  INFO(why);
  auto bad = doc;
  bad["unexpected"] = true;
  CHECK_FALSE(valid_against(schema, bad));
  bad = doc;
  bad["occurredAt"] = "2026-09-21 14:13:20";
  CHECK_FALSE(valid_against(schema, bad));
}

TEST_CASE("queue names are restricted to a safe alphabet", "[messaging][envelope]") {
  using bkr::messaging::is_valid_queue_name;
  CHECK(is_valid_queue_name("backup-request.accepted"));
  CHECK(is_valid_queue_name("backup-interface.cloud_a.store-request"));
  CHECK_FALSE(is_valid_queue_name(""));
  CHECK_FALSE(is_valid_queue_name("Queue"));
  CHECK_FALSE(is_valid_queue_name("a b"));
  CHECK_FALSE(is_valid_queue_name(std::string(201, 'a')));
}
