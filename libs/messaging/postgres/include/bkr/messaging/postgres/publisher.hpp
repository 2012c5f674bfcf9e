// Transactional publish into the mq schema: messages are rows written by the caller's transaction.
#pragma once

#include "bkr/messaging/handler.hpp"
#include "bkr/storage/unit_of_work.hpp"

#include <pqxx/pqxx>

#include <span>
#include <string>
#include <vector>

namespace bkr::messaging::postgres {

/// The NOTIFY channel; the payload is the queue name.
inline constexpr const char* notify_channel = "bkr_mq";

/// Inserts `messages` in one statement inside `tx` and queues a NOTIFY per distinct queue (delivered by
/// Postgres only if `tx` commits). Duplicates of a (queue, dedup_key) already seen, or of a message id,
/// are skipped. Returns the number of messages inserted. Throws pqxx errors.
std::size_t insert_messages(pqxx::transaction_base& tx, std::span<const outgoing_message> messages);
/// Same, as a statement prepared once per pooled connection (saves planning the statement on every call).
std::size_t insert_messages(bkr::storage::unit_of_work& uow, std::span<const outgoing_message> messages);

/// Bulk load through COPY for large batches without de-duplication keys (bench, backfills); NOTIFYs once
/// per queue. Throws std::invalid_argument when a message has a dedup_key.
std::size_t copy_messages(pqxx::transaction_base& tx, std::span<const outgoing_message> messages);

/// A publisher bound to one unit of work: nothing is visible before uow.commit(), nothing survives a
/// rollback. Used by the thread that owns the unit of work; must not outlive it.
class publisher final : public messaging::publisher {
 public:
  explicit publisher(bkr::storage::unit_of_work& uow) : uow_(uow) {}
  void publish(outgoing_message message) override;
  void publish_many(std::vector<outgoing_message> messages) override;
  /// Messages actually inserted by this publisher (duplicates excluded).
  std::size_t inserted() const { return inserted_; }

 private:
  bkr::storage::unit_of_work& uow_;
  std::size_t inserted_ = 0;
};

}  // namespace bkr::messaging::postgres
