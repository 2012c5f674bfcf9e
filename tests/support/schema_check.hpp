// Validation of messages against the JSON Schemas in proto/messages, shared by the test suites.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace bkr::test {

/// Validation errors of `document` against proto/messages/<schema_file>; empty when it conforms. Reads the
/// schema from BKR_SOURCE_DIR (set by the test main); a missing file fails the calling test.
std::string schema_errors(const std::string& schema_file, const nlohmann::json& document);

}  // namespace bkr::test
