// What handlers see and return: the request context, the principal slot and the response.
#pragma once

#include "bkr/common/error.hpp"
#include "bkr/http/errors.hpp"
#include "bkr/http/fields.hpp"
#include "bkr/http/request_id.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bkr::http {

/// Request methods the router knows; anything else arrives as `other` (and is answered 404 or 405).
enum class method { get, head, post, put, patch, del, options, other };

/// `GET`, `POST`, ... (`DELETE` for `del`, `OTHER` for `other`).
std::string_view to_string(method m) noexcept;
/// Case-sensitive, as HTTP methods are; `other` for unknown names.
method parse_method(std::string_view name) noexcept;

/// Who is calling, as established by a route's pre-handler (authentication). The HTTP layer never fills
/// it; it only carries it from the pre-handler to the handler.
struct principal {
  std::string subject;              ///< the token's `sub` (the client id)
  std::string issuer;               ///< the token's `iss`
  std::vector<std::string> scopes;  ///< what the client may do

  bool has_scope(std::string_view scope) const noexcept;
};

/// Values of the `{name}` segments of the matched path template, percent-decoded.
class path_params {
 public:
  void add(std::string name, std::string value) { items_.emplace_back(std::move(name), std::move(value)); }
  /// The value of `name`; empty when the template has no such parameter.
  std::string_view get(std::string_view name) const noexcept;
  std::size_t size() const noexcept { return items_.size(); }
  auto begin() const noexcept { return items_.begin(); }
  auto end() const noexcept { return items_.end(); }

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

/// One request as a handler sees it. Built by the server per request and moved into the pre-handler and
/// then the handler; owns all its data.
struct request {
  http::method method = http::method::get;
  std::string target;        ///< as sent: path and query
  std::string path;          ///< the target up to `?`, not decoded
  std::string query;         ///< after `?`, not decoded; empty when none
  std::string route;         ///< the matched path template, e.g. `/api/backup-requests/{id}`
  http::path_params params;  ///< values of the template's parameters
  http::fields headers;      ///< as received
  std::string body;          ///< complete body (within the route's limit)
  std::string request_id;    ///< echoed as `X-Request-Id`; see identify_request
  std::optional<trace_context> trace;
  std::string remote_address;                ///< `ip:port` of the peer
  std::optional<http::principal> principal;  ///< set by the route's pre-handler

  /// The trace id to carry on messages and log lines: the `traceparent` trace id, else the request id.
  std::string_view trace_id() const noexcept {
    return trace ? std::string_view(trace->trace_id) : request_id;
  }
};

/// What a handler returns. The server adds `Content-Length`, `Connection`, `X-Request-Id` (and `traceparent`
/// when one came in).
struct response {
  unsigned status = 200;
  http::fields headers;
  std::string content_type = "application/json";
  std::string body;

  /// A JSON response.
  static response json(unsigned status, const nlohmann::json& body);
  /// A response with any body and content type.
  static response text(unsigned status, std::string body,
                       std::string content_type = "text/plain; charset=utf-8");
};

/// The error response for `e` through `map_error`: status, `{code, message, requestId}`, and `Retry-After`
/// for `unavailable`. The error's message is shown only for statuses below 500.
response error_response(const bkr::error& e, std::string_view request_id);
response error_response(errc e, std::string message, std::string_view request_id);

/// True when a `Content-Type` value is JSON: `application/json`, any case, with optional parameters; a
/// `charset` parameter, when present, must be `utf-8`.
bool is_json_media_type(std::string_view content_type) noexcept;

/// Decodes `%XX` escapes (`+` is kept as is). Nullopt for a malformed escape.
std::optional<std::string> percent_decode(std::string_view text);

}  // namespace bkr::http
