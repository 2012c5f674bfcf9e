// Methods, principals, path parameters, responses and the small text rules of HTTP messages.
#include "bkr/http/message.hpp"

#include <algorithm>

namespace bkr::http {
namespace {

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string_view to_string(method m) noexcept {
  switch (m) {
    case method::get:
      return "GET";
    case method::head:
      return "HEAD";
    case method::post:
      return "POST";
    case method::put:
      return "PUT";
    case method::patch:
      return "PATCH";
    case method::del:
      return "DELETE";
    case method::options:
      return "OPTIONS";
    case method::other:
      return "OTHER";
  }
  return "OTHER";
}

method parse_method(std::string_view name) noexcept {
  if (name == "GET")
    return method::get;
  if (name == "POST")
    return method::post;
  if (name == "HEAD")
    return method::head;
  if (name == "PUT")
    return method::put;
  if (name == "PATCH")
    return method::patch;
  if (name == "DELETE")
    return method::del;
  if (name == "OPTIONS")
    return method::options;
  return method::other;
}

bool principal::has_scope(std::string_view scope) const noexcept {
  return std::find(scopes.begin(), scopes.end(), scope) != scopes.end();
}

std::string_view path_params::get(std::string_view name) const noexcept {
  for (const auto& [n, v] : items_)
    if (n == name)
      return v;
  return {};
}

response response::json(unsigned status, const nlohmann::json& body) {
  response r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

response response::text(unsigned status, std::string body, std::string content_type) {
  response r;
  r.status = status;
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  return r;
}

response error_response(const bkr::error& e, std::string_view request_id) {
  const auto m = map_error(e.code);
  response r;
  r.status = m.status;
  const bool own_message = m.show_message && m.status < 500 && !e.message.empty();
  r.body = error_body(m.code, own_message ? std::string_view(e.message) : m.default_message, request_id);
  if (m.retry_after)
    r.headers.set("Retry-After", "1");
  if (m.bearer_challenge)
    r.headers.set(
        "WWW-Authenticate",
        bearer_challenge(m.bearer_error, own_message ? std::string_view(e.message) : m.default_message));
  return r;
}

response error_response(errc e, std::string message, std::string_view request_id) {
  return error_response(make_error(e, std::move(message)), request_id);
}

bool is_json_media_type(std::string_view content_type) noexcept {
  auto semi = content_type.find(';');
  if (!iequals(trim(content_type.substr(0, semi)), "application/json"))
    return false;
  while (semi != std::string_view::npos) {
    content_type.remove_prefix(semi + 1);
    semi = content_type.find(';');
    const auto param = trim(content_type.substr(0, semi));
    const auto eq = param.find('=');
    if (eq == std::string_view::npos || !iequals(trim(param.substr(0, eq)), "charset"))
      continue;
    auto value = trim(param.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
      value = value.substr(1, value.size() - 2);
    if (!iequals(value, "utf-8"))
      return false;
  }
  return true;
}

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size())
      return std::nullopt;
    const int hi = hex_value(text[i + 1]);
    const int lo = hex_value(text[i + 2]);
    if (hi < 0 || lo < 0)
      return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

}  // namespace bkr::http
