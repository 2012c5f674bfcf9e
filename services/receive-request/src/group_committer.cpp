// Group commit of accepted requests: a bounded queue, writer threads, and coroutines woken per request.
#include "bkr/receive_request/group_committer.hpp"

#include "bkr/messaging/postgres/backend.hpp"
#include "bkr/receive_request/database_health.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <tuple>

namespace bkr::receive_request {

namespace asio = boost::asio;

std::string_view to_string(commit_status s) noexcept {
  switch (s) {
    case commit_status::committed:
      return "committed";
    case commit_status::replayed:
      return "replayed";
    case commit_status::queue_full:
      return "queue_full";
    case commit_status::unavailable:
      return "unavailable";
    case commit_status::timed_out:
      return "timed_out";
    case commit_status::failed:
      return "failed";
  }
  return "unknown";
}

// ---- the transaction's content ----

std::vector<commit_outcome> write_batch(storage::unit_of_work& uow,
                                        std::span<const messaging::outgoing_message> messages,
                                        std::span<const idempotency_record* const> keys) {
  if (keys.size() != messages.size())
    throw std::invalid_argument("write_batch: one key slot per message");
  std::vector<commit_outcome> outcomes(messages.size(), commit_outcome{commit_status::committed, {}});

  std::vector<std::size_t> keyed;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (keys[i] != nullptr)
      keyed.push_back(i);
  }
  // One lock order for every transaction: two batches holding the same keys cannot deadlock.
  std::stable_sort(keyed.begin(), keyed.end(), [&](std::size_t a, std::size_t b) {
    return std::tie(keys[a]->client_id, keys[a]->key) < std::tie(keys[b]->client_id, keys[b]->key);
  });
  const storage::idempotency_key_repository repository;
  bool any_replayed = false;
  for (const std::size_t i : keyed) {
    auto claim = repository.insert_if_absent(uow, keys[i]->client_id, keys[i]->key, keys[i]->response);
    if (!claim.inserted) {
      outcomes[i] = {commit_status::replayed, std::move(claim.response)};
      any_replayed = true;
    }
  }

  // One prepared append for the whole batch. The messages are read in place; only a batch with replayed
  // keys (rare) needs a copy without them.
  storage::with_database_errors([&] {
    if (!any_replayed) {
      messaging::postgres::publish_bulk(uow, messages);
      return;
    }
    std::vector<messaging::outgoing_message> fresh;
    for (std::size_t i = 0; i < messages.size(); ++i) {
      if (outcomes[i].status == commit_status::committed)
        fresh.push_back(messages[i]);
    }
    messaging::postgres::publish_bulk(uow, fresh);
  });
  return outcomes;
}

// ---- waiting coroutines ----

/// One queued request and the coroutine waiting for it. `timer` lives in that coroutine's frame and is
/// touched only on `executor` (the connection's strand); every other field is guarded by `mutex`.
struct group_committer::waiter {
  enum class phase { queued, taken, done, abandoned };

  commit_request request;
  asio::any_io_executor executor;
  asio::steady_timer* timer = nullptr;
  std::mutex mutex;
  phase state = phase::queued;
  commit_outcome outcome;
};

group_committer::group_committer(storage::connection_pool& pool, group_commit_options options,
                                 database_health& health, metrics::registry& registry, bkr::logger log)
    : pool_(pool),
      options_(options),
      health_(health),
      log_(std::move(log)),
      batch_sizes_(registry
                       .add_histogram("bkr_receive_request_group_commit_batch_size",
                                      "Requests written by one group commit transaction.", {},
                                      {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096})
                       .with({})),
      commit_seconds_(registry
                          .add_histogram("bkr_receive_request_group_commit_duration_seconds",
                                         "Time to write and commit one group commit transaction.", {},
                                         metrics::default_latency_buckets())
                          .with({})),
      pending_gauge_(registry
                         .add_gauge("bkr_receive_request_group_commit_pending",
                                    "Requests waiting for a group commit writer.")
                         .with({})),
      committed_(registry
                     .add_counter("bkr_receive_request_enqueued_total",
                                  "Messages committed by the accept and store-status paths.")
                     .with({})),
      replayed_(registry
                    .add_counter("bkr_receive_request_idempotent_replays_total",
                                 "Requests answered with the first answer to their Idempotency-Key.")
                    .with({})),
      failures_(registry.add_counter("bkr_receive_request_enqueue_failures_total",
                                     "Requests whose message was not committed, by reason.", {"reason"})),
      fail_queue_full_(failures_.with({"queue_full"})),
      fail_unavailable_(failures_.with({"database_unavailable"})),
      fail_timeout_(failures_.with({"timeout"})),
      fail_error_(failures_.with({"error"})) {
  if (options_.max_batch == 0 || options_.max_pending == 0 || options_.writers == 0)
    throw std::invalid_argument("group_committer: max_batch, max_pending and writers must be positive");
}

group_committer::~group_committer() {
  stop();
}

void group_committer::start() {
  std::lock_guard lock(mutex_);
  stopping_ = false;
  for (std::size_t i = 0; i < options_.writers; ++i)
    threads_.emplace_back([this] { run_writer(); });
}

void group_committer::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_.notify_all();
  for (auto& t : threads_)
    t.join();
  threads_.clear();
}

std::size_t group_committer::pending() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

asio::awaitable<commit_outcome> group_committer::submit(commit_request request) {
  if (!health_.reachable()) {
    fail_unavailable_.inc();
    co_return commit_outcome{commit_status::unavailable, {}};
  }
  auto w = std::make_shared<waiter>();
  w->request = std::move(request);
  w->executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(w->executor, options_.timeout);
  w->timer = &timer;
  if (!enqueue(w)) {
    fail_queue_full_.inc();
    co_return commit_outcome{commit_status::queue_full, {}};
  }
  // Woken by complete() (which cancels the timer on this executor), by the timeout, or by a forced stop
  // of the server (cancellation). The phase tells which.
  boost::system::error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  w->timer = nullptr;
  std::lock_guard lock(w->mutex);
  if (w->state == waiter::phase::done)
    co_return std::move(w->outcome);
  // Still queued: the writer will skip it, so nothing is written for a request answered 503.
  w->state = waiter::phase::abandoned;
  fail_timeout_.inc();
  co_return commit_outcome{commit_status::timed_out, {}};
}

bool group_committer::enqueue(const std::shared_ptr<waiter>& w) {
  {
    std::lock_guard lock(mutex_);
    // The API server stops before the committer, so nothing legitimate arrives after stop().
    if (stopping_ || queue_.size() >= options_.max_pending)
      return false;
    queue_.push_back(w);
    pending_gauge_.set(static_cast<double>(queue_.size()));
  }
  work_.notify_one();
  return true;
}

void group_committer::run_writer() {
  std::vector<std::shared_ptr<waiter>> batch;
  std::vector<messaging::outgoing_message> messages;
  std::vector<const idempotency_record*> keys;
  batch.reserve(options_.max_batch);
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      work_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      // On stop, what is queued is still written: those requests were promised an answer.
      if (queue_.empty())
        return;
      while (!queue_.empty() && batch.size() < options_.max_batch) {
        auto w = std::move(queue_.front());
        queue_.pop_front();
        std::lock_guard taken(w->mutex);
        if (w->state == waiter::phase::abandoned)
          continue;
        w->state = waiter::phase::taken;
        batch.push_back(std::move(w));
      }
      pending_gauge_.set(static_cast<double>(queue_.size()));
    }
    // A taken request is only read by this writer from now on (its coroutine waits for the outcome).
    for (const auto& w : batch) {
      messages.push_back(std::move(w->request.message));
      keys.push_back(w->request.idempotency ? &*w->request.idempotency : nullptr);
    }
    if (!batch.empty())
      flush(batch, messages, keys);
    batch.clear();
    messages.clear();
    keys.clear();
  }
}

void group_committer::flush(std::span<const std::shared_ptr<waiter>> batch,
                            std::span<const messaging::outgoing_message> messages,
                            std::span<const idempotency_record* const> keys) {
  std::vector<commit_outcome> outcomes;
  try {
    outcomes = write_and_commit(messages, keys);
  } catch (const storage::transaction_conflict& e) {
    // Keys are locked in one order, so a conflict is rare: one more try, then give up on this batch.
    log_.warn("group commit conflicted; retrying once", {{"error", e.what()}, {"batch", batch.size()}});
    try {
      outcomes = write_and_commit(messages, keys);
    } catch (const std::exception& again) {
      log_.warn("group commit failed", {{"error", again.what()}, {"batch", batch.size()}});
      outcomes.assign(batch.size(), commit_outcome{commit_status::unavailable, {}});
      fail_unavailable_.inc(batch.size());
    }
  } catch (const bkr::infrastructure_error& e) {
    // Postgres is unreachable or the commit outcome is unknown: 503, and fail fast until a ping succeeds.
    health_.report(false, e.what());
    log_.warn("group commit failed", {{"error", e.what()}, {"batch", batch.size()}});
    outcomes.assign(batch.size(), commit_outcome{commit_status::unavailable, {}});
    fail_unavailable_.inc(batch.size());
  } catch (const std::exception& e) {
    // Not the database's state but one request's content (a bug: validation should have stopped it).
    // Write the others one by one so that only the culprit fails.
    log_.error("group commit failed", {{"error", e.what()}, {"batch", batch.size()}});
    if (batch.size() > 1) {
      for (std::size_t i = 0; i < batch.size(); ++i)
        flush(batch.subspan(i, 1), messages.subspan(i, 1), keys.subspan(i, 1));
      return;
    }
    outcomes.assign(batch.size(), commit_outcome{commit_status::failed, {}});
    fail_error_.inc(batch.size());
  }
  for (std::size_t i = 0; i < batch.size(); ++i)
    complete(batch[i], std::move(outcomes[i]));
}

std::vector<commit_outcome> group_committer::write_and_commit(
    std::span<const messaging::outgoing_message> messages, std::span<const idempotency_record* const> keys) {
  const auto started = std::chrono::steady_clock::now();
  storage::unit_of_work uow(pool_);
  auto outcomes = write_batch(uow, messages, keys);
  uow.commit();

  health_.report(true);
  batch_sizes_.observe(static_cast<double>(messages.size()));
  commit_seconds_.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  for (const auto& o : outcomes) {
    if (o.status == commit_status::committed)
      committed_.inc();
    else if (o.status == commit_status::replayed)
      replayed_.inc();
  }
  return outcomes;
}

void group_committer::complete(const std::shared_ptr<waiter>& w, commit_outcome outcome) {
  {
    std::lock_guard lock(w->mutex);
    if (w->state == waiter::phase::abandoned)
      return;
    w->state = waiter::phase::done;
    w->outcome = std::move(outcome);
  }
  // The coroutine resumes on its own executor; the timer is only ever touched there.
  asio::post(w->executor, [w] {
    if (w->timer != nullptr)
      w->timer->cancel();
  });
}

}  // namespace bkr::receive_request
