// The bounded connection pool: lazy opening, liveness check on hand-out, replacement of broken connections.
#include "bkr/storage/connection_pool.hpp"

#include <poll.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace bkr::storage {

namespace {

// libpqxx 6 turns the SQLSTATEs it knows into exception types (and then leaves sqlstate() empty); the
// codes below are the ones it passes through as a plain sql_error.
bool is_connection_sqlstate(const std::string& state) {
  return state.starts_with("08") || state == "57P01" || state == "57P02" || state == "57P03" ||
         state == "53300";
}

bool is_conflict_sqlstate(const std::string& state) {
  return state == "40001" || state == "40P01";
}

// An idle pooled connection never expects input: nothing is listening and no query is in flight. Input or a
// hang-up on its socket means the server closed it (terminated backend, restart) or sent something that
// makes the session's state unknown, so it is cheaper to open a new one than to find out.
bool looks_alive(pqxx::connection& conn) noexcept {
  if (!conn.is_open())
    return false;
  const int fd = conn.sock();
  if (fd < 0)
    return false;
  pollfd probe{fd, POLLIN, 0};
  const int ready = ::poll(&probe, 1, 0);
  return ready == 0;
}

}  // namespace

bool is_connection_failure(const std::exception& e) noexcept {
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr)
    return true;
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e))
    return is_connection_sqlstate(sql->sqlstate());
  return false;
}

namespace detail {

void rethrow_database_error() {
  try {
    throw;
  } catch (const bkr::infrastructure_error&) {
    throw;
  } catch (const pqxx::in_doubt_error& e) {
    // The connection died while COMMIT was in flight: the outcome is unknown, and only a retry that is
    // idempotent (as every stage is) can settle it.
    throw database_unavailable(std::string("commit outcome unknown, connection lost: ") + e.what());
  } catch (const pqxx::statement_completion_unknown& e) {
    throw database_unavailable(std::string("statement outcome unknown: ") + e.what());
  } catch (const pqxx::serialization_failure& e) {
    throw transaction_conflict(e.what());
  } catch (const pqxx::deadlock_detected& e) {
    throw transaction_conflict(e.what());
  } catch (const pqxx::sql_error& e) {
    if (is_connection_sqlstate(e.sqlstate()))
      throw database_unavailable(e.what());
    if (is_conflict_sqlstate(e.sqlstate()))
      throw transaction_conflict(e.what());
    throw;
  } catch (const pqxx::broken_connection& e) {
    throw database_unavailable(e.what());
  }
}

}  // namespace detail

connection_pool::connection_pool(pool_options options) : options_(std::move(options)) {
  if (options_.size == 0)
    throw std::invalid_argument("connection_pool: size must be at least 1");
  if (options_.idle_in_transaction_timeout.count() < 0)
    throw std::invalid_argument("connection_pool: idle_in_transaction_timeout must not be negative");
}

connection_pool::~connection_pool() = default;

std::unique_ptr<pooled_connection> connection_pool::open() const {
  auto slot = std::make_unique<pooled_connection>();
  try {
    slot->conn = std::make_unique<pqxx::connection>(options_.conninfo);
    pqxx::nontransaction tx(*slot->conn);
    if (options_.idle_in_transaction_timeout.count() > 0)
      tx.exec_params("SELECT set_config('idle_in_transaction_session_timeout', $1, false)",
                     std::to_string(options_.idle_in_transaction_timeout.count()));
    if (!options_.application_name.empty())
      tx.exec_params("SELECT set_config('application_name', $1, false)", options_.application_name);
  } catch (const pqxx::broken_connection& e) {
    // libpq's message names host and port, never the password.
    throw database_unavailable(std::string("cannot connect to the database: ") + e.what());
  } catch (const pqxx::sql_error& e) {
    if (is_connection_sqlstate(e.sqlstate())) {
      throw database_unavailable(std::string("cannot connect to the database: ") + e.what());
    }
    throw;
  }
  return slot;
}

connection_pool::lease connection_pool::acquire() {
  const auto deadline = std::chrono::steady_clock::now() + options_.acquire_timeout;
  std::unique_ptr<pooled_connection> slot;
  {
    std::unique_lock lock(mutex_);
    const bool ready =
        available_.wait_until(lock, deadline, [this] { return !idle_.empty() || open_ < options_.size; });
    if (!ready) {
      throw database_unavailable("no database connection became free within " +
                                 std::to_string(options_.acquire_timeout.count()) + " ms (pool size " +
                                 std::to_string(options_.size) + ")");
    }
    if (!idle_.empty()) {
      // Most recently used first: it is the one most likely to be alive and warm.
      slot = std::move(idle_.back());
      idle_.pop_back();
    } else {
      ++open_;
    }
  }
  // From here on the slot counts in open_; the lease gives it back (or frees its place) on every path.
  lease handed_out(this, std::move(slot));
  if (!handed_out.slot_) {
    handed_out.slot_ = std::make_unique<pooled_connection>();
    handed_out.reopen();
  } else if (!looks_alive(*handed_out.slot_->conn)) {
    handed_out.reopen();
  }
  return handed_out;
}

void connection_pool::release(std::unique_ptr<pooled_connection> slot, bool discard) noexcept {
  const bool keep = !discard && slot && slot->conn && slot->conn->is_open();
  {
    std::lock_guard lock(mutex_);
    if (keep) {
      idle_.push_back(std::move(slot));
    } else {
      --open_;
    }
  }
  available_.notify_one();
  // A discarded connection (if any) closes here, outside the lock: closing talks to the server.
}

connection_pool::lease::lease(lease&& other) noexcept
    : pool_(other.pool_), slot_(std::move(other.slot_)), discard_(other.discard_) {
  other.pool_ = nullptr;
}

connection_pool::lease::~lease() {
  if (pool_ != nullptr)
    pool_->release(std::move(slot_), discard_);
}

const std::string& connection_pool::lease::prepare(const std::string& name, std::string_view sql) {
  if (!slot_->prepared.contains(name)) {
    slot_->conn->prepare(name, std::string(sql));
    slot_->prepared.insert(name);
  }
  return name;
}

void connection_pool::lease::reopen() {
  // If opening fails the old connection must not go back to the pool: it is the one that broke.
  discard_ = true;
  auto fresh = pool_->open();
  slot_->conn = std::move(fresh->conn);
  slot_->prepared.clear();
  discard_ = false;
}

}  // namespace bkr::storage
