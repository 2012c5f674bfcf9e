// The route table: path templates with `{name}` parameters per method, telling 404 from 405.
#pragma once

#include "bkr/common/error.hpp"
#include "bkr/http/message.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bkr::http {

/// A route's handler. A coroutine taking the request by value; what it returns is sent as is. An exception
/// is answered through `error_from_exception` (500 with a generic message, or 503 for a retryable
/// infrastructure failure) and logged. It runs on the connection's strand: blocking work (libpqxx) must be
/// handed to other threads and awaited.
using handler = std::function<boost::asio::awaitable<response>(request)>;

/// A route's pre-handler (authentication, authorization): runs after the body is read and before the
/// handler. It takes the request by value and gives it back (typically with `principal` set) to go on, or
/// returns an error (e.g. `errc::unauthorized`, `errc::forbidden`) that is answered through `map_error`
/// without calling the handler.
using pre_handler = std::function<boost::asio::awaitable<bkr::result<request>>(request)>;

struct route_options {
  /// The route takes a JSON body: POST/PUT/PATCH requests whose Content-Type is not JSON get 415.
  bool json_body = false;
  /// Overrides the server's body limit for this route.
  std::optional<std::size_t> body_limit;
  /// Runs before the handler when set.
  pre_handler before;
};

struct route {
  std::size_t index = 0;  ///< position in the table, stable; the server keys per-route metrics by it
  http::method method = http::method::get;
  std::string path_template;
  http::handler handler;
  route_options options;
};

enum class match_kind { found, not_found, method_not_allowed };

struct route_match {
  match_kind kind = match_kind::not_found;
  const http::route* route = nullptr;  ///< set when found
  path_params params;                  ///< set when found
  std::string allow;                   ///< set for method_not_allowed: `GET, POST`
};

/// Path templates per method. Filled before the server starts (not synchronized); afterwards only read,
/// which is safe from any thread. A template starts with `/`; a segment is either literal or a whole
/// `{name}` parameter that matches one non-empty segment. Literal segments win over parameters. Matching is
/// on the raw path (not decoded); parameter values are percent-decoded.
class router {
 public:
  /// Adds a route. Throws std::invalid_argument for a malformed template, or when the same method already
  /// has a template of the same shape.
  router& add(http::method m, std::string path_template, http::handler h, route_options options = {});

  /// The route for this method and path; `not_found` when no template matches the path, and
  /// `method_not_allowed` (with the methods that would match in `allow`) when only other methods do.
  route_match match(http::method m, std::string_view path) const;

  const std::vector<route>& routes() const noexcept { return routes_; }

 private:
  struct segment {
    std::string text;  // literal text, or the parameter name
    bool param = false;
  };
  static std::vector<segment> parse_template(std::string_view path_template);

  std::vector<route> routes_;
  std::vector<std::vector<segment>> segments_;  // parallel to routes_
};

}  // namespace bkr::http
