// The messaging conformance suite: every backend must pass every case here, unchanged.
#include "harness.hpp"
#include "mq_test_support.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

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
bkr::messaging::queue_stats stats_of(H& h, const std::string& queue) {
  return bkr::messaging::find_stats(h.admin().stats(), queue);
}

}  // namespace

TEMPLATE_TEST_CASE("publish joins the caller's transaction", "[messaging][conformance]", memory_harness,
                   log_harness) {
  TestType h;
  h.in_transaction([](auto& p) { p.publish(msg("c.join", "rolled-back")); }, false);
  CHECK(stats_of(h, "c.join").ready == 0);
  h.in_transaction([](auto& p) { p.publish(msg("c.join", "first")); });
  h.in_transaction([](auto& p) {
    std::vector<bkr::messaging::outgoing_message> many{msg("c.join", "second"), msg("c.join", "third")};
    p.publish_many(std::move(many));
  });
  CHECK(stats_of(h, "c.join").ready == 3);
  recorder r;
  auto c = h.make_consumer(fast("c.join"), r);
  c->start();
  REQUIRE(wait_until([&] { return r.deliveries() >= 3 && stats_of(h, "c.join").processed == 3; }, 10s));
  c->stop(1s);
  auto all = r.all();
  CHECK(all.size() == 3);
  CHECK(all.count("rolled-back") == 0);
  auto d = r.last("first");
  CHECK(d.message.attempt == 1);
  CHECK(d.message.type == "TestMessage");
  CHECK(d.message.trace_id == "trace-first");
  CHECK(d.message.producer == "conformance");
  CHECK(d.message.payload == nlohmann::json{{"n", "first"}});
  CHECK(d.queue == "c.join");
  CHECK(stats_of(h, "c.join").ready == 0);
}

TEMPLATE_TEST_CASE("a delayed publish waits for its time", "[messaging][conformance]", memory_harness,
                   log_harness) {
  TestType h;
  recorder r;
  auto c = h.make_consumer(fast("c.later"), r);
  c->start();
  auto published = std::chrono::steady_clock::now();
  h.in_transaction([](auto& p) { p.publish(msg("c.later", "later", 400ms)); });
  auto s = stats_of(h, "c.later");
  CHECK(s.delayed == 1);
  CHECK(s.ready == 0);
  REQUIRE(wait_until([&] { return r.deliveries() == 1; }, 10s));
  CHECK(r.times("later").at(0) - published >= 390ms);
  CHECK(r.attempts("later") == std::vector<int>{1});
  c->stop(1s);
}

TEMPLATE_TEST_CASE("commit retires the message together with the handler's writes and publishes",
                   "[messaging][conformance]", memory_harness, log_harness) {
  TestType h;
  recorder r([&](const delivery& d, handler_context& ctx) {
    h.record_effect(ctx, d.message.key);
    ctx.publish(msg("c.next", d.message.key));
    return handler_result::commit();
  });
  h.in_transaction([](auto& p) {
    for (int i = 0; i < 40; ++i)
      p.publish(msg("c.commit", "m" + std::to_string(i)));
  });
  auto c = h.make_consumer(fast("c.commit"), r);
  c->start();
  REQUIRE(wait_until([&] { return stats_of(h, "c.commit").processed == 40; }, 10s));
  c->stop(1s);
  auto s = stats_of(h, "c.commit");
  CHECK(s.ready == 0);
  CHECK(s.retried == 0);
  CHECK(stats_of(h, "c.next").ready == 40);
  auto effects = h.effects();
  CHECK(effects.size() == 40);
  for (auto& [tag, n] : effects)
    CHECK(n == 1);
  CHECK(c->counts().processed == 40);
}

TEMPLATE_TEST_CASE("retry backs off and counts attempts, then dead-letters when attempts run out",
                   "[messaging][conformance]", memory_harness, log_harness) {
  TestType h;
  recorder r([&](const delivery& d, handler_context& ctx) {
    h.record_effect(ctx, d.message.key + "#" + std::to_string(d.message.attempt));
    ctx.publish(msg("c.retry.next", d.message.key + "#" + std::to_string(d.message.attempt)));
    if (d.message.key == "poison")
      throw std::runtime_error("boom");
    if (d.message.key == "flaky" && d.message.attempt < 3)
      return handler_result::retry("not yet");
    return handler_result::commit();
  });
  auto o = fast("c.retry");
  o.retry = {3, 50ms, 2.0, 1000ms};
  o.random = [] { return 0.999; };  // pin the jitter near its ceiling: 50 ms, then 100 ms
  h.in_transaction([](auto& p) {
    p.publish(msg("c.retry", "flaky"));
    p.publish(msg("c.retry", "poison"));
  });
  auto c = h.make_consumer(o, r);
  c->start();
  REQUIRE(wait_until(
      [&] {
        auto s = stats_of(h, "c.retry");
        return s.processed == 1 && s.dead == 1;
      },
      10s));
  c->stop(1s);
  CHECK(r.attempts("flaky") == std::vector<int>{1, 2, 3});
  CHECK(r.attempts("poison") == std::vector<int>{1, 2, 3});
  auto t = r.times("flaky");
  REQUIRE(t.size() == 3);
  CHECK(t[1] - t[0] >= 45ms);
  CHECK(t[2] - t[1] >= 95ms);
  auto s = stats_of(h, "c.retry");
  CHECK(s.retried == 4);
  CHECK(s.dead_lettered == 1);
  CHECK(s.ready + s.delayed == 0);
  // Only the committed attempt left a side effect and a next message.
  auto effects = h.effects();
  CHECK(effects.size() == 1);
  CHECK(effects.count("flaky#3") == 1);
  CHECK(stats_of(h, "c.retry.next").ready == 1);

  auto dead = h.admin().list_dead_letters(std::string("c.retry"), 10);
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].message.key == "poison");
  CHECK(dead[0].message.attempt == 3);
  CHECK(dead[0].queue == "c.retry");
  CHECK(dead[0].reason.find("attempts exhausted") != std::string::npos);
  CHECK(dead[0].last_error == "boom");
  CHECK(dead[0].first_seen <= dead[0].last_seen);
}

TEMPLATE_TEST_CASE("reject dead-letters at once, and dead letters can be shown, redriven and purged",
                   "[messaging][conformance]", memory_harness, log_harness) {
  TestType h;
  std::atomic<bool> rejecting{true};
  recorder r([&](const delivery&, handler_context&) {
    return rejecting ? handler_result::reject("bad data: field x") : handler_result::commit();
  });
  h.in_transaction([](auto& p) {
    for (int i = 0; i < 3; ++i)
      p.publish(msg("c.reject", "r" + std::to_string(i)));
  });
  auto c = h.make_consumer(fast("c.reject"), r);
  c->start();
  REQUIRE(wait_until([&] { return stats_of(h, "c.reject").dead == 3; }, 10s));
  CHECK(r.deliveries() == 3);  // rejected at the first attempt, never retried
  auto dead = h.admin().list_dead_letters(std::nullopt, 10);
  REQUIRE(dead.size() == 3);
  auto shown = h.admin().show_dead_letter(dead[0].message.message_id);
  REQUIRE(shown.has_value());
  CHECK(shown->reason == "bad data: field x");
  CHECK(shown->message.attempt == 1);
  CHECK(shown->message.payload == dead[0].message.payload);

  rejecting = false;
  REQUIRE(h.admin().redrive(dead[0].message.message_id).has_value());
  REQUIRE(wait_until([&] { return stats_of(h, "c.reject").processed == 1; }, 10s));
  CHECK(r.attempts(dead[0].message.key) == std::vector<int>{1, 1});  // redriven with a fresh count
  CHECK(h.admin().redrive_all("c.reject") == 2);
  REQUIRE(wait_until([&] { return stats_of(h, "c.reject").processed == 3; }, 10s));
  CHECK(stats_of(h, "c.reject").dead == 0);

  rejecting = true;
  h.in_transaction([](auto& p) {
    p.publish(msg("c.reject", "again1"));
    p.publish(msg("c.reject", "again2"));
  });
  REQUIRE(wait_until([&] { return stats_of(h, "c.reject").dead == 2; }, 10s));
  c->stop(1s);
  CHECK(h.admin().purge_dead_letters(std::string("c.reject")) == 2);
  CHECK(stats_of(h, "c.reject").dead == 0);
  auto missing = h.admin().show_dead_letter(dead[0].message.message_id);
  REQUIRE(missing.has_error());
  CHECK(missing.error().code == bkr::messaging::errc::not_found);
  CHECK(h.admin().redrive(dead[0].message.message_id).has_error());
}

TEMPLATE_TEST_CASE("peek lists the messages not consumed yet, ready and delayed, in the order enqueued",
                   "[messaging][conformance]", memory_harness, log_harness) {
  TestType h;
  auto keys = [](const std::vector<bkr::messaging::waiting_message>& waiting) {
    std::vector<std::string> out;
    for (const auto& w : waiting)
      out.push_back(w.message.key);
    return out;
  };
  h.in_transaction([](auto& p) { p.publish(msg("c.peek", "a")); });
  h.in_transaction([](auto& p) { p.publish(msg("c.peek", "b")); });
  h.in_transaction([](auto& p) { p.publish(msg("c.peek", "later", 1h)); });
  auto w = h.admin().peek("c.peek", 10);
  REQUIRE(keys(w) == std::vector<std::string>{"a", "b", "later"});
  for (const auto& m : w) {
    CHECK(m.queue == "c.peek");
    CHECK(m.message.attempt == 0);
    CHECK(m.last_error.empty());
  }
  CHECK(w[0].message.payload == nlohmann::json{{"n", "a"}});
  CHECK(w[0].message.trace_id == "trace-a");
  CHECK_FALSE(w[0].delayed);
  CHECK(w[0].run_at == w[0].enqueued_at);
  CHECK(w[2].delayed);
  CHECK(w[2].run_at - w[2].enqueued_at >= 59min);
  CHECK(keys(h.admin().peek("c.peek", 2)) == std::vector<std::string>{"a", "b"});
  CHECK(h.admin().peek("c.peek-empty", 10).empty());

  // Consumed: "a" is gone, "b" waits for its retry with the attempt it spent and its error.
  recorder r([](const delivery& d, handler_context&) {
    return d.message.key == "b" ? handler_result::retry("not yet", 1h) : handler_result::commit();
  });
  auto o = fast("c.peek");
  o.retry.cap = 2h;
  auto c = h.make_consumer(o, r);
  c->start();
  REQUIRE(wait_until([&] { return r.deliveries() == 2 && stats_of(h, "c.peek").retried == 1; }, 10s));
  CHECK(stats_of(h, "c.peek").processed == 1);
  c->stop(1s);
  w = h.admin().peek("c.peek", 10);
  REQUIRE(keys(w) == std::vector<std::string>{"b", "later"});
  CHECK(w[0].delayed);
  CHECK(w[0].message.attempt == 1);
  CHECK(w[0].last_error == "not yet");
  CHECK(w[0].run_at - w[0].enqueued_at >= 59min);
  CHECK(w[1].message.attempt == 0);
}

TEMPLATE_TEST_CASE("a paused queue is not consumed, purge drops its ready messages, stats report age",
                   "[messaging][conformance]", memory_harness, log_harness) {
  TestType h;
  recorder r;
  h.admin().pause("c.pause");
  auto c = h.make_consumer(fast("c.pause"), r);
  c->start();
  h.in_transaction([](auto& p) {
    for (int i = 0; i < 5; ++i)
      p.publish(msg("c.pause", "x" + std::to_string(i)));
  });
  // A negative can only be observed over time: several claim rounds pass while paused.
  std::this_thread::sleep_for(300ms);
  CHECK(r.deliveries() == 0);
  auto s = stats_of(h, "c.pause");
  CHECK(s.paused);
  CHECK(s.ready == 5);
  REQUIRE(s.oldest_ready_age.has_value());
  CHECK(*s.oldest_ready_age >= 250ms);
  CHECK(h.admin().purge_queue("c.pause") == 5);
  CHECK(stats_of(h, "c.pause").ready == 0);
  h.admin().resume("c.pause");
  h.in_transaction([](auto& p) { p.publish(msg("c.pause", "after")); });
  REQUIRE(wait_until([&] { return r.deliveries() == 1; }, 10s));
  CHECK(r.order() == std::vector<std::string>{"after"});
  CHECK_FALSE(stats_of(h, "c.pause").paused);
  c->stop(1s);
}

TEMPLATE_TEST_CASE("several consumers on one queue never process a message twice while leases hold",
                   "[messaging][conformance]", memory_harness, log_harness) {
  TestType h;
  // The first handlers wait (at most 10 s) until a second consumer thread is handling too, so the check that
  // work was shared does not depend on how fast one consumer could drain the queue alone.
  std::mutex seen_mutex;
  std::condition_variable seen_cv;
  std::set<std::thread::id> seen_threads;
  recorder r([&](const delivery& d, handler_context& ctx) {
    {
      std::unique_lock lock(seen_mutex);
      seen_threads.insert(std::this_thread::get_id());
      seen_cv.notify_all();
      seen_cv.wait_for(lock, 10s, [&] { return seen_threads.size() >= 2; });
    }
    h.record_effect(ctx, d.message.key);
    return handler_result::commit();
  });
  constexpr int total = 600;
  REQUIRE(h.set_partitions("c.many", 4));  // consumers share a queue by partitions
  std::vector<std::unique_ptr<bkr::messaging::consumer>> consumers;
  for (int i = 0; i < 4; ++i) {
    auto o = fast("c.many");
    o.batch_size = 8;
    o.lease = 30s;
    consumers.push_back(h.make_consumer(o, r));
  }
  for (auto& c : consumers)
    c->start();
  h.wait_shared(consumers);
  h.in_transaction([](auto& p) {
    std::vector<bkr::messaging::outgoing_message> many;
    for (int i = 0; i < total; ++i)
      many.push_back(msg("c.many", "m" + std::to_string(i)));
    p.publish_many(std::move(many));
  });
  REQUIRE(wait_until([&] { return stats_of(h, "c.many").processed == total; }, 30s));
  for (auto& c : consumers)
    c->stop(1s);
  auto all = r.all();
  CHECK(all.size() == total);
  std::size_t twice = 0;
  for (auto& [key, attempts] : all)
    twice += attempts.size() != 1 ? 1 : 0;
  CHECK(twice == 0);
  auto effects = h.effects();
  CHECK(effects.size() == total);
  for (auto& [tag, n] : effects)
    CHECK(n == 1);
  std::size_t consumers_used = 0;
  for (auto& c : consumers)
    consumers_used += c->counts().processed > 0 ? 1 : 0;
  CHECK(consumers_used >= 2);
}

TEMPLATE_TEST_CASE("graceful stop hands back unstarted messages without spending an attempt",
                   "[messaging][conformance]", memory_harness, log_harness) {
  TestType h;
  std::atomic<bool> started{false};
  recorder r([&](const delivery&, handler_context& ctx) {
    started = true;
    wait_until([&] { return ctx.stop_requested(); }, 10s);
    return handler_result::commit();
  });
  h.in_transaction([](auto& p) {
    for (int i = 0; i < 10; ++i)
      p.publish(msg("c.stop", "s" + std::to_string(i)));
  });
  auto o = fast("c.stop");
  o.batch_size = 10;
  auto c = h.make_consumer(o, r);
  c->start();
  REQUIRE(wait_until([&] { return started.load(); }, 10s));
  auto before = std::chrono::steady_clock::now();
  c->stop(200ms);
  CHECK(std::chrono::steady_clock::now() - before < 5s);
  CHECK(r.deliveries() == 1);
  auto s = stats_of(h, "c.stop");
  CHECK(s.processed == 1);
  CHECK(s.ready == 9);

  recorder next;
  auto c2 = h.make_consumer(fast("c.stop"), next);
  c2->start();
  REQUIRE(wait_until([&] { return next.deliveries() == 9; }, 10s));
  c2->stop(1s);
  for (auto& [key, attempts] : next.all())
    CHECK(attempts == std::vector<int>{1});
}

TEMPLATE_TEST_CASE("stopping between batches hands back every unstarted message without spending an attempt",
                   "[messaging][conformance]", memory_harness, log_harness) {
  // While work flows a backend may claim the next batch before the current one is settled (the Postgres
  // backend claims it in the settlement transaction); a stop in between must hand that batch back too.
  TestType h;
  std::atomic<bool> release{false};
  std::atomic<int> hooks{0};
  recorder r([&](const delivery&, handler_context& ctx) {
    ctx.after_commit([&] {
      if (hooks++ == 0)
        wait_until([&] { return release.load(); }, 10s);  // parks the consumer right after its first batch
    });
    return handler_result::commit();
  });
  h.in_transaction([](auto& p) {
    for (int i = 0; i < 20; ++i)
      p.publish(msg("c.stop-next", "n" + std::to_string(i)));
  });
  auto o = fast("c.stop-next");
  o.batch_size = 5;
  auto c = h.make_consumer(o, r);
  c->start();
  REQUIRE(wait_until([&] { return hooks.load() > 0; }, 10s));
  std::thread stopper([&] { c->stop(1s); });
  release = true;
  stopper.join();
  auto s = stats_of(h, "c.stop-next");
  CHECK(s.processed == r.deliveries());
  CHECK(s.processed + s.ready == 20);

  recorder next;
  auto c2 = h.make_consumer(fast("c.stop-next"), next);
  c2->start();
  REQUIRE(wait_until([&] { return next.deliveries() == s.ready; }, 10s));
  c2->stop(1s);
  for (auto& [key, attempts] : next.all())
    CHECK(attempts == std::vector<int>{1});
  CHECK(stats_of(h, "c.stop-next").processed == 20);
}

TEMPLATE_TEST_CASE("a publish wakes an idle consumer at once and polling alone also delivers",
                   "[messaging][conformance]", memory_harness, log_harness) {
  TestType h;
  recorder woken, polled;
  auto o = fast("c.wake");
  o.poll_min = 3s;  // an idle consumer would otherwise sleep for seconds
  o.poll_max = 3s;
  o.reap_interval = 3s;  // each reap is followed by a claim: it must not stand in for the wake-up
  auto c = h.make_consumer(o, woken);
  c->start();
  std::this_thread::sleep_for(100ms);  // let it go idle
  auto published = std::chrono::steady_clock::now();
  h.in_transaction([](auto& p) { p.publish(msg("c.wake", "ping")); });
  REQUIRE(wait_until([&] { return woken.deliveries() == 1; }, 10s));
  CHECK(woken.times("ping").at(0) - published < 1s);
  c->stop(1s);

  auto po = fast("c.poll");
  po.poll_min = 50ms;
  po.poll_max = 200ms;
  auto p = h.make_consumer(po, polled, false);
  p->start();
  std::this_thread::sleep_for(300ms);
  h.in_transaction([](auto& tx) { tx.publish(msg("c.poll", "quiet")); });
  REQUIRE(wait_until([&] { return polled.deliveries() == 1; }, 5s));
  p->stop(1s);
}

TEMPLATE_TEST_CASE("a handler's publish wakes the next queue's idle consumer at once",
                   "[messaging][conformance]", memory_harness, log_harness) {
  TestType h;
  recorder downstream;
  recorder upstream([](const delivery& d, handler_context& ctx) {
    ctx.publish(msg("c.hop-b", d.message.key));
    return handler_result::commit();
  });
  auto slow = fast("c.hop-b");
  slow.poll_min = 3s;  // polling alone would take seconds
  slow.poll_max = 3s;
  slow.reap_interval = 3s;
  auto b = h.make_consumer(slow, downstream);
  auto a = h.make_consumer(fast("c.hop-a"), upstream);
  b->start();
  a->start();
  std::this_thread::sleep_for(200ms);  // both idle
  h.in_transaction([](auto& p) { p.publish(msg("c.hop-a", "hop")); });
  REQUIRE(wait_until([&] { return upstream.deliveries() == 1; }, 5s));
  const auto handed_on = upstream.times("hop").at(0);
  REQUIRE(wait_until([&] { return downstream.deliveries() == 1; }, 10s));
  CHECK(downstream.times("hop").at(0) - handed_on < 1s);
  a->stop(1s);
  b->stop(1s);
}

TEMPLATE_TEST_CASE("an idle consumer backs off instead of polling an empty queue", "[messaging][conformance]",
                   memory_harness, log_harness) {
  TestType h;
  recorder r;
  auto o = fast("c.idle");  // idle waits 5 ms doubling to 100 ms; reaping every 100 ms
  auto c = h.make_consumer(o, r);
  c->start();
  std::this_thread::sleep_for(1s);
  const auto idle = c->counts().polls;
  // Backing off, one second holds about 15 rounds; a consumer told that something is due at once on an
  // empty queue claims every millisecond (hundreds of rounds).
  CHECK(idle >= 3);
  CHECK(idle <= 40);
  // Backing off must not cost the first message its wake-up.
  h.in_transaction([](auto& p) { p.publish(msg("c.idle", "after-idle")); });
  REQUIRE(wait_until([&] { return r.deliveries() == 1; }, 5s));
  c->stop(1s);
}

TEMPLATE_TEST_CASE("a postponed message comes back after its delay without spending attempts",
                   "[messaging][conformance]", memory_harness, log_harness) {
  TestType h;
  // Postponed more often than the policy allows attempts (5): it is never dead-lettered for it.
  std::atomic<int> postponed{0};
  recorder r([&](const delivery&, handler_context&) {
    if (postponed < 8) {
      ++postponed;
      return handler_result::postpone("dependency down", 30ms);
    }
    return handler_result::commit();
  });
  h.in_transaction([](auto& p) { p.publish(msg("c.postpone", "wait")); });
  auto c = h.make_consumer(fast("c.postpone"), r);
  c->start();
  REQUIRE(wait_until([&] { return r.deliveries() == 9; }, 20s));
  REQUIRE(wait_until([&] { return stats_of(h, "c.postpone").processed == 1; }, 10s));
  c->stop(1s);
  CHECK(r.attempts("wait") == std::vector<int>(9, 1));
  const auto times = r.times("wait");
  for (std::size_t i = 1; i < times.size(); ++i)
    CHECK(times[i] - times[i - 1] >= 25ms);
  const auto s = stats_of(h, "c.postpone");
  CHECK(s.dead == 0);
  CHECK(s.ready + s.delayed == 0);
}

TEMPLATE_TEST_CASE("a failed write undoes that message's attempt only, and the rest of the batch commits",
                   "[messaging][conformance]", memory_harness, log_harness) {
  TestType h;
  recorder r([&](const delivery& d, handler_context& ctx) {
    h.record_effect(ctx, d.message.key + "#" + std::to_string(d.message.attempt));
    ctx.publish(msg("c.undo.next", d.message.key + "#" + std::to_string(d.message.attempt)));
    if (d.message.key == "odd" && d.message.attempt == 1)
      h.failing_write(ctx);  // throws
    return handler_result::commit();
  });
  h.in_transaction([](auto& p) {
    p.publish(msg("c.undo", "a"));
    p.publish(msg("c.undo", "odd"));
    p.publish(msg("c.undo", "b"));
  });
  auto c = h.make_consumer(fast("c.undo"), r);
  c->start();
  REQUIRE(wait_until([&] { return stats_of(h, "c.undo").processed == 3; }, 10s));
  c->stop(1s);
  // A backend may run a batch's other handlers again after one failed (Postgres rolls the batch back and
  // replays it), but never spends their attempt and never commits their effects twice.
  for (const char* key : {"a", "b"}) {
    auto attempts = r.attempts(key);
    REQUIRE_FALSE(attempts.empty());
    for (int a : attempts)
      CHECK(a == 1);
  }
  auto odd = r.attempts("odd");
  REQUIRE(odd.size() == 2);
  CHECK(odd == std::vector<int>{1, 2});
  auto effects = h.effects();
  CHECK(effects == std::map<std::string, int>{{"a#1", 1}, {"b#1", 1}, {"odd#2", 1}});
  CHECK(stats_of(h, "c.undo.next").ready == 3);
  CHECK(stats_of(h, "c.undo").retried == 1);
}

namespace {

/// Blocks in prepare() on its first batch until released, then commits with an effect and a publish.
template <class H>
class slow_preparer final : public bkr::messaging::handler {
 public:
  slow_preparer(H& h, std::string tag) : h_(h), tag_(std::move(tag)) {}
  void prepare(std::span<const delivery>) override {
    std::unique_lock lock(m_);
    started_ = true;
    cv_.notify_all();
    cv_.wait_for(lock, 20s, [&] { return released_; });
  }
  handler_result handle(const delivery& d, handler_context& ctx) override {
    {
      std::lock_guard lock(m_);
      attempts_.push_back(d.message.attempt);
    }
    h_.record_effect(ctx, tag_);
    ctx.publish(msg("c.stale.next", "from-" + tag_));
    return handler_result::commit();
  }
  std::vector<int> attempts() {
    std::lock_guard lock(m_);
    return attempts_;
  }
  bool wait_started() {
    std::unique_lock lock(m_);
    return cv_.wait_for(lock, 10s, [&] { return started_; });
  }
  void release() {
    {
      std::lock_guard lock(m_);
      released_ = true;
    }
    cv_.notify_all();
  }

 private:
  H& h_;
  std::string tag_;
  std::vector<int> attempts_;
  std::mutex m_;
  std::condition_variable cv_;
  bool started_ = false, released_ = false;
};

}  // namespace
