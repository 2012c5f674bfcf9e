// Conversions between domain values and SQL parameters / result fields, shared by the repositories.
#pragma once

#include "bkr/common/clock.hpp"
#include "bkr/domain/types.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

namespace bkr::storage::detail {

/// A statement parameter that is SQL NULL when empty (libpqxx 6 has no std::optional parameters).
template <class T>
struct nullable {
  std::optional<T> value;
};

/// Timestamps travel as RFC 3339 text with `Z`, which the server reads the same under any TimeZone
/// setting; they come back as epoch milliseconds (SELECT with epoch_ms()), an exact integer.
std::string timestamp_param(timestamp t);
nullable<std::string> timestamp_param(const std::optional<timestamp>& t);
nullable<std::string> text_param(const std::optional<std::string>& text);

/// JSON of an optional timestamp / text: RFC 3339 text or null, for json_to_recordset parameters.
nlohmann::json timestamp_json(const std::optional<timestamp>& t);
nlohmann::json text_json(const std::optional<std::string>& text);

/// `YYYY-MM-DD`; read back with to_char(column, 'YYYY-MM-DD').
std::string date_param(domain::date d);

timestamp timestamp_field(const pqxx::field& f);
std::optional<timestamp> optional_timestamp_field(const pqxx::field& f);
std::optional<std::string> optional_text_field(const pqxx::field& f);
domain::date date_field(const pqxx::field& f);
domain::request_status status_field(const pqxx::field& f);
domain::provider provider_field(const pqxx::field& f);
domain::transport transport_field(const pqxx::field& f);

}  // namespace bkr::storage::detail

namespace pqxx {

template <class T>
struct string_traits<bkr::storage::detail::nullable<T>> {
  using value_type = bkr::storage::detail::nullable<T>;
  static constexpr const char* name() noexcept { return "bkr::storage::detail::nullable"; }
  static constexpr bool has_null() noexcept { return true; }
  static bool is_null(const value_type& v) { return !v.value.has_value(); }
  static value_type null() { return {}; }
  static void from_string(const char str[], value_type& v) {
    T inner{};
    string_traits<T>::from_string(str, inner);
    v.value = std::move(inner);
  }
  static std::string to_string(const value_type& v) { return string_traits<T>::to_string(*v.value); }
};

}  // namespace pqxx
