// Wire names of the domain enums and the YYYY-MM-DD form of calendar dates.
#include "bkr/domain/types.hpp"

#include <array>
#include <cstdio>
#include <utility>

namespace bkr::domain {
namespace {

// One table per enum keeps to_string and parse_* in step: both read the same pairs.
constexpr std::array<std::pair<request_status, std::string_view>, 7> status_names{{
    {request_status::accepted, "Accepted"},
    {request_status::received, "Received"},
    {request_status::allowed, "Allowed"},
    {request_status::not_allowed, "NotAllowed"},
    {request_status::sent, "Sent"},
    {request_status::succeeded, "Succeeded"},
    {request_status::failed, "Failed"},
}};
constexpr std::array<std::pair<provider, std::string_view>, 3> provider_names{{
    {provider::local, "Local"},
    {provider::cloud_a, "CloudA"},
    {provider::cloud_b, "CloudB"},
}};
constexpr std::array<std::pair<transport, std::string_view>, 2> transport_names{{
    {transport::http, "HTTP"},
    {transport::queue, "Queue"},
}};
constexpr std::array<std::pair<store_result, std::string_view>, 2> store_result_names{{
    {store_result::succeeded, "Succeeded"},
    {store_result::failed, "Failed"},
}};

template <class Enum, std::size_t N>
std::string_view name_of(const std::array<std::pair<Enum, std::string_view>, N>& table, Enum value) {
  for (const auto& [e, name] : table) {
    if (e == value)
      return name;
  }
  return "Unknown";  // only reachable with a value cast from an out-of-range integer
}

template <class Enum, std::size_t N>
std::optional<Enum> value_of(const std::array<std::pair<Enum, std::string_view>, N>& table,
                             std::string_view text) {
  for (const auto& [e, name] : table) {
    if (name == text)
      return e;
  }
  return std::nullopt;
}

}  // namespace

std::string_view to_string(request_status s) {
  return name_of(status_names, s);
}
std::string_view to_string(provider p) {
  return name_of(provider_names, p);
}
std::string_view to_string(transport t) {
  return name_of(transport_names, t);
}
std::string_view to_string(store_result r) {
  return name_of(store_result_names, r);
}

std::optional<request_status> parse_request_status(std::string_view text) {
  return value_of(status_names, text);
}
std::optional<provider> parse_provider(std::string_view text) {
  return value_of(provider_names, text);
}
std::optional<transport> parse_transport(std::string_view text) {
  return value_of(transport_names, text);
}
std::optional<store_result> parse_store_result(std::string_view text) {
  return value_of(store_result_names, text);
}

std::string format_date(date d) {
  char buffer[32];
  const int n = std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02u", static_cast<int>(d.year()),
                              static_cast<unsigned>(d.month()), static_cast<unsigned>(d.day()));
  return std::string(buffer, n > 0 ? static_cast<std::size_t>(n) : 0);
}

}  // namespace bkr::domain
