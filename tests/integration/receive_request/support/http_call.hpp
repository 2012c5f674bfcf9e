// A blocking HTTP/1.1 client for tests of bkr-receive-request: keep-alive connections and raw requests.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bkr::rr_test {

/// One response. Header names are lower-cased.
struct reply {
  unsigned status = 0;
  std::map<std::string, std::string> headers;
  std::string body;

  nlohmann::json json() const;
  std::string header(const std::string& lower_name) const;
  bool has_header(const std::string& lower_name) const { return headers.count(lower_name) != 0; }
};

using header_list = std::vector<std::pair<std::string, std::string>>;

/// A keep-alive connection to 127.0.0.1:port. Throws std::runtime_error when the connection fails or
/// no response arrives within the timeout. Not thread-safe: one per thread.
class http_connection {
 public:
  explicit http_connection(std::uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds{30});
  ~http_connection();
  http_connection(const http_connection&) = delete;
  http_connection& operator=(const http_connection&) = delete;

  /// Sends one request (Content-Length set from the body for POST) and reads the response.
  reply request(std::string_view method, std::string_view target, const header_list& headers = {},
                std::optional<std::string> body = std::nullopt);
  /// Sends bytes as they are and reads one response (for requests the client would not build).
  reply raw(std::string_view bytes);
  /// Sends bytes without reading anything (the start of a request that completes later).
  void send(std::string_view bytes);
  /// Reads one response.
  reply read();
  /// True when the peer closed the connection.
  bool closed_by_peer();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// One request on a fresh connection.
reply http_call(std::uint16_t port, std::string_view method, std::string_view target,
                const header_list& headers = {}, std::optional<std::string> body = std::nullopt);

/// `count` POSTs to `target` on their own keep-alive connections, opened first and sent at the same moment
/// (a barrier); request i carries `headers` and `body_of(i)`. The replies in request order.
std::vector<reply> post_concurrently(std::uint16_t port, std::string_view target, const header_list& headers,
                                     const std::function<std::string(int)>& body_of, int count);

/// True when something accepts TCP connections on 127.0.0.1:port.
bool port_open(std::uint16_t port);

/// A valid POST /api/backup-requests body.
std::string accept_body(std::string_view job = "job-1", std::string_view location = "/data/set-1",
                        std::string_view date = "2026-01-15");

/// {Authorization: Bearer token, Content-Type: application/json} plus `extra`.
header_list json_headers(const std::string& token, header_list extra = {});

}  // namespace bkr::rr_test
