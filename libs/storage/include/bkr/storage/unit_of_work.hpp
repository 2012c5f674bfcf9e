// One database transaction on one pooled connection: repositories and the message publisher write into it.
#pragma once

#include "bkr/storage/connection_pool.hpp"

#include <pqxx/pqxx>

#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace bkr::storage {

/// Owns a pooled connection and a transaction for its lifetime; rolls back unless commit() was called.
/// Used by one thread. Repositories and publishers take it by reference and never commit it themselves.
class unit_of_work {
 public:
  explicit unit_of_work(connection_pool& pool);
  ~unit_of_work();
  unit_of_work(const unit_of_work&) = delete;
  unit_of_work& operator=(const unit_of_work&) = delete;

  /// The open transaction. Throws std::logic_error once the unit committed.
  pqxx::work& tx() {
    if (!tx_)
      throw std::logic_error("unit_of_work: the transaction has already committed");
    return *tx_;
  }
  /// The leased connection. After commit() (e.g. in an after-commit hook) it has no open transaction and
  /// can run statements of its own until the unit is destroyed.
  pqxx::connection& connection() { return lease_.conn(); }
  /// Prepares a statement on this connection once; then `tx().exec_prepared(name, ...)`. Returns a reference
  /// to `name` itself, so pass a name that outlives its use (e.g. a static std::string), never a temporary.
  const std::string& prepare(const std::string& name, std::string_view sql) {
    return lease_.prepare(name, sql);
  }

  /// Runs `fn` after a successful commit (e.g. wake local consumers), in order. Not run on rollback.
  void after_commit(std::function<void()> fn) { after_commit_.push_back(std::move(fn)); }

  /// Commits; throws database_unavailable (retryable) on connection loss, pqxx errors otherwise.
  void commit();
  bool committed() const { return committed_; }

 private:
  connection_pool::lease lease_;
  std::unique_ptr<pqxx::work> tx_;
  std::vector<std::function<void()>> after_commit_;
  bool committed_ = false;
};

}  // namespace bkr::storage
