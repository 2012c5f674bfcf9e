// Reading typed, validated fields out of a JSON object; every error names the wire field.
#pragma once

#include "bkr/common/clock.hpp"
#include "bkr/common/error.hpp"
#include "bkr/domain/types.hpp"
#include "bkr/domain/validation.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bkr::domain::detail {

bkr::error bad_data(std::string message);

/// The member `name` of `object`, or nullptr when it is absent or JSON null (both mean "not given").
const nlohmann::json* find_field(const nlohmann::json& object, std::string_view name);

result<std::string> required_string(const nlohmann::json& object, std::string_view name);
result<std::optional<std::string>> optional_string(const nlohmann::json& object, std::string_view name);
result<bool> required_bool(const nlohmann::json& object, std::string_view name);
/// An integral JSON number (1.0 and 1e3 are refused) within [min, max].
result<std::int64_t> required_integer(const nlohmann::json& object, std::string_view name, std::int64_t min,
                                      std::int64_t max);
result<std::optional<std::int64_t>> optional_integer(const nlohmann::json& object, std::string_view name,
                                                     std::int64_t min, std::int64_t max);

result<std::string> required_id(const nlohmann::json& object, std::string_view name);
result<std::string> required_text(const nlohmann::json& object, std::string_view name, std::size_t min,
                                  std::size_t max, text_kind kind = text_kind::single_line);
result<std::optional<std::string>> optional_text(const nlohmann::json& object, std::string_view name,
                                                 std::size_t min, std::size_t max,
                                                 text_kind kind = text_kind::single_line);
result<date> required_date(const nlohmann::json& object, std::string_view name);
result<timestamp> required_timestamp(const nlohmann::json& object, std::string_view name);
result<std::optional<timestamp>> optional_timestamp(const nlohmann::json& object, std::string_view name);

/// A string field holding one of an enum's wire names; `choices` lists them for the error message.
template <class Enum, class Parse>
result<std::optional<Enum>> optional_enum(const nlohmann::json& object, std::string_view name, Parse parse,
                                          std::string_view choices) {
  auto text = optional_string(object, name);
  if (!text)
    return text.error();
  if (!*text)
    return std::optional<Enum>{};
  if (auto value = parse(**text))
    return std::optional<Enum>{*value};
  return bad_data(std::string(name) + " must be " + std::string(choices));
}

template <class Enum, class Parse>
result<Enum> required_enum(const nlohmann::json& object, std::string_view name, Parse parse,
                           std::string_view choices) {
  auto value = optional_enum<Enum>(object, name, parse, choices);
  if (!value)
    return value.error();
  if (!*value)
    return bad_data(std::string(name) + " is required");
  return **value;
}

/// Moves field values into a struct in reading order and keeps the first error, so a parser reads like the
/// list of its fields. Later reads still run after a failure but never replace the first error.
class field_collector {
 public:
  template <class T>
  void take(result<T> value, T& out) {
    if (first_error_)
      return;
    if (value) {
      out = std::move(*value);
    } else {
      first_error_ = std::move(value.error());
    }
  }
  /// Records `message` as bad_data unless `condition` holds (cross-field rules).
  void require(bool condition, std::string message) {
    if (!first_error_ && !condition)
      first_error_ = bad_data(std::move(message));
  }
  bool ok() const { return !first_error_; }
  const bkr::error& error() const { return *first_error_; }

 private:
  std::optional<bkr::error> first_error_;
};

/// invalid_json unless `value` is an object; `what` names the document in the message.
result<void> require_object(const nlohmann::json& value, std::string_view what);

/// Parses `text` as one JSON object. invalid_json when it is not JSON, naming what is wrong and where
/// ("... is not valid JSON: number out of range at line 1, column 42", "... invalid string: surrogate
/// U+D800..U+DBFF must be followed by U+DC00..U+DFFF ..."), never quoting the text; invalid_json as by
/// require_object when it is JSON but no object. `what` names the document ("request body").
result<nlohmann::json> parse_json_object(std::string_view text, std::string_view what);

inline nlohmann::json optional_json(const std::optional<std::string>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}
inline nlohmann::json optional_json(const std::optional<timestamp>& value) {
  return value ? nlohmann::json(format_timestamp(*value)) : nlohmann::json(nullptr);
}

}  // namespace bkr::domain::detail
