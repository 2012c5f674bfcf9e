// HTTP/1.1 client for outside services (job service, backup interface, JWKS URLs): plain http only.
#pragma once

#include "bkr/common/error.hpp"
#include "bkr/http/fields.hpp"
#include "bkr/http/message.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

namespace bkr::http {

/// Why a call produced no HTTP response. Any status the server answers (also 4xx/5xx) is a response, not
/// an error.
enum class client_errc {
  invalid_url = 1,     ///< not an absolute `http://host[:port]/path` URL
  unsupported_scheme,  ///< `https` and others: TLS is not supported by this client
  resolve_failed,      ///< the host name does not resolve
  connect_refused,     ///< nothing listens there
  connect_timeout,     ///< no connection within the connect timeout
  connect_failed,      ///< unreachable network or host, or another connect failure
  timeout,             ///< no complete response within the request timeout
  connection_closed,   ///< the server closed or reset the connection before a complete response
  protocol_error,      ///< the response is not valid HTTP/1.1
  body_too_large,      ///< the response body is over the client's limit
  network,             ///< another socket error
};

const std::error_category& client_category() noexcept;
inline std::error_code make_error_code(client_errc e) noexcept {
  return {static_cast<int>(e), client_category()};
}

/// Retryable from the caller's point of view: everything except invalid_url, unsupported_scheme,
/// protocol_error and body_too_large.
bool is_transient(client_errc e) noexcept;

struct client_options {
  std::chrono::milliseconds connect_timeout{2'000};  ///< name resolution and TCP connect
  std::chrono::milliseconds request_timeout{5'000};  ///< sending the request and receiving the response
  std::size_t body_limit = 4 * 1024 * 1024;          ///< largest response body accepted
  std::size_t max_idle_per_host = 8;                 ///< kept-alive connections kept for reuse per host:port
  std::chrono::milliseconds idle_timeout{15'000};    ///< pooled connections older than this are dropped
  std::string user_agent = "bkr";
};

struct client_request {
  http::method method = http::method::get;
  std::string url;       ///< `http://host[:port]/path[?query]`
  http::fields headers;  ///< extra headers (Authorization, X-Request-Id, traceparent, ...)
  std::string body;
  std::string content_type;                          ///< sent when the body is not empty
  std::optional<std::chrono::milliseconds> timeout;  ///< overrides client_options::request_timeout
};

struct client_response {
  unsigned status = 0;
  http::fields headers;
  std::string body;
};

/// An asynchronous client with a keep-alive pool per host:port. Idle pooled connections are probed before
/// reuse; a reused connection that turns out closed is replaced once for idempotent methods (GET, HEAD,
/// PUT, DELETE, OPTIONS). Thread-safe: any number of coroutines may call concurrently. Lifetime: must
/// outlive every call in progress; the executor's io_context must outlive the client.
class client {
 public:
  client(boost::asio::any_io_executor executor, client_options options = {});
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  boost::asio::awaitable<bkr::result<client_response>> send(client_request req);
  boost::asio::awaitable<bkr::result<client_response>> get(std::string url, http::fields headers = {});
  /// POST with `Content-Type: application/json`.
  boost::asio::awaitable<bkr::result<client_response>> post_json(std::string url, std::string body,
                                                                 http::fields headers = {});

  /// Connections currently kept for reuse (for tests and metrics).
  std::size_t idle_connections() const;

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

/// A synchronous wrapper for start-up code and tools (e.g. fetching a JWKS once): owns a private
/// io_context that runs only inside each call. Not thread-safe: one call at a time.
class blocking_client {
 public:
  explicit blocking_client(client_options options = {});
  ~blocking_client();
  blocking_client(const blocking_client&) = delete;
  blocking_client& operator=(const blocking_client&) = delete;

  bkr::result<client_response> send(client_request req);
  bkr::result<client_response> get(std::string url, http::fields headers = {});
  bkr::result<client_response> post_json(std::string url, std::string body, http::fields headers = {});

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace bkr::http

template <>
struct std::is_error_code_enum<bkr::http::client_errc> : std::true_type {};
