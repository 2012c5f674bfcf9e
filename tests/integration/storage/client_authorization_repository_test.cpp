// client_authorization_repository: scopes per client.
#include "bkr/storage/client_authorization_repository.hpp"

#include "bkr/domain/types.hpp"

#include "pg_test_database.hpp"
#include "storage_samples.hpp"

#include <catch2/catch.hpp>

using bkr::storage::connection_pool;
using bkr::storage::unit_of_work;

TEST_CASE("scopes of a client are stored, replaced and told apart from an unknown client") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo()));
  bkr::storage::client_authorization_repository clients;
  const std::set<std::string> both{std::string(bkr::domain::scope_post_backup_request),
                                   std::string(bkr::domain::scope_get_backup_request)};
  {
    unit_of_work uow(pool);
    CHECK_FALSE(clients.find_scopes(uow, "scheduler").has_value());
    clients.upsert(uow, "scheduler", both);
    clients.upsert(uow, "interface-a", {std::string(bkr::domain::scope_post_store_status)});
    uow.commit();
  }
  unit_of_work uow(pool);
  CHECK(clients.find_scopes(uow, "scheduler") == both);
  CHECK(clients.find_scopes(uow, "interface-a") == std::set<std::string>{"post-store-status"});
  clients.upsert(uow, "scheduler", {});
  const auto none = clients.find_scopes(uow, "scheduler");
  REQUIRE(none.has_value());
  CHECK(none->empty());
  clients.upsert(uow, "scheduler", {"admin"});
  CHECK(clients.find_scopes(uow, "scheduler") == std::set<std::string>{"admin"});
  CHECK_FALSE(clients.find_scopes(uow, "Scheduler").has_value());
}

TEST_CASE("scopes DOMAIN.md does not define and over-long client ids are refused") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo()));
  bkr::storage::client_authorization_repository clients;
  {
    unit_of_work uow(pool);
    CHECK_THROWS_AS(clients.upsert(uow, "scheduler", {"admin", "root"}), pqxx::check_violation);
  }
  {
    unit_of_work uow(pool);
    CHECK_THROWS_AS(clients.upsert(uow, std::string(257, 'c'), {"admin"}), pqxx::check_violation);
  }
  unit_of_work uow(pool);
  CHECK_NOTHROW(clients.upsert(uow, std::string(256, 'c'), {"admin"}));
}
