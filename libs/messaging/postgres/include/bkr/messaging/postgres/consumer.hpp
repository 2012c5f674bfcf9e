// A consumer of one mq queue: batched claim, settlement in one transaction per batch, fenced writes.
#pragma once

#include "bkr/messaging/consumer.hpp"
#include "bkr/messaging/postgres/notifier.hpp"
#include "bkr/storage/connection_pool.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace bkr::messaging::postgres {

/// Postgres-specific settings on top of consumer_options.
struct pg_consumer_options {
  /// De-duplication keys older than this are forgotten (the window in which a repeat is a no-op).
  std::chrono::hours dedup_retention{24 * 7};
  /// How often this consumer prunes de-duplication keys and folds counters of finished consumers.
  std::chrono::milliseconds maintenance_interval{60000};
};

/// Claims batches from `options.queue` and settles each batch in one transaction on a pooled connection:
/// every handler of the batch runs inside it (a savepoint per message when the handler writes), so the
/// handler's writes, its publishes and the retirement of the message commit together. Needs one pooled
/// connection at a time. The pool, handler and notifier must outlive it. Ownership and threading as
/// messaging::consumer.
class consumer final : public consumer_loop {
 public:
  consumer(bkr::storage::connection_pool& pool, consumer_options options, handler& h,
           notifier* wakeups = nullptr, pg_consumer_options pg = {});
  ~consumer() override;

 protected:
  batch_report run_batch() override;
  void reap() override;
  /// Hands back a prefetched batch that will not run now (attempt refunded).
  void on_exit() override;

 private:
  /// A leased message as the claim returned it.
  struct claimed {
    delivery d;
    long long fence = 0;
    long long run_at_ms = 0;
    /// Why the payload could not be parsed (empty: it could). Such a message is dead-lettered without
    /// running the handler; it must not fail the batch it was claimed with.
    std::string unreadable;
  };
  std::vector<claimed> read_claim(const pqxx::result& r) const;

  bkr::storage::connection_pool& pool_;
  notifier* notifier_;
  pg_consumer_options pg_;
  std::chrono::steady_clock::time_point next_maintenance_{};
  /// The next batch, claimed in the last settlement transaction while work was flowing. Loop thread only.
  std::vector<claimed> prefetched_;
};

}  // namespace bkr::messaging::postgres
