// `bkrctl migrate`: applies the embedded migrations of every component, in order.
#include "commands.hpp"
#include "database.hpp"

#include "bkr/storage/migration.hpp"

#include "bkr/messaging/postgres/migrations.hpp"

#include <ostream>

namespace bkr::bkrctl {

std::vector<storage::migration_set> all_migration_sets() {
  std::vector<storage::migration_set> sets{storage::storage_migrations()};
  sets.push_back(messaging::postgres::mq_migrations());
  return sets;
}

int migrate(const context& ctx, std::span<const std::string> args) {
  if (!args.empty()) {
    ctx.err << "bkrctl migrate: takes no arguments (set BKR_DATABASE_URL)\n";
    return 2;
  }
  auto conn = connect(ctx);
  if (!conn)
    return 1;
  const auto sets = all_migration_sets();
  const auto applied = storage::migrate(*conn, sets);
  if (applied.empty()) {
    ctx.out << "migrate: database is up to date\n";
  } else {
    for (const auto& name : applied)
      ctx.out << "migrate: applied " << name << "\n";
  }
  return 0;
}

}  // namespace bkr::bkrctl
