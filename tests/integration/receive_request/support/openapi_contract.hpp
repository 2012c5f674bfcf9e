// Checks real responses against proto/openapi.yaml: status documented for the operation, body valid, headers.
#pragma once

#include "http_call.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace bkr::rr_test {

/// proto/openapi.yaml as JSON (YAML plain scalars typed as YAML 1.2 core: null, booleans, numbers).
nlohmann::json load_openapi(const std::string& path);

/// The contract, loaded once per process from $BKR_SOURCE_DIR/proto/openapi.yaml. Thread-safe after
/// construction (checks only read).
class openapi_contract {
 public:
  static const openapi_contract& instance();
  explicit openapi_contract(nlohmann::json document);

  /// Problems with `r` as an answer to `method path_template` (empty when it conforms): the status is
  /// listed for the operation, every header the contract lists for that status is present, and a JSON body
  /// validates against the documented schema.
  std::vector<std::string> check(std::string_view method, std::string_view path_template,
                                 const reply& r) const;

  /// The same against a named entry of components.responses (the router's own 404/405 answers).
  std::vector<std::string> check_component(std::string_view response_name, const reply& r) const;

  const nlohmann::json& document() const { return document_; }

 private:
  std::vector<std::string> check_response(const nlohmann::json& response, const reply& r) const;
  const nlohmann::json& resolve(const nlohmann::json& maybe_ref) const;

  nlohmann::json document_;
};

/// Catch2 helper: REQUIREs that `r` conforms.
void require_conforms(std::string_view method, std::string_view path_template, const reply& r);

}  // namespace bkr::rr_test
