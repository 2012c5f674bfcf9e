// The scope authorizer: decisions, caching and its expiry, negative caching, failures that are not 403s.
#include "bkr/auth/scope_authorizer.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <stdexcept>
#include <thread>

using namespace std::chrono;
using bkr::auth::decision;

namespace {

const bkr::timestamp t0{sys_days{year{2026} / 3 / 1}.time_since_epoch()};

// The client_authorization table as the lookup sees it.
struct fake_table {
  std::map<std::string, std::set<std::string>, std::less<>> rows{
      {"writer", {"post-backup-request"}},
      {"reader", {"get-backup-request"}},
      {"operator", {"admin", "get-backup-request"}},
      {"nobody", {}},
  };
  std::atomic<int> lookups{0};
  std::atomic<bool> down{false};

  bkr::auth::scope_lookup lookup() {
    return [this](std::string_view client) -> std::optional<std::set<std::string>> {
      ++lookups;
      if (down)
        throw bkr::infrastructure_error("database unreachable", true);
      auto it = rows.find(client);
      if (it == rows.end())
        return std::nullopt;
      return it->second;
    };
  }
};

}  // namespace

TEST_CASE("authorize allows held scopes and forbids the rest") {
  bkr::manual_clock clock{t0};
  fake_table table;
  bkr::auth::scope_authorizer authz(table.lookup(), clock);
  CHECK(authz.authorize("writer", "post-backup-request") == decision::allowed);
  CHECK(authz.authorize("writer", "get-backup-request") == decision::forbidden);
  CHECK(authz.authorize("writer", "admin") == decision::forbidden);
  CHECK(authz.authorize("nobody", "post-backup-request") == decision::forbidden);
  CHECK(authz.authorize("stranger", "post-backup-request") == decision::forbidden);
  CHECK(authz.authorize("operator", "admin") == decision::allowed);
  // admin is a scope like the others: it does not imply the rest.
  CHECK(authz.authorize("operator", "post-backup-request") == decision::forbidden);

  bkr::auth::principal op;
  op.subject = "operator";
  bkr::auth::principal reader;
  reader.subject = "reader";
  CHECK(authz.check_admin(op) == decision::allowed);
  CHECK(authz.check_admin(reader) == decision::forbidden);
  CHECK(authz.authorize(reader, "get-backup-request") == decision::allowed);
  CHECK(bkr::auth::to_string(decision::unavailable) == "unavailable");
}

TEST_CASE("answers are cached for the ttl, unknown clients for the shorter negative ttl") {
  bkr::manual_clock clock{t0};
  fake_table table;
  bkr::auth::scope_authorizer authz(table.lookup(), clock);
  for (int i = 0; i < 5; ++i) {
    CHECK(authz.authorize("writer", "post-backup-request") == decision::allowed);
    CHECK(authz.authorize("writer", "admin") == decision::forbidden);
    CHECK(authz.authorize("stranger", "admin") == decision::forbidden);
  }
  CHECK(table.lookups == 2);

  // The table changes; the cache answers the old way until it expires.
  table.rows["writer"] = {"post-backup-request", "admin"};
  table.rows["stranger"] = {"admin"};
  clock.advance(seconds{5} - milliseconds{1});
  CHECK(authz.authorize("stranger", "admin") == decision::forbidden);
  clock.advance(milliseconds{1});
  CHECK(authz.authorize("stranger", "admin") == decision::allowed);
  CHECK(authz.authorize("writer", "admin") == decision::forbidden);
  CHECK(table.lookups == 3);
  clock.advance(seconds{25});
  CHECK(authz.authorize("writer", "admin") == decision::allowed);
  CHECK(table.lookups == 4);

  // forget() drops one client's answer at once.
  table.rows["writer"] = {};
  authz.forget("writer");
  CHECK(authz.authorize("writer", "admin") == decision::forbidden);
  CHECK(table.lookups == 5);
}

TEST_CASE("a failing lookup is unavailable, never forbidden, and is not cached") {
  bkr::manual_clock clock{t0};
  fake_table table;
  bkr::auth::scope_authorizer authz(table.lookup(), clock);
  table.down = true;
  CHECK(authz.authorize("writer", "post-backup-request") == decision::unavailable);
  CHECK(authz.authorize("stranger", "post-backup-request") == decision::unavailable);
  CHECK(authz.authorize("writer", "post-backup-request") == decision::unavailable);
  CHECK(table.lookups == 3);
  CHECK(authz.cached_clients() == 0);
  table.down = false;
  CHECK(authz.authorize("writer", "post-backup-request") == decision::allowed);

  // A cached answer is still used while the database is down; an expired one is not.
  table.down = true;
  CHECK(authz.authorize("writer", "post-backup-request") == decision::allowed);
  clock.advance(seconds{30});
  CHECK(authz.authorize("writer", "post-backup-request") == decision::unavailable);

  // Whatever the lookup throws.
  bkr::auth::scope_authorizer odd([](std::string_view) -> std::optional<std::set<std::string>> { throw 42; },
                                  clock);
  CHECK(odd.authorize("writer", "admin") == decision::unavailable);
}

TEST_CASE("the cache is bounded") {
  bkr::manual_clock clock{t0};
  fake_table table;
  bkr::auth::scope_authorizer authz(table.lookup(), clock, {.capacity = 3});
  for (int i = 0; i < 20; ++i)
    CHECK(authz.authorize("client-" + std::to_string(i), "admin") == decision::forbidden);
  CHECK(authz.cached_clients() <= 3);
  CHECK(authz.authorize("writer", "post-backup-request") == decision::allowed);
  CHECK(authz.cached_clients() <= 3);

  bkr::auth::scope_authorizer uncached(table.lookup(), clock, {.capacity = 0});
  const int before = table.lookups;
  CHECK(uncached.authorize("writer", "post-backup-request") == decision::allowed);
  CHECK(uncached.authorize("writer", "post-backup-request") == decision::allowed);
  CHECK(table.lookups == before + 2);
}

TEST_CASE("authorize is safe to call from many threads") {
  bkr::manual_clock clock{t0};
  fake_table table;
  bkr::auth::scope_authorizer authz(table.lookup(), clock, {.capacity = 8});
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int n = 0; n < 4; ++n)
    threads.emplace_back([&, n] {
      for (int i = 0; i < 2000; ++i) {
        if (authz.authorize("writer", "post-backup-request") != decision::allowed)
          ++wrong;
        if (authz.authorize("client-" + std::to_string((i + n) % 20), "admin") != decision::forbidden)
          ++wrong;
        if (n == 0 && i % 100 == 0)
          clock.advance(seconds{10});
      }
    });
  for (auto& th : threads)
    th.join();
  CHECK(wrong == 0);
  CHECK(authz.cached_clients() <= 8);
}
