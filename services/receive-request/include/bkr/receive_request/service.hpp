// The composition root of bkr-receive-request: builds every part in dependency order, starts, stops.
#pragma once

#include "bkr/auth/jwks.hpp"
#include "bkr/auth/jwt_verifier.hpp"
#include "bkr/auth/keys.hpp"
#include "bkr/auth/scope_authorizer.hpp"
#include "bkr/common/clock.hpp"
#include "bkr/common/log.hpp"
#include "bkr/common/metrics.hpp"
#include "bkr/http/ops_listener.hpp"
#include "bkr/http/server.hpp"
#include "bkr/receive_request/authenticator.hpp"
#include "bkr/receive_request/database_health.hpp"
#include "bkr/receive_request/endpoints.hpp"
#include "bkr/receive_request/group_committer.hpp"
#include "bkr/receive_request/settings.hpp"
#include "bkr/storage/connection_pool.hpp"

#include <boost/asio/thread_pool.hpp>

#include <cstdint>
#include <memory>

namespace bkr::receive_request {

/// The whole service: connection pool, blocking threads, Postgres health, JWT verifier and scope cache,
/// group committer, API server and ops listener. Used by main() and by in-process tests.
///
/// Lifetime: construct (nothing runs yet), start(), then stop() once: /readyz turns false, the API stops
/// accepting and lets requests in flight finish (their group commits included) until drain.deadline,
/// then the writers, blocking threads, health thread and ops listener stop, in that order. The destructor
/// stops if needed. start() and stop() are called from one controlling thread; the port accessors are
/// thread-safe after start(). The clock and logger's sink must outlive it.
class service {
 public:
  service(settings s, bkr::logger log, const bkr::clock& clock);
  ~service();
  service(const service&) = delete;
  service& operator=(const service&) = delete;

  /// Applies migrations when migrate.on_start is set, loads the JWKS, pings Postgres (an unreachable
  /// database is not fatal: the service starts unready and answers 503 until it returns), then starts the
  /// writers, the ops listener and the API server. Throws when a migration fails, a JWKS file cannot be
  /// loaded or a port cannot be bound.
  void start();
  void stop();

  std::uint16_t api_port() const noexcept;
  std::uint16_t ops_port() const noexcept;
  metrics::registry& registry() noexcept { return registry_; }
  const settings& config() const noexcept { return settings_; }

 private:
  void migrate();
  void register_health();

  const settings settings_;
  bkr::logger log_;
  const bkr::clock& clock_;
  metrics::registry registry_;
  storage::connection_pool pool_;
  boost::asio::thread_pool blocking_;
  database_health health_;
  auth::static_key_source no_keys_;
  std::unique_ptr<auth::jwks_cache> jwks_;
  std::unique_ptr<auth::jwt_verifier> verifier_;
  auth::scope_authorizer authorizer_;
  group_committer committer_;
  authenticator authenticator_;
  endpoints endpoints_;
  http::ops_listener ops_;
  std::unique_ptr<http::server> api_;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace bkr::receive_request
