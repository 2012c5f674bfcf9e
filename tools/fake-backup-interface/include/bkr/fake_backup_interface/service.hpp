// The fake backup interface as one object: consumers of the store-request queues, the HTTP intake, the
// reply outbox (http transport) and the ops listener, started and stopped in order.
#pragma once

#include "bkr/common/clock.hpp"
#include "bkr/common/log.hpp"
#include "bkr/common/metrics.hpp"
#include "bkr/fake_backup_interface/settings.hpp"

#include <cstdint>
#include <memory>

namespace bkr::fake_backup_interface {

/// Owns everything the process runs: connection pool, LISTEN notifier, one consumer per provider queue (and
/// the outbox consumer for the http transport), the HTTP intake `POST /store-requests` and the ops listener.
/// Lifetime: construct, start() once, stop() once (the destructor stops with the configured deadline if
/// needed). start() and stop() come from one controlling thread; the accessors are thread-safe. The clock
/// must outlive it.
///
/// HTTP intake: `POST /store-requests` with `Idempotency-Key: <backupRequestId>` and the store request JSON.
/// A valid request of a served provider is published on its store-request queue (de-duplicated by
/// backupRequestId: a repeat is answered 202 again and never makes a second reply) and answered 202
/// `{backupRequestId, queue, duplicate}`; 400 for a missing or mismatched key, bad JSON or data, or a
/// provider not served; 503 when Postgres is unreachable.
class service {
 public:
  service(settings s, bkr::logger log, const bkr::clock& clock);
  ~service();
  service(const service&) = delete;
  service& operator=(const service&) = delete;

  /// Starts the ops listener, the notifier, the consumers and the HTTP intake. Throws when a listener cannot
  /// bind. An unreachable database does not stop it: /readyz fails as `postgres` and the consumers keep
  /// trying.
  void start();
  /// Graceful stop: /readyz false -> intake stops accepting -> consumers finish in-flight work until
  /// drain.deadline (unstarted claims are handed back) -> notifier -> ops listener.
  void stop();

  /// Bound ports (after start()); the intake port is 0 when http.enabled is false.
  std::uint16_t http_port() const;
  std::uint16_t ops_port() const;
  metrics::registry& registry();
  const settings& config() const;

  struct state;

 private:
  std::unique_ptr<state> state_;
};

}  // namespace bkr::fake_backup_interface
