// Choosing the hand-off model of the Postgres backend in one place: the job table (`jobs`) or the
// append-only log with committed cursors (`log`). Composition roots call these instead of naming a model's
// classes, and the few look-ups other components need (a message not consumed yet) live here, so that only
// libs/messaging reads or writes the mq schema.
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

enum class model { jobs, log };

/// "jobs" or "log"; nullopt for anything else.
std::optional<model> parse_model(std::string_view text);
std::string_view to_string(model m);

/// A publisher of model `m` bound to `uow` (nothing visible before it commits).
std::unique_ptr<messaging::publisher> make_publisher(model m, bkr::storage::unit_of_work& uow);

/// Publishes many messages without de-duplication inside `uow` as cheaply as the model allows (the intake's
/// group commit): COPY for the job table (NOTIFY in the transaction), the log's one-statement append (its
/// doorbell rung after uow commits). Returns the number written.
std::size_t publish_bulk(model m, bkr::storage::unit_of_work& uow,
                         std::span<const outgoing_message> messages);

/// A consumer of model `m`. `conninfo` is the log model's ownership session (unused by the job table).
std::unique_ptr<messaging::consumer> make_consumer(model m, bkr::storage::connection_pool& pool,
                                                   const std::string& conninfo, consumer_options options,
                                                   handler& h, notifier* wakeups = nullptr);

std::unique_ptr<messaging::admin> make_admin(model m, bkr::storage::connection_pool& pool);

/// The statistics of one queue, read through its indexes (for a worker's periodic gauges).
queue_stats stats_of(model m, bkr::storage::connection_pool& pool, std::string_view queue);

/// The payload text of message `message_id` on `queue` while it has not been consumed: waiting, delayed,
/// leased, or dead-lettered. `message_id` must be a UUID.
std::optional<std::string> pending_payload(model m, bkr::storage::unit_of_work& uow, std::string_view queue,
                                           std::string_view message_id);

/// Which of `keys` still have a message on `queue` that has not been consumed (waiting, delayed, leased, or
/// dead-lettered).
std::set<std::string> pending_keys(model m, bkr::storage::unit_of_work& uow, std::string_view queue,
                                   std::span<const std::string> keys);

}  // namespace bkr::messaging::postgres
