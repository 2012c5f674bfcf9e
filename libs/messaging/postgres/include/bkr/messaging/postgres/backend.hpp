// The Postgres backend's entry points for composition roots (publisher, bulk publish, consumer, admin) and
// the few look-ups other components need (a message not consumed yet), so that only libs/messaging reads
// or writes the mq schema.
#pragma once

#include "bkr/messaging/admin.hpp"
#include "bkr/messaging/consumer.hpp"
#include "bkr/messaging/postgres/notifier.hpp"
#include "bkr/storage/connection_pool.hpp"
#include "bkr/storage/unit_of_work.hpp"

#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>

namespace bkr::messaging::postgres {

/// A publisher bound to `uow` (nothing visible before it commits; the doorbells ring after it).
std::unique_ptr<messaging::publisher> make_publisher(bkr::storage::unit_of_work& uow);

/// Publishes many messages inside `uow` in one statement (the intake's group commit); the doorbells ring
/// after uow commits. Returns the number written.
std::size_t publish_bulk(bkr::storage::unit_of_work& uow, std::span<const outgoing_message> messages);

/// A consumer of `options.queue`; `conninfo` opens its partition-ownership session.
std::unique_ptr<messaging::consumer> make_consumer(bkr::storage::connection_pool& pool,
                                                   const std::string& conninfo, consumer_options options,
                                                   handler& h, notifier* wakeups = nullptr);

std::unique_ptr<messaging::admin> make_admin(bkr::storage::connection_pool& pool);

/// The statistics of one queue, read through its indexes (for a worker's periodic gauges).
queue_stats stats_of(bkr::storage::connection_pool& pool, std::string_view queue);

/// The payload text of message `message_id` on `queue` while it has not been consumed: after its partition's
/// cursor (also in a batch's hand), in the delay lane, or dead-lettered. `message_id` must be a UUID.
std::optional<std::string> pending_payload(bkr::storage::unit_of_work& uow, std::string_view queue,
                                           std::string_view message_id);

/// Which of `keys` still have a message on `queue` that has not been consumed (after its partition's cursor,
/// in the delay lane, or dead-lettered).
std::set<std::string> pending_keys(bkr::storage::unit_of_work& uow, std::string_view queue,
                                   std::span<const std::string> keys);

}  // namespace bkr::messaging::postgres
