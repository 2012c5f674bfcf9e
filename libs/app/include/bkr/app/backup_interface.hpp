// Port to the backup interfaces (one per storage provider), and its default adapter: the provider's queue.
#pragma once

#include "bkr/common/clock.hpp"
#include "bkr/common/error.hpp"
#include "bkr/domain/messages.hpp"
#include "bkr/messaging/envelope.hpp"
#include "bkr/messaging/handler.hpp"

#include <span>
#include <string>

namespace bkr::app {

/// Hands store requests to the interface of their provider. Implementations are thread-safe.
///
/// Two-phase like backup_job_service: when wants_prepare() is true, SendToInterface reads the batch's
/// requests before its transaction opens and calls prepare() with their store requests; a remote adapter
/// POSTs them there (concurrently, with a timeout and a circuit breaker, `Idempotency-Key:
/// <backupRequestId>`: delivery is at least once, the interface de-duplicates) and remembers each outcome.
/// Inside the transaction, after the request won its Allowed -> Sent compare-and-set, the stage calls
/// hand_over(): the queue adapter publishes there (so the store request commits with the Sent status); a
/// remote adapter reports what prepare() got. An error undoes the stage's writes: dependency_unavailable
/// is retried, dependency_rejected is dead-lettered.
class backup_interface {
 public:
  virtual ~backup_interface() = default;

  virtual bool wants_prepare() const { return false; }

  /// Outside any transaction, once per batch.
  virtual void prepare(std::span<const domain::store_request> requests) { (void)requests; }

  /// `out` publishes in the stage's transaction; `cause` is the consumed message (trace id).
  virtual result<void> hand_over(messaging::publisher& out, const domain::store_request& request,
                                 const messaging::envelope& cause) = 0;
};

/// The default adapter: publishes the store request on `backup-interface.<provider>.store-request`
/// (domain::store_request_queue) in the stage's transaction, keyed by backupRequestId. Immutable after
/// construction; thread-safe. The clock must outlive it.
class queue_backup_interface final : public backup_interface {
 public:
  queue_backup_interface(const bkr::clock& clock, std::string producer)
      : clock_(clock), producer_(std::move(producer)) {}
  result<void> hand_over(messaging::publisher& out, const domain::store_request& request,
                         const messaging::envelope& cause) override;

 private:
  const bkr::clock& clock_;
  std::string producer_;
};

}  // namespace bkr::app
