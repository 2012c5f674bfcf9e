// The group committer against real Postgres: shared transactions, idempotency keys, full queue, deadlines.
#include "http_call.hpp"
#include "pg_test_database.hpp"
#include "queue_rows.hpp"
#include "service_fixture.hpp"

#include "bkr/common/ids.hpp"
#include "bkr/domain/json.hpp"
#include "bkr/domain/validation.hpp"
#include "bkr/receive_request/accept.hpp"
#include "bkr/receive_request/database_health.hpp"
#include "bkr/receive_request/group_committer.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include <future>
#include <thread>

using namespace bkr::rr_test;
namespace rr = bkr::receive_request;
namespace asio = boost::asio;

namespace {

rr::commit_request accepted_item(std::optional<std::pair<std::string, std::string>> key = std::nullopt) {
  const auto input = *bkr::domain::parse_accept_body(accept_body());
  const auto request =
      *bkr::domain::make_accepted_request(input, bkr::new_uuid_v7(), "client-x", bkr::system_clock().now());
  auto body = bkr::domain::accepted_response_body(request);
  rr::commit_request item;
  if (key)
    item.idempotency =
        rr::idempotency_record{key->first, key->second, {request.backup_request_id, 202, body}};
  item.message = rr::accepted_message(request, body, "trace-1");
  return item;
}

/// An io_context with two threads on which submit() coroutines run, as on the server's I/O threads.
struct io_threads {
  asio::io_context ioc{2};
  asio::executor_work_guard<asio::io_context::executor_type> guard{ioc.get_executor()};
  std::vector<std::thread> threads;

  io_threads() {
    for (int i = 0; i < 2; ++i)
      threads.emplace_back([this] { ioc.run(); });
  }
  ~io_threads() {
    guard.reset();
    ioc.stop();
    for (auto& t : threads)
      t.join();
  }

  std::future<rr::commit_outcome> submit(rr::group_committer& committer, rr::commit_request item) {
    auto done = std::make_shared<std::promise<rr::commit_outcome>>();
    auto f = done->get_future();
    asio::co_spawn(asio::make_strand(ioc), committer.submit(std::move(item)),
                   [done](std::exception_ptr e, rr::commit_outcome o) {
                     if (e)
                       done->set_exception(e);
                     else
                       done->set_value(std::move(o));
                   });
    return f;
  }
};

struct committer_fixture {
  bkr::test::pg_test_database db;
  bkr::system_clock clock;
  bkr::metrics::registry registry;
  bkr::logger log{"receive-request", spdlog::level::warn};
  bkr::storage::connection_pool pool;
  rr::database_health health;
  rr::group_committer committer;

  explicit committer_fixture(rr::group_commit_options options)
      : pool({.conninfo = db.conninfo(), .size = 4}),
        health(db.conninfo(), std::chrono::milliseconds{200}, clock, registry, log),
        committer(pool, options, health, registry, log) {
    health.start();
    committer.start();
  }
  ~committer_fixture() {
    committer.stop();
    health.stop();
  }
};

}  // namespace

TEST_CASE("write_batch records keys first and publishes only what is new",
          "[receive_request][group_commit]") {
  bkr::test::pg_test_database db;
  bkr::storage::connection_pool pool({.conninfo = db.conninfo(), .size = 1});
  const auto first = accepted_item(std::pair{std::string("c"), std::string("k")});
  const auto repeat = accepted_item(std::pair{std::string("c"), std::string("k")});
  const auto plain = accepted_item();
  const auto other_client = accepted_item(std::pair{std::string("d"), std::string("k")});
  const std::vector<bkr::messaging::outgoing_message> messages{first.message, repeat.message, plain.message,
                                                               other_client.message};
  const std::vector<const rr::idempotency_record*> keys{&*first.idempotency, &*repeat.idempotency, nullptr,
                                                        &*other_client.idempotency};
  {
    bkr::storage::unit_of_work uow(pool);
    const auto outcomes = rr::write_batch(uow, messages, keys);
    REQUIRE(outcomes.size() == 4);
    CHECK(outcomes[0].status == rr::commit_status::committed);
    REQUIRE(outcomes[1].status == rr::commit_status::replayed);
    CHECK(outcomes[1].first_response->backup_request_id == first.message.message.key);
    CHECK(outcomes[1].first_response->body == first.message.message.payload);
    CHECK(outcomes[2].status == rr::commit_status::committed);
    CHECK(outcomes[3].status == rr::commit_status::committed);
    uow.commit();
  }
  const auto stored = queued_messages(db.conninfo());
  REQUIRE(stored.size() == 3);
  std::set<std::string> ids;
  for (const auto& m : stored)
    ids.insert(m.message_id);
  CHECK(ids == std::set<std::string>{first.message.message.message_id, plain.message.message.message_id,
                                     other_client.message.message.message_id});

  // In a later transaction the key still answers with the first request, and nothing is written.
  bkr::storage::unit_of_work uow(pool);
  const auto later = accepted_item(std::pair{std::string("c"), std::string("k")});
  const std::vector<const rr::idempotency_record*> later_keys{&*later.idempotency};
  const auto outcomes = rr::write_batch(uow, std::span(&later.message, 1), later_keys);
  CHECK(outcomes[0].status == rr::commit_status::replayed);
  CHECK(outcomes[0].first_response->backup_request_id == first.message.message.key);
  uow.commit();
  CHECK(message_count(db.conninfo()) == 3);
}

TEST_CASE("concurrent submits share transactions and every one is committed",
          "[receive_request][group_commit]") {
  committer_fixture f(
      {.max_batch = 64, .max_pending = 1000, .timeout = std::chrono::seconds{20}, .writers = 1});
  io_threads io;
  constexpr int n = 300;
  std::vector<std::future<rr::commit_outcome>> results;
  std::set<std::string> ids;
  for (int i = 0; i < n; ++i) {
    auto item = accepted_item();
    ids.insert(item.message.message.message_id);
    results.push_back(io.submit(f.committer, std::move(item)));
  }
  for (auto& r : results)
    CHECK(r.get().status == rr::commit_status::committed);
  const auto messages = queued_messages(f.db.conninfo());
  REQUIRE(messages.size() == n);
  std::set<std::string> stored;
  for (const auto& m : messages)
    stored.insert(m.message_id);
  CHECK(stored == ids);
  // One writer and 300 requests in flight: far fewer transactions than requests, none above max_batch.
  const auto exposition = f.registry.expose();
  const double batches = metric_value(exposition, "bkr_receive_request_group_commit_batch_size_count");
  CHECK(batches >= n / 64.0);
  CHECK(batches < n);
  CHECK(metric_value(exposition, "bkr_receive_request_group_commit_batch_size_bucket{le=\"64\"}") == batches);
}

TEST_CASE(
    "a stuck database: a full queue answers at once, waiting requests give up at the deadline unwritten",
    "[receive_request][group_commit]") {
  committer_fixture f(
      {.max_batch = 16, .max_pending = 2, .timeout = std::chrono::milliseconds{700}, .writers = 1});
  io_threads io;

  // Another transaction holds the key the first request needs: its writer waits on the row lock.
  pqxx::connection blocker(f.db.conninfo());
  pqxx::work held(blocker);
  held.exec(
      "INSERT INTO idempotency_key (client_id, idempotency_key, backup_request_id, response_status_code,"
      " response_body) VALUES ('c', 'k', 'held', 202, '{}')");

  auto stuck_item = accepted_item(std::pair{std::string("c"), std::string("k")});
  const auto stuck_id = stuck_item.message.message.message_id;
  auto stuck = io.submit(f.committer, std::move(stuck_item));
  // Taken by the writer, which now waits on the row lock. Waiting for pending() == 0 alone is not enough:
  // it also holds before the submission has reached the committer, and the writer could then take the
  // next two requests in the same batch.
  pqxx::connection observer(f.db.conninfo());
  REQUIRE(eventually([&] {
    pqxx::nontransaction q(observer);
    return q.exec(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'")[0][0]
               .as<int>() == 1;
  }));
  REQUIRE(f.committer.pending() == 0);

  auto queued_1 = io.submit(f.committer, accepted_item());
  auto queued_2 = io.submit(f.committer, accepted_item());
  REQUIRE(eventually([&] { return f.committer.pending() == 2; }));
  const auto started = std::chrono::steady_clock::now();
  auto overflow = io.submit(f.committer, accepted_item());
  CHECK(overflow.get().status == rr::commit_status::queue_full);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::milliseconds{500});

  CHECK(queued_1.get().status == rr::commit_status::timed_out);
  CHECK(queued_2.get().status == rr::commit_status::timed_out);
  CHECK(stuck.get().status == rr::commit_status::timed_out);
  CHECK(message_count(f.db.conninfo()) == 0);

  // The blocker goes away: the writer finishes the request it had taken and skips the two that gave up
  // before being taken. Only a request already being written can commit after its 503.
  held.abort();
  REQUIRE(eventually([&] { return message_count(f.db.conninfo()) == 1; }));
  CHECK(queued_messages(f.db.conninfo())[0].message_id == stuck_id);
  CHECK(io.submit(f.committer, accepted_item()).get().status == rr::commit_status::committed);
  CHECK(message_count(f.db.conninfo()) == 2);
  const auto exposition = f.registry.expose();
  CHECK(metric_value(exposition, "bkr_receive_request_enqueue_failures_total{reason=\"queue_full\"}") == 1);
  CHECK(metric_value(exposition, "bkr_receive_request_enqueue_failures_total{reason=\"timeout\"}") == 3);
}
