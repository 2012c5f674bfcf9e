// The fake backup job service as one object: the job API with its fault switches, and the ops listener.
#pragma once

#include "bkr/common/clock.hpp"
#include "bkr/common/log.hpp"
#include "bkr/common/metrics.hpp"
#include "bkr/fake_backup_job_service/faults.hpp"
#include "bkr/fake_backup_job_service/settings.hpp"

#include <cstdint>
#include <memory>

namespace bkr::fake_backup_job_service {

/// Serves, on the job API listener:
/// - `GET /backup-jobs/{id}`: 200 with the job (domain::to_json(backup_job)), 404 JSON `NotFound` for an
///   unknown id; after the configured latency; 500 `InjectedFailure` for the error ratio's share; 503
///   `Unavailable` with Retry-After during an outage.
/// - `POST /admin/outage` `{"seconds": N, "mode": "unavailable"|"refuse"}` -> 202 with the outage;
///   `GET /admin/outage`; `DELETE /admin/outage` ends an `unavailable` outage early (a `refuse` outage
///   closes this listener too, so it ends only by itself).
/// - `GET /admin/faults`, `PUT /admin/faults` `{"latencyMs": n, "errorRatio": x}` (either or both).
/// and the ops listener (/livez /readyz /healthz /metrics; /readyz fails as `api` while a refuse outage has
/// the job listener closed).
///
/// Lifetime: construct, start() once, stop() once (the destructor stops if needed). start() and stop() come
/// from one controlling thread; the accessors are thread-safe. Owns a thread that closes and reopens the
/// job listener for refuse outages. The clock must outlive it.
class service {
 public:
  service(settings s, bkr::logger log, const bkr::clock& clock);
  ~service();
  service(const service&) = delete;
  service& operator=(const service&) = delete;

  /// Throws bkr::infrastructure_error when a listener cannot bind.
  void start();
  /// /readyz false -> the job listener drains until drain.deadline -> ops listener.
  void stop();

  /// The job API's bound port (kept across refuse outages) and the ops port, after start().
  std::uint16_t port() const;
  std::uint16_t ops_port() const;
  fault_injector& faults();
  metrics::registry& registry();

  struct state;

 private:
  std::shared_ptr<state> state_;
};

}  // namespace bkr::fake_backup_job_service
