// The doorbells: one NOTIFY channel per queue, the same name on both sides, and a process's LISTEN
// connection woken only by the queues it consumes.
#include "bkr/messaging/postgres/notifier.hpp"
#include "harness.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <string>

using namespace std::chrono_literals;
using bkr::test::wait_until;

namespace {

/// A subscriber that only counts its wake-ups.
class counting_consumer final : public bkr::messaging::consumer {
 public:
  void start() override {}
  void stop(std::chrono::milliseconds) override {}
  void wake() override { ++wakes; }
  bkr::messaging::consumer_counts counts() const override { return {}; }
  std::atomic<int> wakes{0};
};

}  // namespace

TEST_CASE("a queue's channel has the same name in SQL and in the client, within an identifier's length",
          "[messaging][doorbell]") {
  bkr::test::pg_test_database db;
  pqxx::connection c(db.conninfo());
  pqxx::nontransaction tx(c);
  const std::string long_a(200, 'a');
  const std::string long_b = std::string(39, 'a') + std::string(161, 'b');  // same first 39 characters
  for (const std::string& q :
       {std::string("backup-request.accepted"), std::string("backup-interface.cloud-a.store-request"),
        std::string(56, 'x'), std::string(57, 'x'), long_a, long_b}) {
    INFO(q);
    const auto channel = bkr::messaging::postgres::channel_of(q);
    CHECK(channel.size() <= 63);
    CHECK(tx.exec_params1("SELECT mq.channel($1)", q)[0].as<std::string>() == channel);
  }
  CHECK(bkr::messaging::postgres::channel_of("backup-request.accepted") == "bkr_mq:backup-request.accepted");
  CHECK(bkr::messaging::postgres::channel_of(long_a) != bkr::messaging::postgres::channel_of(long_b));
}

TEST_CASE("a doorbell wakes the subscribers of its queue only, also after they subscribe late",
          "[messaging][doorbell]") {
  bkr::test::pg_test_database db;
  bkr::messaging::postgres::notifier n(db.conninfo());
  counting_consumer a, b;
  n.subscribe("d.a", &a);
  n.start();
  REQUIRE(n.wait_listening(10s));
  pqxx::connection c(db.conninfo());
  auto ring = [&](const std::string& queue) {
    pqxx::nontransaction tx(c);
    tx.exec_params("SELECT pg_notify(mq.channel($1), '')", queue);
  };
  const int a_after_start = a.wakes.load();  // woken once when the connection came up
  ring("d.b");                               // nobody consumes it: nothing listens
  ring("d.a");
  REQUIRE(wait_until([&] { return a.wakes.load() > a_after_start; }, 5s));
  // Subscribing returns once the channel is listened to: the next doorbell is not missed.
  n.subscribe("d.b", &b);
  const int b_before = b.wakes.load();
  ring("d.b");
  REQUIRE(wait_until([&] { return b.wakes.load() > b_before; }, 5s));
  const int a_now = a.wakes.load();
  ring("d.b");
  ring("d.b");
  REQUIRE(wait_until([&] { return b.wakes.load() >= b_before + 3; }, 5s));
  CHECK(a.wakes.load() == a_now);  // d.b's doorbells never reached d.a's subscriber
  n.unsubscribe("d.a", &a);
  n.unsubscribe("d.b", &b);
  n.stop();
}
