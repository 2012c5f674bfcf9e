// The HTTP/1.1 server: one io_context run by N threads, one coroutine per connection on its own strand.
#pragma once

#include "bkr/common/log.hpp"
#include "bkr/common/metrics.hpp"
#include "bkr/http/router.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace bkr::http {

struct server_options {
  std::string address = "127.0.0.1";  ///< address to bind; loopback unless told otherwise
  std::uint16_t port = 0;             ///< 0: the OS chooses; read it back with port()
  /// SO_REUSEPORT: several processes listen on one port and the kernel spreads new connections over them
  /// (instances of one service); off, binding a port in use fails.
  bool reuse_port = false;
  std::size_t threads = 1;              ///< I/O threads running the io_context
  std::size_t header_limit = 8 * 1024;  ///< request line + headers; over it -> 431
  std::size_t body_limit = 16 * 1024;   ///< default per route; over it -> 413 (route_options may override)
  /// Time to receive a complete request line and headers once the first byte arrived (and, on a new
  /// connection, for the first byte). On expiry the connection is closed without an answer.
  std::chrono::milliseconds header_timeout{5'000};
  std::chrono::milliseconds body_timeout{10'000};        ///< to receive the body
  std::chrono::milliseconds write_timeout{10'000};       ///< to send a response
  std::chrono::milliseconds keep_alive_timeout{30'000};  ///< idle time between requests on one connection
  /// Over this many open connections, new ones get 503 and are closed. 0: no limit.
  std::size_t max_connections = 10'000;
  /// Prefix of the metric names: `<prefix>_requests_total`, `<prefix>_request_duration_seconds`,
  /// `<prefix>_connections`.
  std::string metrics_prefix = "bkr_http";
  std::vector<double> latency_buckets = metrics::default_latency_buckets();
};

/// An HTTP/1.1 server for one router. Owns its io_context, its I/O threads, the listening socket and every
/// connection. Lifetime: construct, start(), stop(); the destructor stops with no drain time if still
/// running. start() and stop() are called from one controlling thread (not an I/O thread); port(),
/// draining() and executor() are thread-safe. The registry and the handlers' captured objects must
/// outlive the server.
///
/// Per connection: requests are read one at a time and answered in order (so pipelined requests are
/// answered in order), keep-alive as the client asks. Every error is answered with a JSON body
/// `{code, message, requestId}`: 400 malformed, 404/405 (with `Allow`) from the router, 411 for a POST,
/// PUT or PATCH without Content-Length (chunked request bodies are refused with 411 too), 413 when the
/// declared length is over the limit (answered before reading the body, then the connection is closed),
/// 415 for non-JSON bodies on JSON routes, 431 for oversized headers, 500 when a handler throws, 503 when
/// over max_connections or a retryable infrastructure error escapes a handler. A timed-out read closes the
/// connection without an answer (the stream is already closed when the timer fires): no 408 is sent.
class server {
 public:
  server(server_options options, router routes, metrics::registry& registry, bkr::logger log);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Binds, listens and starts the I/O threads. Throws bkr::infrastructure_error (not retryable) when the
  /// address cannot be bound.
  void start();

  /// The bound port (after start()).
  std::uint16_t port() const noexcept;

  /// Graceful stop, blocking: stop accepting (new connections are refused), close idle keep-alive
  /// connections, let requests in flight finish (their connection is then closed) for up to `drain`,
  /// then cancel what is left (handlers see operation_aborted at their next await), and join the threads.
  void stop(std::chrono::milliseconds drain);

  /// True from the start of stop().
  bool draining() const noexcept;

  /// Number of open connections.
  std::size_t connection_count() const;

  /// The executor of the server's io_context, for work that should run on the I/O threads.
  boost::asio::any_io_executor executor() const;

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace bkr::http
