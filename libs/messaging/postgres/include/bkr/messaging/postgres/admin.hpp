// Admin operations on the mq schema (stats, dead letters, purge, pause/resume).
#pragma once

#include "bkr/messaging/admin.hpp"
#include "bkr/storage/connection_pool.hpp"

namespace bkr::messaging::postgres {

/// Each call runs in its own short transaction on a pooled connection. Thread-safe; the pool must outlive it.
class admin final : public messaging::admin {
 public:
  explicit admin(bkr::storage::connection_pool& pool) : pool_(pool) {}

  std::vector<queue_stats> stats() override;
  std::vector<waiting_message> peek(std::string_view queue, std::size_t limit) override;
  /// The statistics of one queue, read through its indexes (stats() scans every queue's messages): cheap
  /// enough for a worker's periodic gauges even with a deep backlog.
  queue_stats stats_of(std::string_view queue);
  std::vector<dead_letter> list_dead_letters(std::optional<std::string> queue, std::size_t limit) override;
  result<dead_letter> show_dead_letter(std::string_view message_id) override;
  result<void> redrive(std::string_view message_id) override;
  std::size_t redrive_all(std::string_view queue) override;
  std::size_t purge_dead_letters(std::optional<std::string> queue) override;
  std::size_t purge_queue(std::string_view queue) override;
  void pause(std::string_view queue) override;
  void resume(std::string_view queue) override;

 private:
  bkr::storage::connection_pool& pool_;
};

}  // namespace bkr::messaging::postgres
