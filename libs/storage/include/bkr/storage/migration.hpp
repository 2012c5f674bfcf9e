// Ordered SQL migrations, embedded in the binaries at build time (cmake/bkr_embed.cmake).
#pragma once

#include <pqxx/pqxx>

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bkr::storage {

/// One migration: applied once, in version order, inside its own transaction.
struct migration {
  int version;
  std::string_view name;
  std::string_view sql;
};

/// The migrations of one component (e.g. "storage" for the domain tables, "mq" for the queue schema).
/// Versions are recorded per component, so components evolve independently.
struct migration_set {
  std::string_view component;
  const std::vector<migration>* migrations;
};

/// The domain tables' migrations (libs/storage/migrations/*.sql).
migration_set storage_migrations();

/// Applies, in order, every migration of `sets` not yet recorded in `public.bkr_schema_migrations`, each in
/// its own transaction, while holding a session advisory lock so concurrent callers (several services
/// starting at once) apply each migration exactly once. Fails (throws std::runtime_error naming the
/// migration) when a recorded migration's text changed since it was applied. Returns the names applied.
/// Names are `<component>/<file name>`, e.g. `storage/0001_domain_tables.sql`. Checksums of every recorded
/// migration are verified before anything is applied; versions recorded in the database but unknown to
/// `sets` (a newer binary ran first) are left alone. `conn` must not be inside a transaction.
std::vector<std::string> migrate(pqxx::connection& conn, std::span<const migration_set> sets);

/// The checksum recorded for a migration's SQL text: FNV-1a 64 of its bytes, 16 lowercase hex digits.
std::string migration_checksum(std::string_view sql);

}  // namespace bkr::storage
