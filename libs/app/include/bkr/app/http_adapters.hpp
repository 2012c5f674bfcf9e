// HTTP adapters of the job service and backup interface ports, each behind a circuit breaker, and their
// configuration keys.
#pragma once

#include "bkr/app/backup_interface.hpp"
#include "bkr/app/backup_job_service.hpp"
#include "bkr/app/circuit_breaker.hpp"
#include "bkr/common/config.hpp"
#include "bkr/common/log.hpp"

#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bkr::app {

/// Where and how to call one outside HTTP service. Value type.
struct http_dependency_options {
  std::string base_url;                         ///< `http://host[:port][/prefix]`, no trailing path needed
  std::chrono::milliseconds timeout{2000};      ///< per call: connect and request each bounded by it
  std::chrono::milliseconds answer_ttl{30000};  ///< how long a prefetched answer may serve find()
};

/// `GET {base}/backup-jobs/{id}`: 200 -> the job (domain::parse_backup_job; an invalid body is
/// dependency_unavailable, logged), 404 -> nullopt (JobNotFound), any other answer, a timeout or a
/// connection failure -> dependency_unavailable (retried, never a verdict). prefetch() makes the batch's
/// calls concurrently on the adapter's own I/O thread and waits for them (bounded by the timeout); find()
/// serves the remembered answers. Calls go through `breaker`: transient failures (no answer, 5xx, 408,
/// 429, invalid body) are recorded as failures, every other answer as a success; while the circuit is
/// open no call goes out and find() reports dependency_unavailable. In half-open the first call of a
/// batch is sent alone as the probe. Thread-safe; owns one I/O thread, joined by the destructor. The
/// breaker must outlive it.
class http_backup_job_service final : public backup_job_service {
 public:
  http_backup_job_service(http_dependency_options options, circuit_breaker& breaker, bkr::logger log);
  ~http_backup_job_service() override;
  http_backup_job_service(const http_backup_job_service&) = delete;
  http_backup_job_service& operator=(const http_backup_job_service&) = delete;

  bool wants_prefetch() const override { return true; }
  void prefetch(std::span<const std::string> backup_job_ids) override;
  job_lookup find(storage::unit_of_work& uow, std::string_view backup_job_id) override;

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

/// `POST {base}/store-requests` with the store request JSON and `Idempotency-Key: <backupRequestId>`
/// (delivery is at least once: a retried message posts again and the interface de-duplicates). prepare()
/// posts the batch concurrently before the stage's transaction; hand_over() reports the remembered
/// outcome: 2xx -> handed over, 4xx other than 408/429 -> dependency_rejected (dead letter with the
/// status as reason), anything else, a timeout or a connection failure -> dependency_unavailable (retry).
/// Breaker use as for http_backup_job_service (4xx other than 408/429 count as successes). Thread-safe;
/// owns one I/O thread, joined by the destructor. The breaker must outlive it.
class http_backup_interface final : public backup_interface {
 public:
  http_backup_interface(http_dependency_options options, circuit_breaker& breaker, bkr::logger log);
  ~http_backup_interface() override;
  http_backup_interface(const http_backup_interface&) = delete;
  http_backup_interface& operator=(const http_backup_interface&) = delete;

  bool wants_prepare() const override { return true; }
  void prepare(std::span<const domain::store_request> requests) override;
  result<void> hand_over(messaging::publisher& out, const domain::store_request& request,
                         const messaging::envelope& cause) override;

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

/// Keys of the outbound adapters (documented in libs/app/README.md): `job_service.mode` (table | http),
/// `job_service.url`, `job_service.timeout`, `interface.mode` (queue | http), `interface.url`,
/// `interface.timeout`, `breaker.failure_threshold`, `breaker.open_for`.
std::vector<config::key> adapter_config_keys();

/// Typed form of adapter_config_keys(). Value type.
struct adapter_config {
  bool job_service_http = false;
  http_dependency_options job_service;
  bool interface_http = false;
  http_dependency_options interface;
  breaker_options breaker;
};

/// Reads the adapter keys from values loaded with them (a worker's, via worker_settings::extra_keys; their
/// variables are `BKR_JOB_SERVICE_MODE`, ...). An http mode without an http:// url is an error naming the
/// key.
result<adapter_config> adapter_config_from(const config::values& v);
/// Loads adapter_config_keys() alone from the given sources.
result<adapter_config> load_adapter_config(const config::sources& src);

}  // namespace bkr::app
