// Typed field readers shared by every JSON parser of the domain.
#include "json_fields.hpp"

#include "bkr/domain/errors.hpp"

#include <algorithm>
#include <limits>

namespace bkr::domain::detail {

bkr::error bad_data(std::string message) {
  return make_error(errc::bad_data, std::move(message));
}

const nlohmann::json* find_field(const nlohmann::json& object, std::string_view name) {
  const auto it = object.find(std::string(name));
  if (it == object.end() || it->is_null())
    return nullptr;
  return &*it;
}

result<void> require_object(const nlohmann::json& value, std::string_view what) {
  if (value.is_object())
    return {};
  return make_error(errc::invalid_json, std::string(what) + " must be a JSON object");
}

namespace {

/// The DOM parser, remembering where and why parsing stopped instead of throwing.
class error_keeping_parser : public nlohmann::detail::json_sax_dom_parser<nlohmann::json> {
 public:
  explicit error_keeping_parser(nlohmann::json& result)
      : nlohmann::detail::json_sax_dom_parser<nlohmann::json>(result, /*allow_exceptions=*/false) {}

  template <class Exception>
  bool parse_error(std::size_t position, const std::string& last_token, const Exception& ex) {
    position_ = position;
    problem_ = describe(ex.id, ex.what());
    // An overflowing number is reported after it was read: point at its first character instead.
    if (ex.id == number_overflow && last_token.size() < position)
      position_ = position - last_token.size() + 1;
    return false;
  }

  std::size_t position() const noexcept { return position_; }
  const std::string& problem() const noexcept { return problem_; }

 private:
  static constexpr int number_overflow = 406;  // nlohmann's out_of_range.406, whose text quotes the number

  // nlohmann's text without its prefix and without the echo of the input ("; last read: '...'").
  static std::string describe(int id, std::string_view what) {
    if (id == number_overflow)
      return "number out of range";
    if (const auto dash = what.find(" - "); dash != std::string_view::npos)
      what.remove_prefix(dash + 3);
    if (const auto echo = what.find("; last read:"); echo != std::string_view::npos)
      what = what.substr(0, echo);
    return std::string(what);
  }

  std::size_t position_ = 0;
  std::string problem_ = "syntax error";
};

/// `line L, column C` (both from 1) of the `position`-th byte (counted from 1, as the parser does), or of
/// the end when it is past the text.
std::string location_of(std::string_view text, std::size_t position) {
  const auto end = std::min(position == 0 ? 0 : position - 1, text.size());
  std::size_t line = 1;
  std::size_t column = 1;
  for (std::size_t i = 0; i < end; ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

constexpr timestamp first_storable_timestamp{
    std::chrono::sys_days{std::chrono::year{1} / std::chrono::January / 1}.time_since_epoch()};
constexpr timestamp last_storable_timestamp{
    std::chrono::sys_days{std::chrono::year{10000} / std::chrono::January / 1}.time_since_epoch() -
    std::chrono::milliseconds{1}};

bkr::error missing(std::string_view name) {
  return bad_data(std::string(name) + " is required");
}

}  // namespace

result<nlohmann::json> parse_json_object(std::string_view text, std::string_view what) {
  nlohmann::json value;
  error_keeping_parser parser(value);
  if (!nlohmann::json::sax_parse(text, &parser)) {
    return make_error(errc::invalid_json, std::string(what) + " is not valid JSON: " + parser.problem() +
                                              " at " + location_of(text, parser.position()));
  }
  if (auto ok = require_object(value, what); !ok)
    return ok.error();
  return value;
}

result<std::optional<std::string>> optional_string(const nlohmann::json& object, std::string_view name) {
  const auto* value = find_field(object, name);
  if (value == nullptr)
    return std::optional<std::string>{};
  if (!value->is_string())
    return bad_data(std::string(name) + " must be a string");
  return std::optional<std::string>{value->get<std::string>()};
}

result<std::string> required_string(const nlohmann::json& object, std::string_view name) {
  auto value = optional_string(object, name);
  if (!value)
    return value.error();
  if (!*value)
    return missing(name);
  return std::move(**value);
}

result<bool> required_bool(const nlohmann::json& object, std::string_view name) {
  const auto* value = find_field(object, name);
  if (value == nullptr)
    return missing(name);
  if (!value->is_boolean())
    return bad_data(std::string(name) + " must be a boolean");
  return value->get<bool>();
}

result<std::optional<std::int64_t>> optional_integer(const nlohmann::json& object, std::string_view name,
                                                     std::int64_t min, std::int64_t max) {
  const auto* value = find_field(object, name);
  if (value == nullptr)
    return std::optional<std::int64_t>{};
  const auto out_of_range = [&] {
    return bad_data(std::string(name) + " must be an integer from " + std::to_string(min) + " to " +
                    std::to_string(max));
  };
  std::int64_t number = 0;
  if (value->is_number_unsigned()) {
    const auto u = value->get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return out_of_range();
    number = static_cast<std::int64_t>(u);
  } else if (value->is_number_integer()) {
    number = value->get<std::int64_t>();
  } else {
    return out_of_range();
  }
  if (number < min || number > max)
    return out_of_range();
  return std::optional<std::int64_t>{number};
}

result<std::int64_t> required_integer(const nlohmann::json& object, std::string_view name, std::int64_t min,
                                      std::int64_t max) {
  auto value = optional_integer(object, name, min, max);
  if (!value)
    return value.error();
  if (!*value)
    return missing(name);
  return **value;
}

result<std::string> required_id(const nlohmann::json& object, std::string_view name) {
  auto value = required_string(object, name);
  if (!value)
    return value;
  if (auto ok = check_printable_ascii(*value, name, max_id_length); !ok)
    return ok.error();
  return value;
}

result<std::optional<std::string>> optional_text(const nlohmann::json& object, std::string_view name,
                                                 std::size_t min, std::size_t max, text_kind kind) {
  auto value = optional_string(object, name);
  if (!value || !*value)
    return value;
  if (auto ok = check_text(**value, name, min, max, kind); !ok)
    return ok.error();
  return value;
}

result<std::string> required_text(const nlohmann::json& object, std::string_view name, std::size_t min,
                                  std::size_t max, text_kind kind) {
  auto value = optional_text(object, name, min, max, kind);
  if (!value)
    return value.error();
  if (!*value)
    return missing(name);
  return std::move(**value);
}

result<date> required_date(const nlohmann::json& object, std::string_view name) {
  auto value = required_string(object, name);
  if (!value)
    return value.error();
  return check_date(*value, name);
}

result<std::optional<timestamp>> optional_timestamp(const nlohmann::json& object, std::string_view name) {
  auto value = optional_string(object, name);
  if (!value)
    return value.error();
  if (!*value)
    return std::optional<timestamp>{};
  auto parsed = parse_timestamp(**value);
  if (!parsed) {
    return bad_data(std::string(name) + " must be an RFC 3339 timestamp such as 2026-11-22T10:15:30.123Z");
  }
  // An offset can move a valid text out of the years 0001..9999 in UTC (9999-12-31T23:59:59-01:00 is in
  // year 10000): such an instant can neither be formatted back as RFC 3339 nor stored as an SQL timestamp.
  if (*parsed < first_storable_timestamp || *parsed > last_storable_timestamp) {
    return bad_data(std::string(name) + " must fall within the years 0001 to 9999 in UTC");
  }
  return std::optional<timestamp>{*parsed};
}

result<timestamp> required_timestamp(const nlohmann::json& object, std::string_view name) {
  auto value = optional_timestamp(object, name);
  if (!value)
    return value.error();
  if (!*value)
    return missing(name);
  return **value;
}

}  // namespace bkr::domain::detail
