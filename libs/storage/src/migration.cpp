// Applying migrations: one advisory-locked session, checksum verification, one transaction per migration.
#include "bkr/storage/migration.hpp"

#include "bkr/storage/connection_pool.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <utility>

namespace bkr::storage {

namespace embedded {
// Generated from libs/storage/migrations/*.sql by cmake/bkr_embed.cmake.
const std::vector<migration>& migrations();
}  // namespace embedded

migration_set storage_migrations() {
  return {"storage", &embedded::migrations()};
}

std::string migration_checksum(std::string_view sql) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (const char c : sql) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
  static constexpr char digits[] = "0123456789abcdef";
  std::string text(16, '0');
  for (int i = 15; i >= 0; --i) {
    text[static_cast<std::size_t>(i)] = digits[hash & 0xfU];
    hash >>= 4;
  }
  return text;
}

namespace {

// One key for every bkr component: migrations of all components are applied by one session at a time.
// Advisory lock keys are per database, so unrelated databases on the same server do not wait for each other.
constexpr long long migration_lock_key = 0x626b725f6d696772LL;  // "bkr_migr"

struct recorded {
  std::string name;
  std::string checksum;
};

std::string qualified(std::string_view component, std::string_view name) {
  return std::string(component) + "/" + std::string(name);
}

/// Holds the session advisory lock; releases it even when a migration fails.
class migration_lock {
 public:
  explicit migration_lock(pqxx::connection& conn) : conn_(conn) {
    with_database_errors([&] {
      pqxx::nontransaction tx(conn_);
      tx.exec_params("SELECT pg_advisory_lock($1)", migration_lock_key);
    });
  }
  ~migration_lock() {
    try {
      pqxx::nontransaction tx(conn_);
      tx.exec_params("SELECT pg_advisory_unlock($1)", migration_lock_key);
    } catch (...) {
      // A broken connection has already released the lock on the server side.
    }
  }
  migration_lock(const migration_lock&) = delete;
  migration_lock& operator=(const migration_lock&) = delete;

 private:
  pqxx::connection& conn_;
};

void ensure_history_table(pqxx::connection& conn) {
  pqxx::nontransaction tx(conn);
  // Checked first rather than CREATE ... IF NOT EXISTS, whose notice would be printed on every start.
  const auto found = tx.exec("SELECT to_regclass('public.bkr_schema_migrations') IS NOT NULL");
  if (found[0][0].as<bool>())
    return;
  tx.exec(
      "CREATE TABLE public.bkr_schema_migrations ("
      "  component text NOT NULL,"
      "  version integer NOT NULL CHECK (version > 0),"
      "  name text NOT NULL,"
      "  checksum text NOT NULL,"
      "  applied_at timestamptz(3) NOT NULL DEFAULT now(),"
      "  PRIMARY KEY (component, version))");
}

std::map<int, recorded> recorded_migrations(pqxx::connection& conn, std::string_view component) {
  pqxx::nontransaction tx(conn);
  const auto rows =
      tx.exec_params("SELECT version, name, checksum FROM public.bkr_schema_migrations WHERE component = $1",
                     std::string(component));
  std::map<int, recorded> out;
  for (const auto& row : rows) {
    out.emplace(row[0].as<int>(), recorded{row[1].as<std::string>(), row[2].as<std::string>()});
  }
  return out;
}

std::vector<const migration*> in_version_order(const migration_set& set) {
  if (set.migrations == nullptr)
    return {};
  std::vector<const migration*> ordered;
  for (const auto& m : *set.migrations)
    ordered.push_back(&m);
  std::sort(ordered.begin(), ordered.end(),
            [](const migration* a, const migration* b) { return a->version < b->version; });
  for (std::size_t i = 0; i < ordered.size(); ++i) {
    if (ordered[i]->version <= 0) {
      throw std::runtime_error("migration " + qualified(set.component, ordered[i]->name) + " has version " +
                               std::to_string(ordered[i]->version) + "; versions start at 1");
    }
    if (i > 0 && ordered[i]->version == ordered[i - 1]->version) {
      throw std::runtime_error("migrations " + qualified(set.component, ordered[i - 1]->name) + " and " +
                               qualified(set.component, ordered[i]->name) + " share version " +
                               std::to_string(ordered[i]->version));
    }
  }
  return ordered;
}

void apply(pqxx::connection& conn, std::string_view component, const migration& m) {
  const std::string name = qualified(component, m.name);
  try {
    pqxx::work tx(conn);
    tx.exec(std::string(m.sql));
    tx.exec_params(
        "INSERT INTO public.bkr_schema_migrations (component, version, name, checksum) VALUES ($1, $2, $3, "
        "$4)",
        std::string(component), m.version, std::string(m.name), migration_checksum(m.sql));
    tx.commit();
  } catch (const std::exception& e) {
    if (is_connection_failure(e) || dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) {
      throw database_unavailable("migration " + name + " interrupted: " + e.what());
    }
    throw std::runtime_error("migration " + name + " failed: " + e.what());
  }
}

}  // namespace

std::vector<std::string> migrate(pqxx::connection& conn, std::span<const migration_set> sets) {
  std::vector<std::vector<const migration*>> ordered;
  for (const auto& set : sets)
    ordered.push_back(in_version_order(set));

  migration_lock lock(conn);
  with_database_errors([&] { ensure_history_table(conn); });

  // Verify everything first: a drifted migration stops the start before any new one is applied.
  std::vector<std::vector<const migration*>> pending(sets.size());
  for (std::size_t s = 0; s < sets.size(); ++s) {
    const auto done = with_database_errors([&] { return recorded_migrations(conn, sets[s].component); });
    for (const migration* m : ordered[s]) {
      const auto it = done.find(m->version);
      if (it == done.end()) {
        pending[s].push_back(m);
        continue;
      }
      const std::string now = migration_checksum(m->sql);
      if (it->second.checksum != now) {
        throw std::runtime_error("migration " + qualified(sets[s].component, m->name) +
                                 " was changed after it was applied (recorded as " + it->second.name +
                                 " with checksum " + it->second.checksum + ", now " + now +
                                 "); add a new migration instead of editing an applied one");
      }
    }
  }

  std::vector<std::string> applied;
  for (std::size_t s = 0; s < sets.size(); ++s) {
    for (const migration* m : pending[s]) {
      apply(conn, sets[s].component, *m);
      applied.push_back(qualified(sets[s].component, m->name));
    }
  }
  return applied;
}

}  // namespace bkr::storage
