// Conformance cases of the log and its cursors: cursor fence, takeover of a dead owner's partition, nothing
// skipped behind an open transaction, poison off the log, partitions, and (for Postgres) retention. Each
// runs on both backends: memory and Postgres.
#include "harness.hpp"
#include "mq_test_support.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <type_traits>

using namespace std::chrono_literals;
using bkr::messaging::delivery;
using bkr::messaging::handler_context;
using bkr::messaging::handler_result;
using bkr::test::log_harness;
using bkr::test::memory_harness;
using bkr::test::wait_until;
using bkr::test::mq::fast;
using bkr::test::mq::msg;
using bkr::test::mq::recorder;

namespace {

template <class H>
bkr::messaging::queue_stats stats(H& h, const std::string& queue) {
  return bkr::messaging::find_stats(h.admin().stats(), queue);
}

long long scalar(log_harness& h, const std::string& sql) {
  auto lease = h.pool().acquire();
  pqxx::nontransaction tx(lease.conn());
  return tx.exec1(sql)[0].as<long long>();
}

}  // namespace

TEMPLATE_TEST_CASE("log: a consumer killed mid-batch has its messages run again at once, each once",
                   "[messaging][log]", memory_harness, log_harness) {
  TestType h;
  h.in_transaction([](auto& p) {
    for (int i = 0; i < 20; ++i)
      p.publish(msg("l.kill", "k" + std::to_string(i)));
  });
  h.kill_consumer_mid_batch("l.kill", 20, 30000ms);  // the lease plays no part: the dead owner is gone
  recorder r([&](const delivery& d, handler_context& ctx) {
    h.record_effect(ctx, d.message.key);
    return handler_result::commit();
  });
  auto c = h.make_consumer(fast("l.kill"), r);
  c->start();
  REQUIRE(wait_until([&] { return stats(h, "l.kill").processed == 20; }, 10s));
  c->stop(1s);
  auto all = r.all();
  CHECK(all.size() == 20);
  // The head is the message the dead consumer may have died on: charged and run alone first.
  CHECK(r.order().front() == "k0");
  CHECK(all["k0"] == std::vector<int>{2});
  for (int i = 1; i < 20; ++i)
    CHECK(all["k" + std::to_string(i)] == std::vector<int>{1});
  auto effects = h.effects();
  CHECK(effects.size() == 20);
  for (auto& [tag, n] : effects)
    CHECK(n == 1);
}

TEMPLATE_TEST_CASE("log: a message its consumers keep dying on is dead-lettered", "[messaging][log]",
                   memory_harness, log_harness) {
  TestType h;
  h.in_transaction([](auto& p) {
    p.publish(msg("l.crash", "crasher"));
    p.publish(msg("l.crash", "behind"));
  });
  h.kill_consumer_mid_batch("l.crash", 1, 30000ms);
  recorder r;
  auto o = fast("l.crash");
  o.retry.max_attempts = 1;
  auto c = h.make_consumer(o, r);
  c->start();
  REQUIRE(wait_until([&] { return stats(h, "l.crash").dead == 1 && r.deliveries() == 1; }, 10s));
  c->stop(1s);
  CHECK(r.order() == std::vector<std::string>{"behind"});  // the crasher never ran again
  CHECK(r.attempts("behind") == std::vector<int>{1});
  auto dead = h.admin().list_dead_letters(std::string("l.crash"), 10);
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].reason.find("its consumer stopped 1 times") != std::string::npos);
  CHECK(dead[0].message.key == "crasher");
  CHECK(c->counts().dead_lettered == 1);
  CHECK(stats(h, "l.crash").dead_lettered == 1);
  CHECK(stats(h, "l.crash").ready == 0);
  // Redriven, it runs again with a fresh count.
  REQUIRE(h.admin().redrive(dead[0].message.message_id).has_value());
  auto again = h.make_consumer(o, r);
  again->start();
  REQUIRE(wait_until([&] { return r.deliveries() == 2; }, 10s));
  again->stop(1s);
  CHECK(r.attempts("crasher") == std::vector<int>{1});
}

TEMPLATE_TEST_CASE(
    "log: a stopped consumer resumed after its partition was taken over commits and publishes nothing",
    "[messaging][log]", memory_harness, log_harness) {
  TestType h;
  h.in_transaction([](auto& p) { p.publish(msg("l.fence", "contested")); });
  // The zombie reads the message, then stops in prepare(), before it settles.
  auto zombie = h.hold("l.fence", 16, 1000ms, TestType::held_in::prepare);
  zombie->freeze();
  // Its partition is freed (Postgres: the server ends its idle ownership session after the lease); the
  // winner takes it over.
  recorder winner([&](const delivery& d, handler_context& ctx) {
    h.record_effect(ctx, "winner");
    ctx.publish(msg("l.fence.next", "from-winner-" + d.message.key));
    return handler_result::commit();
  });
  auto w = h.make_consumer(fast("l.fence"), winner);
  w->start();
  REQUIRE(wait_until([&] { return stats(h, "l.fence").processed == 1; }, 15s));
  // Resumed, the zombie handles and settles its batch: the fence lets nothing of it commit.
  REQUIRE(zombie->thaw_until_refused(15s));
  w->stop(1s);
  auto effects = h.effects();
  CHECK(effects["winner"] == 1);
  CHECK(effects.count("zombie") == 0);
  CHECK(stats(h, "l.fence.next").ready == 1);
  CHECK(stats(h, "l.fence").processed == 1);
  CHECK(winner.deliveries() == 1);
}

TEMPLATE_TEST_CASE("log: a killed owner's partition is served again within a second", "[messaging][log]",
                   memory_harness, log_harness) {
  TestType h;
  h.in_transaction([](auto& p) { p.publish(msg("l.takeover", "m")); });
  auto owner = h.hold("l.takeover", 16, 30000ms, TestType::held_in::handler);
  recorder r;
  auto standby = h.make_consumer(fast("l.takeover"), r);
  standby->start();
  // A standby: the partition is owned by the held consumer. A negative can only be observed over time:
  // several ownership rounds pass.
  std::this_thread::sleep_for(300ms);
  CHECK(h.owned_partitions(*standby) == std::vector<int>{});
  CHECK(r.deliveries() == 0);
  const auto killed = std::chrono::steady_clock::now();
  owner->kill();
  REQUIRE(wait_until([&] { return r.deliveries() == 1; }, 10s));
  const auto served = r.times("m").at(0) - killed;
  CHECK(h.owned_partitions(*standby) == std::vector<int>{0});
  standby->stop(1s);
  INFO("served again after " << std::chrono::duration_cast<std::chrono::milliseconds>(served).count()
                             << " ms");
  CHECK(served < 1s);
  CHECK(r.attempts("m") == std::vector<int>{2});  // the dead owner's delivery counted
}

TEMPLATE_TEST_CASE("log: a producer transaction held open is never skipped", "[messaging][log]",
                   memory_harness, log_harness) {
  TestType h;
  // Postgres keeps log order by transaction id: a row committed after the open transaction began is held
  // back behind the safe watermark until it ends. The memory log is in commit order: it is consumed at once.
  constexpr bool watermark = std::is_same_v<TestType, log_harness>;
  recorder r;
  auto c = h.make_consumer(fast("l.open"), r);
  c->start();
  SECTION("it commits") {
    {
      auto open = h.begin();
      open->publisher().publish(msg("l.open", "early"));
      h.in_transaction([](auto& q) { q.publish(msg("l.open", "late")); });
      if constexpr (watermark) {
        // "late" committed, but behind the watermark of the open transaction: held back, not passed.
        std::this_thread::sleep_for(1500ms);
        CHECK(r.deliveries() == 0);
        CHECK(stats(h, "l.open").held_back == 1);
      } else {
        REQUIRE(wait_until([&] { return stats(h, "l.open").processed == 1; }, 10s));
        CHECK(r.order() == std::vector<std::string>{"late"});  // and "early" is not visible yet
      }
      open->commit();
    }
    REQUIRE(wait_until([&] { return r.deliveries() == 2; }, 10s));
    CHECK(r.order() == (watermark ? std::vector<std::string>{"early", "late"}
                                  : std::vector<std::string>{"late", "early"}));
  }
  SECTION("it rolls back") {
    {
      auto open = h.begin();
      open->publisher().publish(msg("l.open", "early"));
      h.in_transaction([](auto& q) { q.publish(msg("l.open", "late")); });
      if constexpr (watermark) {
        std::this_thread::sleep_for(500ms);
        CHECK(r.deliveries() == 0);
      }
    }
    REQUIRE(wait_until([&] { return r.deliveries() == 1; }, 10s));
    CHECK(r.order() == std::vector<std::string>{"late"});
  }
  REQUIRE(wait_until([&] { return stats(h, "l.open").processed == r.deliveries(); }, 10s));
  c->stop(1s);
  for (auto& [key, attempts] : r.all())
    CHECK(attempts.size() == 1);
  CHECK(stats(h, "l.open").ready == 0);
  CHECK(stats(h, "l.open").held_back == 0);
}

TEMPLATE_TEST_CASE("log: a poison message does not hold back the messages behind it", "[messaging][log]",
                   memory_harness, log_harness) {
  TestType h;
  recorder r([&](const delivery& d, handler_context&) {
    if (d.message.key == "poison")
      return handler_result::retry("still broken", 2s);
    return handler_result::commit();
  });
  h.in_transaction([](auto& p) {
    p.publish(msg("l.poison", "poison"));
    for (int i = 0; i < 5; ++i)
      p.publish(msg("l.poison", "good" + std::to_string(i)));
  });
  h.in_transaction([](auto& p) { p.publish(msg("l.poison", "after")); });
  auto c = h.make_consumer(fast("l.poison"), r);
  c->start();
  REQUIRE(wait_until([&] { return stats(h, "l.poison").processed == 6; }, 10s));
  // Every message behind the poison ran while it waited in the delay lane for its second attempt.
  CHECK(r.all()["poison"] == std::vector<int>{1});
  auto s = stats(h, "l.poison");
  CHECK(s.delayed == 1);
  CHECK(s.retried == 1);
  REQUIRE(wait_until([&] { return r.all()["poison"].size() == 2; }, 10s));
  c->stop(1s);
  CHECK(r.all()["poison"] == std::vector<int>{1, 2});
}

TEMPLATE_TEST_CASE("log: partitions are shared between consumers, and a stopped consumer's are taken over",
                   "[messaging][log]", memory_harness, log_harness) {
  TestType h;
  REQUIRE(h.set_partitions("l.parts", 4));
  recorder r([&](const delivery& d, handler_context& ctx) {
    h.record_effect(ctx, d.message.key);
    return handler_result::commit();
  });
  auto a = h.make_consumer(fast("l.parts"), r);
  auto b = h.make_consumer(fast("l.parts"), r);
  a->start();
  b->start();
  REQUIRE(wait_until(
      [&] { return h.owned_partitions(*a)->size() == 2 && h.owned_partitions(*b)->size() == 2; }, 10s));
  h.in_transaction([](auto& p) {
    for (int i = 0; i < 200; ++i)
      p.publish(msg("l.parts", "p" + std::to_string(i)));
  });
  REQUIRE(wait_until([&] { return stats(h, "l.parts").processed == 200; }, 15s));
  CHECK(a->counts().processed > 0);
  CHECK(b->counts().processed > 0);
  if constexpr (std::is_same_v<TestType, log_harness>)
    CHECK(scalar(h, "SELECT count(DISTINCT part) FROM mq.log WHERE queue = 'l.parts'") == 4);
  b->stop(1s);
  REQUIRE(wait_until([&] { return h.owned_partitions(*a)->size() == 4; }, 5s));
  h.in_transaction([](auto& p) {
    for (int i = 200; i < 240; ++i)
      p.publish(msg("l.parts", "p" + std::to_string(i)));
  });
  REQUIRE(wait_until([&] { return stats(h, "l.parts").processed == 240; }, 15s));
  a->stop(1s);
  auto effects = h.effects();
  CHECK(effects.size() == 240);
  for (auto& [tag, n] : effects)
    CHECK(n == 1);
  CHECK_FALSE(h.set_partitions("l.parts", 2));
  CHECK_FALSE(h.set_partitions("l.parts", 0));
  CHECK(h.set_partitions("l.parts", 8));
}

TEST_CASE("log (memory): the delay lane runs on the broker's clock", "[messaging][log]") {
  bkr::manual_clock clock(bkr::timestamp{std::chrono::milliseconds{1'700'000'000'000}});
  bkr::messaging::memory::broker b(clock);
  auto lane = [&] { return bkr::messaging::find_stats(b.stats(), "l.clock"); };
  recorder r([](const delivery& d, handler_context&) {
    return d.message.key == "now" && d.message.attempt == 1 ? handler_result::retry("not yet", 1min)
                                                            : handler_result::commit();
  });
  {
    bkr::messaging::memory::transaction tx(b);
    tx.publish(msg("l.clock", "now"));
    tx.publish(msg("l.clock", "in-an-hour", 1h));
    tx.commit();
  }
  auto o = fast("l.clock");
  o.retry.cap = 1h;
  bkr::messaging::memory::consumer c(b, o, r);
  c.start();
  REQUIRE(wait_until([&] { return lane().retried == 1; }, 10s));
  auto s = lane();
  CHECK(s.delayed == 2);  // the retry (due in a minute) and the delayed publish (in an hour)
  CHECK(s.ready == 0);
  auto waiting = b.peek("l.clock", 10);
  REQUIRE(waiting.size() == 2);
  CHECK(waiting[0].message.key == "now");
  CHECK(waiting[0].run_at - clock.now() == 1min);
  CHECK(waiting[1].run_at - clock.now() == 1h);
  clock.advance(59s);
  // Its time has not come on the broker's clock, whatever the wall clock says: several rounds pass.
  std::this_thread::sleep_for(200ms);
  CHECK(r.deliveries() == 1);
  clock.advance(1s);
  REQUIRE(wait_until([&] { return r.deliveries() == 2; }, 10s));
  CHECK(r.attempts("now") == std::vector<int>{1, 2});
  CHECK(lane().processed == 1);
  clock.advance(1h);
  REQUIRE(wait_until([&] { return lane().processed == 2; }, 10s));
  c.stop(1s);
  CHECK(r.attempts("in-an-hour") == std::vector<int>{1});
  s = lane();
  CHECK(s.ready + s.delayed == 0);
}

TEST_CASE("log: consumed log partitions are dropped whole, unconsumed ones kept", "[messaging][log]") {
  log_harness h;
  auto burn_xids = [&](int n) {
    auto lease = h.pool().acquire();
    for (int i = 0; i < n; ++i) {
      pqxx::work tx(lease.conn());
      tx.exec("SELECT pg_current_xact_id()");
      tx.commit();
    }
  };
  auto partitions = [&] {
    return scalar(h, "SELECT count(*) FROM pg_inherits WHERE inhparent = 'mq.log'::regclass");
  };
  // Narrow partitions for the test: the migration's (a million transaction ids wide) are empty; replace them.
  {
    auto lease = h.pool().acquire();
    pqxx::work tx(lease.conn());
    for (const auto& row :
         tx.exec("SELECT c.oid::regclass::text FROM pg_inherits i JOIN pg_class c ON c.oid = "
                 "i.inhrelid WHERE i.inhparent = 'mq.log'::regclass AND c.relname <> 'log_default'"))
      tx.exec("DROP TABLE " + row[0].as<std::string>());
    tx.exec("SELECT mq.log_maintain(64)");
    tx.commit();
  }
  const auto ahead = partitions();
  CHECK(ahead >= 3);  // the default one and at least two ranges ahead
  recorder r;
  auto c = h.make_consumer(fast("l.consumed"), r);
  c->start();
  h.in_transaction([](auto& p) {
    for (int i = 0; i < 10; ++i)
      p.publish(msg("l.consumed", "c" + std::to_string(i)));
  });
  REQUIRE(wait_until([&] { return stats(h, "l.consumed").processed == 10; }, 10s));
  burn_xids(150);
  h.in_transaction([](auto& p) {
    for (int i = 0; i < 10; ++i)
      p.publish(msg("l.unconsumed", "u" + std::to_string(i)));
  });
  burn_xids(150);
  CHECK(scalar(h, "SELECT mq.log_maintain(64)") >= 1);
  c->stop(1s);
  CHECK(scalar(h, "SELECT count(*) FROM mq.log WHERE queue = 'l.consumed'") == 0);
  CHECK(scalar(h, "SELECT count(*) FROM mq.log WHERE queue = 'l.unconsumed'") == 10);
  CHECK(scalar(h, "SELECT count(*) FROM mq.log_default") == 0);
  CHECK(stats(h, "l.unconsumed").ready == 10);
  CHECK(stats(h, "l.consumed").processed == 10);
  // Publishing goes on into the partitions created ahead.
  h.in_transaction([](auto& p) { p.publish(msg("l.unconsumed", "u-last")); });
  CHECK(stats(h, "l.unconsumed").ready == 11);
  CHECK(scalar(h, "SELECT count(*) FROM mq.log_default") == 0);
}

TEST_CASE("log: stats count a deep backlog up to a cap and say so, purge counts it all", "[messaging][log]") {
  bkr::test::log_harness h;
  constexpr int n = 10050;  // above the 10,000 rows counted per partition
  {
    std::vector<bkr::messaging::outgoing_message> many;
    for (int i = 0; i < n; ++i)
      many.push_back(msg("l.deep", "d" + std::to_string(i)));
    bkr::storage::unit_of_work uow(h.pool());
    bkr::messaging::postgres::append_to_log(uow, many);
    uow.commit();
  }
  // A transaction elsewhere in the cluster may hold rows back; stats count them either way.
  const auto s = h.log_admin().stats_of("l.deep");
  CHECK(s.ready == 10000);
  CHECK(s.ready_capped);
  REQUIRE(s.oldest_ready_age.has_value());
  const auto all = bkr::messaging::find_stats(h.admin().stats(), "l.deep");
  CHECK(all.ready == 10000);
  CHECK(all.ready_capped);
  CHECK(h.admin().purge_queue("l.deep") == static_cast<std::size_t>(n));
  const auto after = h.log_admin().stats_of("l.deep");
  CHECK(after.ready == 0);
  CHECK_FALSE(after.ready_capped);
}
