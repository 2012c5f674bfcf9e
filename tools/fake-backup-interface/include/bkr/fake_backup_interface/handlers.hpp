// The fake interface's message handlers: answering store requests, and POSTing replies from the outbox.
#pragma once

#include "bkr/common/clock.hpp"
#include "bkr/common/log.hpp"
#include "bkr/common/metrics.hpp"
#include "bkr/fake_backup_interface/behaviour.hpp"
#include "bkr/fake_backup_interface/settings.hpp"
#include "bkr/messaging/handler.hpp"
#include "bkr/messaging/retry_policy.hpp"

#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>

namespace bkr::fake_backup_interface {

/// The fake's counters, registered once in the process's registry. Owned by the composition root; the
/// registry must outlive it. Updates are lock-free.
struct interface_metrics {
  explicit interface_metrics(metrics::registry& registry);

  metrics::counter_family& store_requests;  ///< {provider}: store requests answered
  metrics::counter_family& replies;         ///< {result}: replies produced (Succeeded, Failed)
  metrics::counter_family& intake;          ///< {result}: HTTP intake (accepted, duplicate, rejected)
  metrics::counter_family& reply_posts;     ///< {outcome}: http transport (delivered, retried, rejected)
};

/// Answers the store requests of the provider queues: decides Succeeded or Failed (reply_rules), and
/// publishes the reply, delayed by the reply delay, in the transaction that retires the store request, on
/// backup-interface.store-status (queue transport) or on the reply outbox (http transport). De-duplication
/// key `StoreStatusReply:<backupRequestId>`: one reply per request however often it is asked. A message that
/// is not a valid store request is dead-lettered with the reason.
/// Thread-safe (one instance serves every consumer); the clock, metrics and random source must outlive it.
class store_request_handler final : public messaging::handler {
 public:
  store_request_handler(const settings& s, const bkr::clock& clock, interface_metrics& metrics,
                        bkr::logger log, messaging::random_source random = {});
  messaging::handler_result handle(const messaging::delivery& d, messaging::handler_context& ctx) override;

 private:
  reply_rules rules_;
  std::chrono::milliseconds work_time_;
  std::string reply_queue_;
  const bkr::clock& clock_;
  interface_metrics& metrics_;
  bkr::logger log_;
  messaging::random_source random_;
};

/// What one POST of a reply got.
struct post_outcome {
  bool delivered = false;  ///< a 2xx answer
  bool permanent = false;  ///< a 4xx other than 408 and 429, or an unusable URL: trying again cannot help
  std::optional<std::chrono::milliseconds> retry_after;  ///< from a Retry-After header, when given
  std::string detail;  ///< status or error, for the log and the retry reason
};

/// Turns an HTTP status into a post_outcome (the one place deciding what is retried).
post_outcome classify_reply_status(unsigned status, std::string_view retry_after);

/// The http transport: consumes the reply outbox, POSTs each reply (JSON body, `Authorization: Bearer
/// <token>`, `X-Request-Id: <trace id>`) to the replies endpoint in prepare(), concurrently and outside the
/// settlement transaction, then commits delivered replies, retries on 5xx, 408, 429 and connection errors
/// (the consumer's backoff, or Retry-After), and dead-letters replies refused with another 4xx. Owns an
/// io_context and its thread for the HTTP client. Used by one consumer (prepare and handle come from its
/// thread); metrics must outlive it.
class reply_poster final : public messaging::handler {
 public:
  reply_poster(std::string endpoint, std::string token, std::chrono::milliseconds timeout,
               interface_metrics& metrics, bkr::logger log);
  ~reply_poster() override;
  reply_poster(const reply_poster&) = delete;
  reply_poster& operator=(const reply_poster&) = delete;

  void prepare(std::span<const messaging::delivery> batch) override;
  messaging::handler_result handle(const messaging::delivery& d, messaging::handler_context& ctx) override;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
  std::mutex mutex_;
  std::map<std::string, post_outcome, std::less<>> outcomes_;  // by message id, for the current batch
  interface_metrics& metrics_;
  bkr::logger log_;
};

}  // namespace bkr::fake_backup_interface
