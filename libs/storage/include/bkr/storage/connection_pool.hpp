// A bounded pool of libpqxx connections shared by the threads of one process.
#pragma once

#include "bkr/common/error.hpp"

#include <pqxx/pqxx>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

namespace bkr::storage {

/// Raised when the database cannot be reached or no connection became free in time. Retryable.
class database_unavailable : public bkr::infrastructure_error {
 public:
  explicit database_unavailable(const std::string& what) : infrastructure_error(what, true) {}
};

/// Raised when the server aborted a transaction because of a concurrent one (deadlock, serialization
/// failure). Retryable: running the whole unit of work again may succeed.
class transaction_conflict : public bkr::infrastructure_error {
 public:
  explicit transaction_conflict(const std::string& what) : infrastructure_error(what, true) {}
};

/// True when `e` means the connection is lost or the server refuses work for now: pqxx::broken_connection,
/// SQLSTATE class 08, 57P01..57P03 (shutdown, crash, starting up) or 53300 (too many connections).
bool is_connection_failure(const std::exception& e) noexcept;

/// Runs `fn()` and re-raises connection failures (is_connection_failure, pqxx::in_doubt_error,
/// pqxx::statement_completion_unknown) as database_unavailable and deadlocks or serialization failures
/// (pqxx::deadlock_detected, pqxx::serialization_failure) as transaction_conflict; every other exception
/// passes through unchanged.
template <class Fn>
decltype(auto) with_database_errors(Fn&& fn);

struct pool_options {
  std::string conninfo;  ///< libpq connection string or URI; never logged
  std::size_t size = 4;  ///< connections at most
  std::chrono::milliseconds acquire_timeout{5000};
  /// Every session the pool opens has the server end a transaction left idle this long
  /// (`idle_in_transaction_session_timeout`; 0: the server's setting). A stopped or hung process must not
  /// keep a transaction open: one that wrote holds the message log's safe watermark back for every queue.
  std::chrono::milliseconds idle_in_transaction_timeout{5000};
  /// The sessions' `application_name` (what `pg_stat_activity` shows), e.g. the executable's name; empty:
  /// the connection string's (or none).
  std::string application_name;
};

/// A pooled connection together with the names of the statements already prepared on it.
struct pooled_connection {
  std::unique_ptr<pqxx::connection> conn;
  std::unordered_set<std::string> prepared;
};

/// Hands out at most `size` connections, opened lazily and reopened after they break. Thread-safe; must
/// outlive every lease. A lease is used by one thread at a time. An idle connection with unread input is
/// taken for dead and replaced when handed out, so never LISTEN on a pooled connection (use a dedicated one).
class connection_pool {
 public:
  explicit connection_pool(pool_options options);
  ~connection_pool();
  connection_pool(const connection_pool&) = delete;
  connection_pool& operator=(const connection_pool&) = delete;

  /// Exclusive use of one connection until destroyed. Movable.
  class lease {
   public:
    lease(lease&& other) noexcept;
    lease& operator=(lease&&) = delete;
    ~lease();
    pqxx::connection& conn() { return *slot_->conn; }
    /// Prepares `sql` under `name` on this connection unless already done; returns `name` (a reference to
    /// the argument: keep it alive while using the result).
    const std::string& prepare(const std::string& name, std::string_view sql);
    /// Drops the connection instead of returning it (after a broken_connection).
    void discard() noexcept { discard_ = true; }
    /// Replaces the connection by a newly opened one (after a broken_connection); statements prepared on
    /// the old one are forgotten. Throws database_unavailable.
    void reopen();

   private:
    friend class connection_pool;
    lease(connection_pool* pool, std::unique_ptr<pooled_connection> slot)
        : pool_(pool), slot_(std::move(slot)) {}
    connection_pool* pool_;
    std::unique_ptr<pooled_connection> slot_;
    bool discard_ = false;
  };

  /// Waits up to `acquire_timeout` for a connection; opens one if needed. Throws database_unavailable.
  lease acquire();

  std::size_t size() const { return options_.size; }

 private:
  void release(std::unique_ptr<pooled_connection> slot, bool discard) noexcept;
  std::unique_ptr<pooled_connection> open() const;

  pool_options options_;
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<pooled_connection>> idle_;
  std::size_t open_ = 0;  // connections handed out or idle
};

namespace detail {
[[noreturn]] void rethrow_database_error();
}

template <class Fn>
decltype(auto) with_database_errors(Fn&& fn) {
  try {
    return std::forward<Fn>(fn)();
  } catch (...) {
    detail::rethrow_database_error();
  }
}

}  // namespace bkr::storage
