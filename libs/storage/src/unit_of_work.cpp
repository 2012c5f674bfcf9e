// A transaction on a leased connection: begin (replacing a dead connection once), commit, hooks, rollback.
#include "bkr/storage/unit_of_work.hpp"

#include <exception>

namespace bkr::storage {

unit_of_work::unit_of_work(connection_pool& pool) : lease_(pool.acquire()) {
  try {
    tx_ = std::make_unique<pqxx::work>(lease_.conn());
  } catch (const std::exception& e) {
    if (!is_connection_failure(e))
      detail::rethrow_database_error();
    // Nothing was sent but BEGIN, so a connection that died while idle is replaced once without risk.
    lease_.reopen();
    with_database_errors([this] { tx_ = std::make_unique<pqxx::work>(lease_.conn()); });
  }
}

unit_of_work::~unit_of_work() {
  // Rolls back (pqxx::work's destructor aborts) before the lease hands the connection back.
  tx_.reset();
}

void unit_of_work::commit() {
  with_database_errors([this] { tx_->commit(); });
  committed_ = true;
  tx_.reset();  // frees the connection for statements of the hooks
  auto hooks = std::move(after_commit_);
  after_commit_.clear();
  for (auto& hook : hooks) {
    // The transaction is committed; a failing hook must not make the caller believe otherwise.
    try {
      hook();
    } catch (...) {
    }
  }
}

}  // namespace bkr::storage
