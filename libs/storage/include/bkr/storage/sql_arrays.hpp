// Array literals for array parameters of parameterized statements (values never enter the SQL text).
#pragma once

#include <optional>
#include <span>
#include <string>

namespace bkr::storage {

/// A Postgres array literal for a text[] parameter: every element quoted, `"` and `\` escaped.
std::string text_array_literal(std::span<const std::string> values);
/// The same with NULL elements where a value is absent.
std::string text_array_literal(std::span<const std::optional<std::string>> values);

}  // namespace bkr::storage
