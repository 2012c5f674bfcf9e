// The mq schema's migrations (libs/messaging/postgres/migrations/*.sql), applied by bkr::storage::migrate.
#pragma once

#include "bkr/storage/migration.hpp"

namespace bkr::messaging::postgres {

/// Component "mq"; apply after bkr::storage::storage_migrations().
bkr::storage::migration_set mq_migrations();

}  // namespace bkr::messaging::postgres
