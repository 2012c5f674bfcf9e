// bkrctl queues / dead-letters against real queue state: statistics, pause/resume, purge, dead letter
// listing, showing, redriving and purging.
#include "pg_test_database.hpp"
#include "process.hpp"

#include "bkr/messaging/handler.hpp"
#include "bkr/messaging/postgres/log.hpp"
#include "bkr/storage/connection_pool.hpp"
#include "bkr/storage/unit_of_work.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <thread>

using bkr::test::built_executable;
using bkr::test::pg_test_database;
using bkr::test::run_process;
namespace mq = bkr::messaging;

namespace {

const std::string queue = "test.bkrctl";

void publish(bkr::storage::connection_pool& pool, int n) {
  bkr::storage::unit_of_work uow(pool);
  mq::postgres::log_publisher pub(uow);
  const bkr::system_clock clock;
  for (int i = 0; i < n; ++i) {
    auto e =
        mq::make_envelope("TestMessage", "key-" + std::to_string(i), {{"n", i}}, "bkrctl-test", "", clock);
    pub.publish({.queue = queue, .message = e});
  }
  uow.commit();
}

nlohmann::json stats_of(const std::string& conninfo) {
  auto r = run_process({built_executable("tools/bkrctl/bkrctl"), "queues", "stats", "--json"},
                       {{"BKR_DATABASE_URL", conninfo}});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  for (const auto& q : nlohmann::json::parse(r.out)) {
    if (q["queue"] == queue)
      return q;
  }
  FAIL("queue " << queue << " missing from bkrctl queues stats");
  return {};
}

bkr::test::process_result bkrctl(const std::string& conninfo, std::vector<std::string> args) {
  args.insert(args.begin(), built_executable("tools/bkrctl/bkrctl"));
  return run_process(args, {{"BKR_DATABASE_URL", conninfo}});
}

}  // namespace

TEST_CASE("bkrctl queues: stats, pause, resume and purge reflect the queue") {
  pg_test_database db;
  bkr::storage::connection_pool pool({.conninfo = db.conninfo(), .size = 2});
  publish(pool, 3);

  auto s = stats_of(db.conninfo());
  CHECK(s["ready"] == 3);
  CHECK(s["paused"] == false);
  CHECK(s["oldestReadyAgeMs"].is_number());

  auto paused = bkrctl(db.conninfo(), {"queues", "pause", queue});
  REQUIRE(paused.exit_code == 0);
  CHECK(stats_of(db.conninfo())["paused"] == true);
  REQUIRE(bkrctl(db.conninfo(), {"queues", "resume", queue}).exit_code == 0);
  CHECK(stats_of(db.conninfo())["paused"] == false);

  auto purged = bkrctl(db.conninfo(), {"queues", "purge", queue});
  REQUIRE(purged.exit_code == 0);
  CHECK_THAT(purged.out, Catch::Contains("purged 3"));
  CHECK(stats_of(db.conninfo())["ready"] == 0);

  auto bad = bkrctl(db.conninfo(), {"queues", "pause", "Bad Queue!"});
  CHECK(bad.exit_code == 2);
  CHECK_THAT(bad.err, Catch::Contains("invalid queue name"));
}

TEST_CASE("bkrctl dead-letters: list, show, redrive and purge") {
  pg_test_database db;
  bkr::storage::connection_pool pool({.conninfo = db.conninfo(), .size = 4});
  publish(pool, 2);

  // A consumer that rejects everything turns both messages into dead letters.
  mq::function_handler reject_all([](const mq::delivery&, mq::handler_context&) {
    return mq::handler_result::reject("test: rejected on purpose");
  });
  mq::consumer_options opts;
  opts.queue = queue;
  opts.poll_min = std::chrono::milliseconds{5};
  opts.poll_max = std::chrono::milliseconds{50};
  {
    mq::postgres::log_consumer c(pool, db.conninfo(), opts, reject_all);
    c.start();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{20};
    while (stats_of(db.conninfo())["dead"] != 2) {
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      std::this_thread::sleep_for(std::chrono::milliseconds{50});
    }
    c.stop(std::chrono::seconds{5});
  }

  auto list = bkrctl(db.conninfo(), {"dead-letters", "list", "--queue", queue, "--json"});
  REQUIRE(list.exit_code == 0);
  const auto letters = nlohmann::json::parse(list.out);
  REQUIRE(letters.size() == 2);
  CHECK(letters[0]["reason"] == "test: rejected on purpose");
  const std::string id = letters[0]["message"]["messageId"];

  auto show = bkrctl(db.conninfo(), {"dead-letters", "show", id});
  REQUIRE(show.exit_code == 0);
  CHECK(nlohmann::json::parse(show.out)["message"]["messageId"] == id);

  auto missing = bkrctl(db.conninfo(), {"dead-letters", "show", "01890a5d-ac96-774b-bcce-b302099a8057"});
  CHECK(missing.exit_code == 1);

  REQUIRE(bkrctl(db.conninfo(), {"dead-letters", "redrive", id}).exit_code == 0);
  auto after = stats_of(db.conninfo());
  CHECK(after["ready"] == 1);
  CHECK(after["dead"] == 1);

  auto purge = bkrctl(db.conninfo(), {"dead-letters", "purge", "--all"});
  REQUIRE(purge.exit_code == 0);
  CHECK(stats_of(db.conninfo())["dead"] == 0);
}
