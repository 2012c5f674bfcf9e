// The operations listener: /livez, /readyz, /healthz and /metrics on their own port, without auth.
#pragma once

#include "bkr/common/log.hpp"
#include "bkr/common/metrics.hpp"
#include "bkr/http/server.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace bkr::http {

struct ops_options {
  std::string address = "127.0.0.1";  ///< loopback unless told otherwise
  std::uint16_t port = 0;             ///< 0: the OS chooses
  std::string service;                ///< reported by /healthz
  std::string version;                ///< reported by /healthz
};

/// Serves the operations surface of one process (DOMAIN.md) on a `server` of its own (one I/O thread):
/// - `GET /livez`: 200 `{"status":"alive"}` while the process runs;
/// - `GET /readyz`: 200 `{"status":"ready"}` when every readiness check passes and we are not draining,
///   else 503 `{code:"NotReady", message, requestId, failing:[names], draining}`;
/// - `GET /healthz`: 200 `{service, version, uptimeSeconds, ready, draining, checks:{name:bool}, <section>:
///   <provider JSON>...}`;
/// - `GET /metrics`: the registry in Prometheus text format.
/// Lifetime: constructed by the composition root, started before and stopped after the service's own
/// listeners. Checks and providers may be added at any time from any thread; they are called on the ops
/// I/O thread, so they must be cheap and non-blocking (read a cached state, not ping a database) and
/// thread-safe. The registry and whatever the callbacks capture must outlive the listener.
class ops_listener {
 public:
  using readiness_check = std::function<bool()>;
  using health_provider = std::function<nlohmann::json()>;

  ops_listener(ops_options options, metrics::registry& registry, bkr::logger log);
  ~ops_listener();
  ops_listener(const ops_listener&) = delete;
  ops_listener& operator=(const ops_listener&) = delete;

  /// `name` is reported in /readyz and /healthz when the check fails (e.g. `postgres`, `breaker:jobs`).
  void add_readiness_check(std::string name, readiness_check check);
  /// `section` becomes a key of the /healthz object (e.g. `breakers`, `queues`).
  void add_health_provider(std::string section, health_provider provider);

  /// Draining makes /readyz fail; set it first when shutting down.
  void set_draining(bool draining) noexcept;
  bool draining() const noexcept;

  /// The /readyz verdict without HTTP: names of failing checks (plus `draining` when draining).
  std::vector<std::string> failing_checks() const;

  void start();
  std::uint16_t port() const noexcept;
  void stop(std::chrono::milliseconds drain = std::chrono::milliseconds{1'000});

 private:
  struct state;
  std::shared_ptr<state> state_;
  std::unique_ptr<server> server_;
};

}  // namespace bkr::http
