// Opening the database connection for bkrctl commands, with a clear message when it is not configured.
#pragma once

#include "commands.hpp"

#include "bkr/storage/migration.hpp"

#include <pqxx/pqxx>

#include <memory>
#include <vector>

namespace bkr::bkrctl {

/// A connection to BKR_DATABASE_URL, or nullptr after printing why not (unset, unreachable).
std::unique_ptr<pqxx::connection> connect(const context& ctx);

/// Every component's migrations, in the order they must be applied.
std::vector<storage::migration_set> all_migration_sets();

}  // namespace bkr::bkrctl
