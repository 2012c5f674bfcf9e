// Validation of messages against the JSON Schemas in proto/messages (valijson), shared by the test suites.
#include "schema_check.hpp"

#include <catch2/catch.hpp>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include <cstdlib>
#include <fstream>

namespace bkr::test {

std::string schema_errors(const std::string& schema_file, const nlohmann::json& document) {
  const char* source = std::getenv("BKR_SOURCE_DIR");
  REQUIRE(source != nullptr);
  std::ifstream in(std::string(source) + "/proto/messages/" + schema_file);
  REQUIRE(in.good());
  const auto schema_json = nlohmann::json::parse(in);
  valijson::Schema schema;
  valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
  valijson::adapters::NlohmannJsonAdapter schema_adapter(schema_json);
  parser.populateSchema(schema_adapter, schema);
  valijson::Validator validator(valijson::Validator::kStrongTypes);
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter adapter(document);
  if (validator.validate(schema, adapter, &results))
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

}  // namespace bkr::test
