// Group commit: the messages of concurrent requests written by one COPY and one commit.
#pragma once

#include "bkr/common/log.hpp"
#include "bkr/common/metrics.hpp"
#include "bkr/messaging/envelope.hpp"
#include "bkr/receive_request/settings.hpp"
#include "bkr/storage/connection_pool.hpp"
#include "bkr/storage/idempotency_key_repository.hpp"
#include "bkr/storage/unit_of_work.hpp"

#include <boost/asio/awaitable.hpp>

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace bkr::receive_request {

class database_health;

/// The first answer to remember for (client, Idempotency-Key), written in the same transaction as the
/// message it answers for.
struct idempotency_record {
  std::string client_id;
  std::string key;
  storage::idempotent_response response;
};

/// One request's share of a group commit: the message to publish and, when the client sent an
/// Idempotency-Key, the answer to record for it.
struct commit_request {
  messaging::outgoing_message message;
  std::optional<idempotency_record> idempotency;
};

enum class commit_status {
  committed,    ///< the message is committed: answer 202
  replayed,     ///< the key was answered before: `first_response` is that answer; nothing was published
  queue_full,   ///< too many requests waiting for a writer: 503
  unavailable,  ///< Postgres is unreachable, or the transaction failed in a retryable way: 503
  timed_out,    ///< no commit within group_commit.timeout (or the request was cancelled): 503
  failed,       ///< an unexpected error (a bug, e.g. a constraint violation): 500
};

/// `committed`, `replayed`, `queue_full`, ... for logs.
std::string_view to_string(commit_status s) noexcept;

struct commit_outcome {
  commit_status status = commit_status::failed;
  std::optional<storage::idempotent_response> first_response;  ///< set for `replayed`
};

/// Writes a batch into `uow` without committing: `messages[i]` with, when `keys[i]` is not null, the
/// Idempotency-Key answer to record for it. The keys first (in (client, key) order, so that concurrent
/// transactions lock keys in one order), then the messages whose key was new, in one COPY. A key already
/// recorded, by a committed transaction or earlier in this batch, makes its request `replayed` with the
/// stored answer; a concurrent transaction holding the same key is waited for. Every other request is
/// `committed` once the caller commits. Throws database errors (storage's types). `keys` has the size of
/// `messages`. The messages are published in one statement (messaging::postgres::publish_bulk).
std::vector<commit_outcome> write_batch(storage::unit_of_work& uow,
                                        std::span<const messaging::outgoing_message> messages,
                                        std::span<const idempotency_record* const> keys);

/// Collects the messages of concurrent requests and writes them in shared transactions: `writers` threads
/// each take up to `max_batch` waiting requests, write them with write_batch and one commit, then wake
/// every waiting coroutine with its outcome. Requests that arrive while the writers are busy form the next
/// batch, so the batch size follows the load. Nothing is answered `committed` before its commit returned.
///
/// A request waits at most `timeout`; one that gave up before a writer took it is never written (one taken
/// already may still commit after its 503; Idempotency-Key makes the client's retry safe). When the queue
/// holds `max_pending` requests, or `health` says Postgres is down, submit() answers at once.
///
/// Lifetime: constructed by the composition root; start() before the API server, stop() after it (stop
/// writes what is still queued, then joins). The pool, health monitor and registry must outlive it.
/// submit() is thread-safe and may be awaited from any executor (its coroutine resumes there).
class group_committer {
 public:
  group_committer(storage::connection_pool& pool, group_commit_options options, database_health& health,
                  metrics::registry& registry, bkr::logger log);
  ~group_committer();
  group_committer(const group_committer&) = delete;
  group_committer& operator=(const group_committer&) = delete;

  void start();
  void stop();

  /// Queues `request` and resumes with its outcome once the batch holding it committed or failed, or when
  /// the timeout passed, or at once when the queue is full or Postgres is down.
  boost::asio::awaitable<commit_outcome> submit(commit_request request);

  /// Requests queued and not yet taken by a writer.
  std::size_t pending() const;
  const group_commit_options& options() const noexcept { return options_; }

 private:
  struct waiter;
  bool enqueue(const std::shared_ptr<waiter>& w);
  void run_writer();
  // The batch's messages live in one array (moved out of the waiters when taken), so that the COPY reads
  // them in place; keys[i] points into batch[i]'s request.
  void flush(std::span<const std::shared_ptr<waiter>> batch,
             std::span<const messaging::outgoing_message> messages,
             std::span<const idempotency_record* const> keys);
  std::vector<commit_outcome> write_and_commit(std::span<const messaging::outgoing_message> messages,
                                               std::span<const idempotency_record* const> keys);
  void complete(const std::shared_ptr<waiter>& w, commit_outcome outcome);

  storage::connection_pool& pool_;
  const group_commit_options options_;
  database_health& health_;
  bkr::logger log_;

  metrics::histogram& batch_sizes_;
  metrics::histogram& commit_seconds_;
  metrics::gauge& pending_gauge_;
  metrics::counter& committed_;
  metrics::counter& replayed_;
  metrics::counter_family& failures_;
  metrics::counter& fail_queue_full_;
  metrics::counter& fail_unavailable_;
  metrics::counter& fail_timeout_;
  metrics::counter& fail_error_;

  mutable std::mutex mutex_;  // guards queue_ and stopping_; never held while writing to Postgres
  std::condition_variable work_;
  std::deque<std::shared_ptr<waiter>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace bkr::receive_request
