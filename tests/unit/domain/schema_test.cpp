// Real payloads emitted by the domain's to_json validate against proto/messages/*.schema.json, and the
// schemas reject broken payloads that the domain's parsers reject too.
#include "bkr/domain/json.hpp"
#include "bkr/domain/messages.hpp"
#include "bkr/domain/validation.hpp"

#include "domain_samples.hpp"

#include <catch2/catch.hpp>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>

using namespace bkr::domain;
using namespace bkr::domain::test;
using nlohmann::json;

namespace {

using enum request_status;

std::filesystem::path schema_dir() {
  const char* source = std::getenv("BKR_SOURCE_DIR");
  REQUIRE(source != nullptr);
  return std::filesystem::path(source) / "proto" / "messages";
}

json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  return json::parse(in);
}

/// One schema file compiled for validation. Owns the document the compiled schema came from.
class message_schema {
 public:
  explicit message_schema(std::string_view file) : document_(read_json(schema_dir() / std::string(file))) {
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    valijson::adapters::NlohmannJsonAdapter adapter(document_);
    parser.populateSchema(adapter, schema_);
  }

  /// Validation errors, empty when `payload` conforms.
  std::string errors(const json& payload) const {
    valijson::Validator validator(valijson::Validator::kStrongTypes);
    valijson::ValidationResults results;
    valijson::adapters::NlohmannJsonAdapter adapter(payload);
    if (validator.validate(schema_, adapter, &results))
      return {};
    std::string out;
    valijson::ValidationResults::Error e;
    while (results.popError(e)) {
      for (const auto& part : e.context)
        out += part;
      out += ": " + e.description + "\n";
    }
    return out.empty() ? "invalid" : out;
  }

  const json& document() const { return document_; }

 private:
  json document_;
  valijson::Schema schema_;
};

void require_valid(const message_schema& schema, const json& payload) {
  INFO(payload.dump());
  const auto errors = schema.errors(payload);
  INFO(errors);
  CHECK(errors.empty());
}

json with(json j, const std::string& key, json value) {
  j[key] = std::move(value);
  return j;
}

json without(json j, const std::string& key) {
  j.erase(key);
  return j;
}

/// A broken payload: the schema must reject it, and so must the domain's parser unless `parser_accepts`
/// (unknown fields: the parser ignores them, the schema forbids our producers to send them).
struct negative_case {
  std::string what;
  json payload;
  bool parser_accepts = false;
};

void check_rejected(const message_schema& schema, const std::vector<negative_case>& cases,
                    const std::function<bool(const json&)>& parser_accepts) {
  for (const auto& c : cases) {
    INFO(c.what << ": " << c.payload.dump());
    CHECK_FALSE(schema.errors(c.payload).empty());
    CHECK(parser_accepts(c.payload) == c.parser_accepts);
  }
}

const json accepted_sample = to_accepted_payload(request_at(accepted));
const json success_sample = success_reply();

}  // namespace

TEST_CASE("every payload contract has a draft-07 schema with a versioned $id", "[domain][schema]") {
  for (const auto& contract :
       {accepted_message, received_message, allowed_message, store_request_message, store_status_message}) {
    INFO(contract.schema_file);
    const message_schema schema(contract.schema_file);
    const auto& doc = schema.document();
    CHECK(doc.at("$schema") == "http://json-schema.org/draft-07/schema#");
    const auto id = doc.at("$id").get<std::string>();
    CHECK(id.ends_with(":v" + std::to_string(contract.schema_version)));
    CHECK(contract.schema_file.find(".v" + std::to_string(contract.schema_version) + ".") !=
          std::string::npos);
    CHECK(doc.at("type") == "object");
  }
}

TEST_CASE("emitted accepted payloads and 202 bodies conform", "[domain][schema][accepted]") {
  const message_schema schema(accepted_message.schema_file);
  require_valid(schema, accepted_sample);

  const auto fresh =
      make_accepted_request(accept_input{"j", ymd(2024, 2, 29), std::string(250, 'p')}, std::string(50, 'i'),
                            std::string(256, 'c'), at("2026-02-03T09:00:00Z"))
          .value();
  require_valid(schema, json(to_accepted_payload(fresh)));
  require_valid(schema, accepted_response_body(fresh));

  auto queued = request_at(accepted);
  queued.transport_type_code = transport::queue;
  queued.get_on_start_flag = false;
  queued.prepared_data_path_name = "/données/été/\xf0\x9f\x98\x80";
  require_valid(schema, json(to_accepted_payload(queued)));
}

TEST_CASE("the accepted schema rejects broken payloads", "[domain][schema][accepted]") {
  const message_schema schema(accepted_message.schema_file);
  std::vector<negative_case> cases;
  for (const auto& [key, value] : accepted_sample.items()) {
    cases.push_back({"missing " + key, without(accepted_sample, key)});
  }
  cases.push_back({"unknown field", with(accepted_sample, "extra", 1), true});
  cases.push_back({"status Received", with(accepted_sample, "statusTypeCode", "Received")});
  cases.push_back({"impossible date", with(accepted_sample, "dataDate", "2026-02-30")});
  cases.push_back({"short date", with(accepted_sample, "dataDate", "2026-2-3")});
  cases.push_back({"date with time", with(accepted_sample, "dataDate", "2026-02-03T00:00:00Z")});
  cases.push_back({"job id with space", with(accepted_sample, "backupJobId", "a b")});
  cases.push_back({"empty job id", with(accepted_sample, "backupJobId", "")});
  cases.push_back({"51-char job id", with(accepted_sample, "backupJobId", std::string(51, 'j'))});
  cases.push_back({"251-char path", with(accepted_sample, "preparedDataPathName", std::string(251, 'p'))});
  cases.push_back({"empty path", with(accepted_sample, "preparedDataPathName", "")});
  cases.push_back({"path with newline", with(accepted_sample, "preparedDataPathName", "/a\nb")});
  cases.push_back({"flag as string", with(accepted_sample, "getOnStartFlag", "true")});
  cases.push_back({"unknown transport", with(accepted_sample, "transportTypeCode", "SMTP")});
  cases.push_back({"timestamp without time", with(accepted_sample, "acceptedTimestamp", "2026-02-03")});
  cases.push_back({"257-char requester", with(accepted_sample, "requesterId", std::string(257, 'c'))});
  cases.push_back({"not an object", json::array()});
  check_rejected(schema, cases, [](const json& j) { return parse_accepted_payload(j).has_value(); });
}

TEST_CASE("received and allowed payloads conform, broken ones are rejected", "[domain][schema][payload]") {
  const message_schema received_schema(received_message.schema_file);
  const message_schema allowed_schema(allowed_message.schema_file);
  require_valid(received_schema, json(received_payload{request_id}));
  require_valid(allowed_schema, json(allowed_payload{request_id}));

  const std::vector<negative_case> cases = {
      {"empty", json::object()},
      {"empty id", json{{"backupRequestId", ""}}},
      {"51-char id", json{{"backupRequestId", std::string(51, 'r')}}},
      {"id with space", json{{"backupRequestId", "a b"}}},
      {"numeric id", json{{"backupRequestId", 42}}},
      {"unknown field", json{{"backupRequestId", request_id}, {"statusTypeCode", "Received"}}, true},
  };
  check_rejected(received_schema, cases, [](const json& j) { return parse_received_payload(j).has_value(); });
  check_rejected(allowed_schema, cases, [](const json& j) { return parse_allowed_payload(j).has_value(); });
}

TEST_CASE("store requests for every provider conform, broken ones are rejected",
          "[domain][schema][store-request]") {
  const message_schema schema(store_request_message.schema_file);
  for (auto p : {provider::local, provider::cloud_a, provider::cloud_b}) {
    auto request = request_at(allowed);
    request.backup_provider_code = p;
    require_valid(schema, json(make_store_request(request).value()));
  }
  const json sample = make_store_request(request_at(allowed)).value();
  std::vector<negative_case> cases;
  for (const auto& [key, value] : sample.items())
    cases.push_back({"missing " + key, without(sample, key)});
  cases.push_back({"unknown provider", with(sample, "backupProviderCode", "CloudC")});
  cases.push_back({"bad apiVersion", with(sample, "apiVersion", "v1")});
  cases.push_back({"empty storage path", with(sample, "storagePathName", "")});
  cases.push_back({"impossible date", with(sample, "dataDate", "2025-04-31")});
  cases.push_back({"unknown field", with(sample, "priority", 1), true});
  check_rejected(schema, cases, [](const json& j) { return parse_store_request(j).has_value(); });
}

TEST_CASE("store status replies conform, full and minimal", "[domain][schema][reply]") {
  const message_schema schema(store_status_message.schema_file);
  require_valid(schema, success_sample);
  require_valid(schema, json(failure_reply()));

  auto minimal_success = success_reply();
  minimal_success.verify_start_timestamp.reset();
  minimal_success.verify_end_timestamp.reset();
  minimal_success.verified_hash.reset();
  minimal_success.message_text.reset();
  require_valid(schema, json(minimal_success));

  auto bare_failure = failure_reply();
  bare_failure.message_text.reset();
  require_valid(schema, json(bare_failure));

  auto multi_line = failure_reply();
  multi_line.message_text = "line 1\r\nline 2\ttab";
  require_valid(schema, json(multi_line));

  // An interface may send more than we read.
  require_valid(schema, with(success_sample, "interfaceNode", "n1"));
}

TEST_CASE("the store status schema rejects broken replies", "[domain][schema][reply]") {
  const message_schema schema(store_status_message.schema_file);
  std::vector<negative_case> cases;
  for (const char* key : {"apiVersion", "backupRequestId", "resultTypeCode", "storagePathName",
                          "backupByteCount", "copyStartTimestamp", "copyEndTimestamp"}) {
    cases.push_back({std::string("success without ") + key, without(success_sample, key)});
  }
  cases.push_back({"unknown result", with(success_sample, "resultTypeCode", "Done")});
  cases.push_back({"negative byte count", with(success_sample, "backupByteCount", -1)});
  cases.push_back({"fractional byte count", with(success_sample, "backupByteCount", 1.5)});
  cases.push_back({"byte count as string", with(success_sample, "backupByteCount", "12")});
  cases.push_back({"impossible apiVersion", with(success_sample, "apiVersion", "2022-13-01")});
  cases.push_back({"id with space", with(success_sample, "backupRequestId", "a b")});
  cases.push_back({"date as timestamp", with(success_sample, "copyStartTimestamp", "2026-02-03")});
  cases.push_back({"251-char path", with(success_sample, "storagePathName", std::string(251, 's'))});
  cases.push_back({"251-char message", with(success_sample, "messageText", std::string(251, 'm'))});
  cases.push_back({"251-char hash", with(success_sample, "verifiedHash", std::string(251, 'h'))});
  cases.push_back({"bell in message", with(success_sample, "messageText", "ring\x07")});
  cases.push_back({"newline in hash", with(success_sample, "verifiedHash", "abc\n")});
  cases.push_back({"failure with an empty path", with(json(failure_reply()), "storagePathName", "")});
  check_rejected(schema, cases, [](const json& j) { return parse_store_status_reply(j).has_value(); });
}
