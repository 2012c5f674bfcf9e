// Loading the OpenAPI document (yaml-cpp) and validating response bodies with valijson.
#include "openapi_contract.hpp"

#include <yaml-cpp/yaml.h>
#include <catch2/catch.hpp>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validator.hpp>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <regex>
#include <stdexcept>

namespace bkr::rr_test {
namespace {

nlohmann::json plain_scalar(const std::string& text) {
  if (text == "null" || text == "~" || text.empty())
    return nullptr;
  if (text == "true")
    return true;
  if (text == "false")
    return false;
  static const std::regex integer(R"(^-?[0-9]+$)");
  static const std::regex number(R"(^-?[0-9]+\.[0-9]+([eE][-+]?[0-9]+)?$)");
  if (std::regex_match(text, integer)) {
    try {
      return std::stoll(text);
    } catch (const std::out_of_range&) {
      return std::stoull(text);
    }
  }
  if (std::regex_match(text, number))
    return std::stod(text);
  return text;
}

nlohmann::json to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return nullptr;
    case YAML::NodeType::Scalar:
      // A quoted scalar has the tag "!": always a string. Plain ones are typed.
      return node.Tag() == "!" ? nlohmann::json(node.Scalar()) : plain_scalar(node.Scalar());
    case YAML::NodeType::Sequence: {
      auto a = nlohmann::json::array();
      for (const auto& item : node)
        a.push_back(to_json(item));
      return a;
    }
    case YAML::NodeType::Map: {
      auto o = nlohmann::json::object();
      for (const auto& kv : node)
        o[kv.first.as<std::string>()] = to_json(kv.second);
      return o;
    }
    case YAML::NodeType::Undefined:
      break;
  }
  return nullptr;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

nlohmann::json load_openapi(const std::string& path) {
  return to_json(YAML::LoadFile(path));
}

const openapi_contract& openapi_contract::instance() {
  static const openapi_contract contract = [] {
    const char* src = std::getenv("BKR_SOURCE_DIR");
    if (src == nullptr)
      throw std::runtime_error("BKR_SOURCE_DIR is not set");
    return openapi_contract(load_openapi(std::string(src) + "/proto/openapi.yaml"));
  }();
  return contract;
}

openapi_contract::openapi_contract(nlohmann::json document) : document_(std::move(document)) {}

const nlohmann::json& openapi_contract::resolve(const nlohmann::json& maybe_ref) const {
  if (!maybe_ref.is_object() || !maybe_ref.contains("$ref"))
    return maybe_ref;
  const std::string ref = maybe_ref["$ref"].get<std::string>();
  if (!ref.starts_with("#/"))
    throw std::runtime_error("unsupported $ref " + ref);
  return resolve(document_.at(nlohmann::json::json_pointer(ref.substr(1))));
}

std::vector<std::string> openapi_contract::check(std::string_view method, std::string_view path_template,
                                                 const reply& r) const {
  const auto& paths = document_.at("paths");
  const std::string path(path_template);
  if (!paths.contains(path))
    return {"path " + path + " is not in the contract"};
  const auto& item = paths.at(path);
  const std::string m = lower(method);
  if (!item.contains(m))
    return {std::string(method) + " " + path + " is not in the contract"};
  const auto& responses = item.at(m).at("responses");
  const std::string status = std::to_string(r.status);
  if (!responses.contains(status))
    return {"status " + status + " is not documented for " + std::string(method) + " " + path};
  return check_response(resolve(responses.at(status)), r);
}

std::vector<std::string> openapi_contract::check_component(std::string_view response_name,
                                                           const reply& r) const {
  return check_response(document_.at("components").at("responses").at(std::string(response_name)), r);
}

std::vector<std::string> openapi_contract::check_response(const nlohmann::json& response,
                                                          const reply& r) const {
  std::vector<std::string> problems;
  if (response.contains("headers")) {
    for (const auto& [name, spec] : response.at("headers").items()) {
      if (!r.has_header(lower(name)))
        problems.push_back("header " + name + " is documented but missing");
    }
  }
  if (!response.contains("content")) {
    if (!r.body.empty())
      problems.push_back("a body was sent where none is documented");
    return problems;
  }
  const auto& content = response.at("content");
  if (!content.contains("application/json"))
    return problems;  // text bodies (metrics) are not validated further
  if (r.header("content-type").find("application/json") == std::string::npos)
    problems.push_back("content-type is " + r.header("content-type") + ", documented application/json");
  nlohmann::json body;
  try {
    body = nlohmann::json::parse(r.body);
  } catch (const std::exception& e) {
    problems.push_back(std::string("body is not JSON: ") + e.what());
    return problems;
  }
  // The schema's $refs point into components: validate against a root document that carries them.
  const nlohmann::json root{{"allOf", nlohmann::json::array({content.at("application/json").at("schema")})},
                            {"components", document_.at("components")}};
  valijson::Schema schema;
  valijson::SchemaParser parser;
  valijson::adapters::NlohmannJsonAdapter schema_adapter(root);
  parser.populateSchema(schema_adapter, schema);
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter body_adapter(body);
  if (!validator.validate(schema, body_adapter, &results)) {
    valijson::ValidationResults::Error e;
    std::string what = "body does not match the schema: " + r.body;
    while (results.popError(e)) {
      std::string where;
      for (const auto& c : e.context)
        where += c;
      what += "\n  " + where + ": " + e.description;
    }
    problems.push_back(what);
  }
  return problems;
}

void require_conforms(std::string_view method, std::string_view path_template, const reply& r) {
  const auto problems = openapi_contract::instance().check(method, path_template, r);
  INFO(std::string(method) << " " << std::string(path_template) << " -> " << r.status << " " << r.body);
  for (const auto& p : problems)
    FAIL_CHECK(p);
  REQUIRE(problems.empty());
}

}  // namespace bkr::rr_test
