// Conversions between domain values and SQL text, with a loud failure on anything the schema forbids.
#include "sql_values.hpp"

#include "bkr/storage/sql_arrays.hpp"

#include "bkr/domain/validation.hpp"

namespace bkr::storage::detail {

namespace {

[[noreturn]] void corrupt(const pqxx::field& f, std::string_view what) {
  throw std::runtime_error("unexpected " + std::string(what) + " in column " + f.name() + ": '" +
                           std::string(f.c_str()) + "'");
}

}  // namespace

std::string timestamp_param(timestamp t) {
  return format_timestamp(t);
}

nullable<std::string> timestamp_param(const std::optional<timestamp>& t) {
  if (!t)
    return {};
  return {format_timestamp(*t)};
}

nullable<std::string> text_param(const std::optional<std::string>& text) {
  return {text};
}

nlohmann::json timestamp_json(const std::optional<timestamp>& t) {
  return t ? nlohmann::json(format_timestamp(*t)) : nlohmann::json(nullptr);
}

nlohmann::json text_json(const std::optional<std::string>& text) {
  return text ? nlohmann::json(*text) : nlohmann::json(nullptr);
}

std::string date_param(domain::date d) {
  return domain::format_date(d);
}

timestamp timestamp_field(const pqxx::field& f) {
  if (f.is_null())
    corrupt(f, "NULL");
  return timestamp{std::chrono::milliseconds{f.as<long long>()}};
}

std::optional<timestamp> optional_timestamp_field(const pqxx::field& f) {
  if (f.is_null())
    return std::nullopt;
  return timestamp_field(f);
}

std::optional<std::string> optional_text_field(const pqxx::field& f) {
  if (f.is_null())
    return std::nullopt;
  return f.as<std::string>();
}

domain::date date_field(const pqxx::field& f) {
  if (f.is_null())
    corrupt(f, "NULL");
  const auto d = domain::parse_date(f.c_str());
  if (!d)
    corrupt(f, "date");
  return *d;
}

domain::request_status status_field(const pqxx::field& f) {
  const auto s = domain::parse_request_status(f.c_str());
  if (f.is_null() || !s)
    corrupt(f, "status");
  return *s;
}

domain::provider provider_field(const pqxx::field& f) {
  const auto p = domain::parse_provider(f.c_str());
  if (f.is_null() || !p)
    corrupt(f, "provider");
  return *p;
}

domain::transport transport_field(const pqxx::field& f) {
  const auto t = domain::parse_transport(f.c_str());
  if (f.is_null() || !t)
    corrupt(f, "transport");
  return *t;
}

}  // namespace bkr::storage::detail

namespace bkr::storage {

namespace {

void append_quoted(std::string& out, const std::string& value) {
  out += '"';
  for (char c : value) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  out += '"';
}

}  // namespace

std::string text_array_literal(std::span<const std::string> values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i != 0)
      out += ',';
    append_quoted(out, values[i]);
  }
  out += '}';
  return out;
}

std::string text_array_literal(std::span<const std::optional<std::string>> values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i != 0)
      out += ',';
    if (values[i])
      append_quoted(out, *values[i]);
    else
      out += "NULL";
  }
  out += '}';
  return out;
}

}  // namespace bkr::storage
