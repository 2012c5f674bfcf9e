// The periodic Postgres ping behind /readyz and the accept path's fail-fast.
#include "bkr/receive_request/database_health.hpp"

#include <pqxx/pqxx>

#include <memory>

namespace bkr::receive_request {

struct database_health::connection_holder {
  std::unique_ptr<pqxx::connection> conn;
};

database_health::database_health(std::string conninfo, std::chrono::milliseconds interval,
                                 const bkr::clock& clock, metrics::registry& registry, bkr::logger log)
    : conninfo_(std::move(conninfo)),
      interval_(interval),
      clock_(clock),
      log_(std::move(log)),
      up_gauge_(registry
                    .add_gauge("bkr_receive_request_database_up",
                               "1 while Postgres answers the health ping and commits succeed, else 0.")
                    .with({})),
      connection_(std::make_unique<connection_holder>()) {}

database_health::~database_health() {
  stop();
}

void database_health::start() {
  ping();
  thread_ = std::thread([this] { run(); });
}

void database_health::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable())
    thread_.join();
}

void database_health::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    const auto wait = reachable() ? interval_ : std::max(interval_ / 4, std::chrono::milliseconds{50});
    wake_.wait_for(lock, wait, [this] { return stopping_; });
    if (stopping_)
      break;
    lock.unlock();
    ping();
    lock.lock();
  }
}

void database_health::ping() {
  try {
    if (!connection_->conn || !connection_->conn->is_open())
      connection_->conn = std::make_unique<pqxx::connection>(conninfo_);
    pqxx::nontransaction tx(*connection_->conn);
    tx.exec("SELECT 1");
    set(true, {});
  } catch (const std::exception& e) {
    // The connection may be half dead (server restarted): open a new one next time.
    connection_->conn.reset();
    set(false, e.what());
  }
}

void database_health::report(bool ok, std::string_view error) {
  // A success proves the database is back; a failure makes requests fail fast until a ping succeeds.
  set(ok, error);
}

void database_health::set(bool ok, std::string_view error) {
  const bool was = reachable_.exchange(ok, std::memory_order_relaxed);
  up_gauge_.set(ok ? 1.0 : 0.0);
  {
    std::lock_guard lock(mutex_);
    if (ok) {
      last_ok_ = clock_.now();
    } else {
      last_failure_ = clock_.now();
      // libpq's messages name host and port, never the password.
      last_error_ = std::string(error);
    }
  }
  if (was != ok) {
    if (ok)
      log_.info("postgres reachable");
    else
      log_.warn("postgres unreachable", {{"error", std::string(error)}});
  }
}

nlohmann::json database_health::to_json() const {
  std::lock_guard lock(mutex_);
  auto stamp = [](const std::optional<timestamp>& t) {
    return t ? nlohmann::json(format_timestamp(*t)) : nlohmann::json(nullptr);
  };
  return {{"reachable", reachable()},
          {"lastOkAt", stamp(last_ok_)},
          {"lastFailureAt", stamp(last_failure_)},
          {"lastError", last_error_}};
}

}  // namespace bkr::receive_request
