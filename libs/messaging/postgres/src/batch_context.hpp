// The handler's view of a batch's transaction, shared by the Postgres consumers (internal header).
#pragma once

#include "bkr/messaging/handler.hpp"
#include "bkr/storage/unit_of_work.hpp"

#include <atomic>
#include <functional>
#include <typeinfo>
#include <vector>

namespace bkr::messaging::postgres::detail {

/// The handler's view of the settlement transaction. Publishes are buffered and written for the whole
/// batch at its end; touching the transaction opens a savepoint so a failed message's writes can be undone
/// without losing the rest of the batch.
class batch_context final : public handler_context {
 public:
  /// Without `savepoints` (a whole batch handled at once) the handler's writes are undone only with the
  /// whole transaction.
  batch_context(bkr::storage::unit_of_work& uow, const std::atomic<bool>& deadline, bool savepoints = true)
      : uow_(uow), deadline_(deadline), savepoints_(savepoints) {}

  void publish(outgoing_message message) override { publishes.push_back(std::move(message)); }
  void publish_many(std::vector<outgoing_message> messages) override {
    for (auto& m : messages)
      publishes.push_back(std::move(m));
  }
  void after_commit(std::function<void()> fn) override { hooks.push_back(std::move(fn)); }
  bool stop_requested() const override { return deadline_.load(); }

  /// Keeps the handler's writes (releases the savepoint). Throws when the transaction was left failed.
  void keep() {
    if (!savepoint_)
      return;
    uow_.tx().exec0("RELEASE SAVEPOINT bkr_mq_message");
    savepoint_ = false;
  }
  /// Undoes the handler's writes and publishes. Throws when the transaction was left failed.
  void discard() {
    publishes.clear();
    hooks.clear();
    if (!savepoint_)
      return;
    uow_.tx().exec0("ROLLBACK TO SAVEPOINT bkr_mq_message");
    uow_.tx().exec0("RELEASE SAVEPOINT bkr_mq_message");
    savepoint_ = false;
  }

  std::vector<outgoing_message> publishes;
  std::vector<std::function<void()>> hooks;

 protected:
  void* native(const std::type_info& type) override {
    if (type == typeid(bkr::storage::unit_of_work)) {
      begin();
      return &uow_;
    }
    if (type == typeid(pqxx::work) || type == typeid(pqxx::transaction_base)) {
      begin();
      return &uow_.tx();
    }
    return nullptr;
  }

 private:
  void begin() {
    if (savepoint_ || !savepoints_)
      return;
    uow_.tx().exec0("SAVEPOINT bkr_mq_message");
    savepoint_ = true;
  }

  bkr::storage::unit_of_work& uow_;
  const std::atomic<bool>& deadline_;
  const bool savepoints_;
  bool savepoint_ = false;
};

}  // namespace bkr::messaging::postgres::detail
