// Load driver for bench/queue.sh: bulk and transactional enqueue, no-op processing, idle enqueue-to-start
// latency, and recovery of a SIGKILLed consumer's messages. Prints one `key=value` line per measurement.
#include "bkr/messaging/postgres/log.hpp"
#include "bkr/messaging/postgres/notifier.hpp"
#include "bkr/storage/unit_of_work.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
namespace mq = bkr::messaging;
using steady = std::chrono::steady_clock;

namespace {

const bkr::system_clock wall;

mq::outgoing_message make(const std::string& queue, long i) {
  mq::outgoing_message m;
  m.queue = queue;
  m.message = mq::make_envelope("BenchMessage", "key-" + std::to_string(i),
                                {{"i", i}, {"pad", "0123456789abcdef"}}, "bench", "", wall);
  return m;
}

std::unique_ptr<mq::consumer> make_consumer(bkr::storage::connection_pool& pool, const std::string& conninfo,
                                            mq::consumer_options o, mq::handler& h,
                                            mq::postgres::notifier* wakeups = nullptr) {
  return std::make_unique<mq::postgres::log_consumer>(pool, conninfo, std::move(o), h, wakeups);
}

/// Publishes in `uow` (the doorbell rings after the commit).
void publish_one(bkr::storage::unit_of_work& uow, mq::outgoing_message m) {
  mq::postgres::log_publisher(uow).publish(std::move(m));
}

double seconds_since(steady::time_point t) {
  return std::chrono::duration<double>(steady::now() - t).count();
}

// Cheap emptiness probe for the drain loops: a count(*) every few milliseconds would itself take a core.
bool queue_empty(bkr::storage::connection_pool& pool, const std::string& queue) {
  auto s = mq::postgres::log_admin(pool).stats_of(queue);
  return s.ready + s.delayed == 0;
}

/// Appends `n` messages to `queue` in transactions of 10,000, one statement each.
void bulk_load(bkr::storage::connection_pool& pool, const std::string& queue, long n) {
  constexpr long chunk = 10000;
  for (long done = 0; done < n; done += chunk) {
    std::vector<mq::outgoing_message> batch;
    for (long i = done; i < std::min(n, done + chunk); ++i)
      batch.push_back(make(queue, i));
    bkr::storage::unit_of_work uow(pool);
    mq::postgres::append_to_log(uow.tx(), batch);
    uow.commit();
  }
}

mq::consumer_options bench_options(const std::string& queue) {
  mq::consumer_options o;
  o.queue = queue;
  o.batch_size = 500;
  o.poll_min = 1ms;
  o.poll_max = 100ms;
  return o;
}

/// Drains `queue` with `consumers` consumers in this process; returns seconds until empty. With `expected`
/// > 0 the end is when the consumers have settled that many messages (no polling of the database);
/// otherwise the queue is probed every 20 ms.
double drain(const std::string& conninfo, const std::string& queue, int consumers, long expected) {
  bkr::storage::connection_pool pool({conninfo, static_cast<std::size_t>(consumers + 1), 10s});
  mq::function_handler h(
      [&](const mq::delivery&, mq::handler_context&) { return mq::handler_result::commit(); });
  std::vector<std::unique_ptr<mq::consumer>> cs;
  for (int i = 0; i < consumers; ++i)
    cs.push_back(make_consumer(pool, conninfo, bench_options(queue), h));
  auto settled = [&] {
    long n = 0;
    for (auto& c : cs)
      n += static_cast<long>(c->counts().processed);
    return n;
  };
  auto t0 = steady::now();
  for (auto& c : cs)
    c->start();
  if (expected > 0) {
    while (settled() < expected)
      std::this_thread::sleep_for(1ms);
  } else {
    while (!queue_empty(pool, queue))
      std::this_thread::sleep_for(20ms);
  }
  double s = seconds_since(t0);
  for (auto& c : cs)
    c->stop(1s);
  return s;
}

int usage() {
  std::cerr << "usage: bkr_mq_bench CONNINFO bulk N | single N PRODUCERS | process N CONSUMERS | drain QUEUE "
               "CONSUMERS"
               " | latency SAMPLES | recovery N | hang QUEUE\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3)
    return usage();
  const std::string conninfo = argv[1], mode = argv[2];
  auto arg = [&](int i) { return argc > i ? std::stol(argv[i]) : 0L; };
  try {
    if (mode == "bulk") {
      // Timed into bench.bulk, then as much again into bench.drain (untimed) for the `drain` runs.
      long n = arg(3);
      bkr::storage::connection_pool pool({conninfo, 2, 10s});
      auto t0 = steady::now();
      bulk_load(pool, "bench.bulk", n);
      std::printf("bulk_append_per_s=%.0f\n", static_cast<double>(n) / seconds_since(t0));
      bulk_load(pool, "bench.drain", n);
    } else if (mode == "single") {
      long n = arg(3), producers = arg(4);
      bkr::storage::connection_pool pool({conninfo, static_cast<std::size_t>(producers), 10s});
      std::atomic<long> next{0};
      auto t0 = steady::now();
      std::vector<std::thread> ts;
      for (long p = 0; p < producers; ++p)
        ts.emplace_back([&] {
          for (long i = next++; i < n; i = next++) {
            bkr::storage::unit_of_work uow(pool);
            publish_one(uow, make("bench.single", i));
            uow.commit();
          }
        });
      for (auto& t : ts)
        t.join();
      std::printf("single_enqueue_per_s=%.0f\n", static_cast<double>(n) / seconds_since(t0));
    } else if (mode == "process") {
      long n = arg(3), consumers = arg(4);
      bkr::storage::connection_pool pool({conninfo, 2, 10s});
      bulk_load(pool, "bench.process", n);
      double s = drain(conninfo, "bench.process", static_cast<int>(consumers), n);
      std::printf("process_per_s=%.0f\n", static_cast<double>(n) / s);
    } else if (mode == "drain") {
      if (argc < 5)
        return usage();
      double s = drain(conninfo, argv[3], static_cast<int>(arg(4)), 0);
      std::printf("drain_s=%.3f\n", s);
    } else if (mode == "latency") {
      long samples = arg(3);
      bkr::storage::connection_pool pool({conninfo, 3, 10s});
      mq::postgres::notifier notifier(conninfo);
      notifier.start();
      notifier.wait_listening(10s);
      std::atomic<long long> published_ns{0};
      std::mutex m;
      std::condition_variable started;
      std::vector<double> lat, commit_ms;
      mq::function_handler h([&](const mq::delivery&, mq::handler_context&) {
        auto now = steady::now().time_since_epoch().count();
        {
          std::lock_guard lock(m);
          lat.push_back(static_cast<double>(now - published_ns.load()) / 1e6);
        }
        started.notify_one();
        return mq::handler_result::commit();
      });
      auto o = bench_options("bench.latency");
      o.poll_min = 1000ms;  // idle: rely on LISTEN/NOTIFY, the backstop is 1 s
      o.poll_max = 1000ms;
      auto consumer = make_consumer(pool, conninfo, o, h, &notifier);
      auto& c = *consumer;
      c.start();
      std::this_thread::sleep_for(500ms);
      for (long i = 0; i < samples; ++i) {
        bkr::storage::unit_of_work uow(pool);
        publish_one(uow, make("bench.latency", i));
        auto t0 = steady::now();
        published_ns = t0.time_since_epoch().count();
        uow.commit();
        // The producer's own commit (a WAL flush) is part of enqueue-to-start; reported for attribution.
        commit_ms.push_back(std::chrono::duration<double, std::milli>(steady::now() - t0).count());
        {
          std::unique_lock lock(m);
          started.wait_for(lock, 5s, [&] { return static_cast<long>(lat.size()) > i; });
        }
        std::this_thread::sleep_for(20ms);  // idle queue between samples
      }
      c.stop(1s);
      notifier.stop();
      auto pct = [](std::vector<double> v, double p) {
        std::sort(v.begin(), v.end());
        return v.empty()
                   ? -1.0
                   : v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
      };
      // Start minus the producer's commit: what the wake-up path (NOTIFY, LISTEN thread, claim) adds.
      std::vector<double> after;
      for (std::size_t i = 0; i < std::min(lat.size(), commit_ms.size()); ++i)
        after.push_back(lat[i] - commit_ms[i]);
      std::printf(
          "start_p50_ms=%.2f start_p99_ms=%.2f start_max_ms=%.2f samples=%zu commit_p50_ms=%.2f "
          "commit_p99_ms=%.2f after_commit_p50_ms=%.2f after_commit_p99_ms=%.2f\n",
          pct(lat, 0.5), pct(lat, 0.99), pct(lat, 1.0), lat.size(), pct(commit_ms, 0.5), pct(commit_ms, 0.99),
          pct(after, 0.5), pct(after, 0.99));
    } else if (mode == "hang") {
      // Claims one batch and never settles it; the parent SIGKILLs this process.
      bkr::storage::connection_pool pool({conninfo, 2, 10s});
      mq::function_handler h([](const mq::delivery&, mq::handler_context&) {
        std::cout << "handling" << std::endl;
        for (;;)
          std::this_thread::sleep_for(1h);
        return mq::handler_result::commit();
      });
      auto c = make_consumer(pool, conninfo, bench_options(argv[3]), h);
      c->start();
      for (;;)
        std::this_thread::sleep_for(1h);
    } else if (mode == "recovery") {
      long n = arg(3);
      bkr::storage::connection_pool pool({conninfo, 3, 10s});
      bulk_load(pool, "bench.recovery", n);
      int out[2];
      if (::pipe(out) != 0)
        return 1;
      pid_t pid = ::fork();
      if (pid == 0) {
        ::dup2(out[1], STDOUT_FILENO);
        ::close(out[0]);
        ::execl("/proc/self/exe", argv[0], conninfo.c_str(), "hang", "bench.recovery",
                static_cast<char*>(nullptr));
        _exit(127);
      }
      ::close(out[1]);
      char buf[64];
      if (::read(out[0], buf, sizeof buf) <= 0)
        return 1;
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      auto killed = steady::now();
      // Production defaults: the partition of the killed owner is taken at the next ownership check.
      std::atomic<long> handled{0};
      mq::function_handler h([&](const mq::delivery&, mq::handler_context&) {
        ++handled;
        return mq::handler_result::commit();
      });
      mq::consumer_options o;
      o.queue = "bench.recovery";
      o.batch_size = 500;
      auto c = make_consumer(pool, conninfo, o, h);
      c->start();
      while (!queue_empty(pool, "bench.recovery"))
        std::this_thread::sleep_for(5ms);
      std::printf("recovery_s=%.2f\n", seconds_since(killed));
      c->stop(1s);
    } else {
      return usage();
    }
  } catch (const std::exception& e) {
    std::cerr << "bkr_mq_bench " << mode << ": " << e.what() << "\n";
    return 1;
  }
  return 0;
}
