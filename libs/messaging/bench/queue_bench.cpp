// Load driver for bench/queue.sh: bulk and transactional enqueue, no-op processing, idle enqueue-to-start
// latency, and recovery of a SIGKILLed consumer's messages. Prints one `key=value` line per measurement.
#include "bkr/messaging/postgres/consumer.hpp"
#include "bkr/messaging/postgres/notifier.hpp"
#include "bkr/messaging/postgres/publisher.hpp"
#include "bkr/storage/unit_of_work.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <iostream>
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

double seconds_since(steady::time_point t) {
  return std::chrono::duration<double>(steady::now() - t).count();
}

long remaining(bkr::storage::connection_pool& pool, const std::string& queue) {
  auto lease = pool.acquire();
  pqxx::read_transaction tx(lease.conn());
  return tx.exec_params("SELECT count(*) FROM mq.messages WHERE queue = $1", queue)[0][0].as<long>();
}

void bulk_load(bkr::storage::connection_pool& pool, const std::string& queue, long n, bool copy) {
  constexpr long chunk = 10000;
  for (long done = 0; done < n; done += chunk) {
    std::vector<mq::outgoing_message> batch;
    for (long i = done; i < std::min(n, done + chunk); ++i)
      batch.push_back(make(queue, i));
    bkr::storage::unit_of_work uow(pool);
    if (copy)
      mq::postgres::copy_messages(uow.tx(), batch);
    else
      mq::postgres::insert_messages(uow.tx(), batch);
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

/// Drains `queue` with `consumers` consumers in this process; returns seconds until empty.
double drain(const std::string& conninfo, const std::string& queue, int consumers, long expected) {
  bkr::storage::connection_pool pool({conninfo, static_cast<std::size_t>(consumers + 1), 10s});
  std::atomic<long> handled{0};
  mq::function_handler h([&](const mq::delivery&, mq::handler_context&) {
    handled.fetch_add(1, std::memory_order_relaxed);
    return mq::handler_result::commit();
  });
  std::vector<std::unique_ptr<mq::postgres::consumer>> cs;
  for (int i = 0; i < consumers; ++i)
    cs.push_back(std::make_unique<mq::postgres::consumer>(pool, bench_options(queue), h));
  auto t0 = steady::now();
  for (auto& c : cs)
    c->start();
  while (remaining(pool, queue) > 0)
    std::this_thread::sleep_for(5ms);
  double s = seconds_since(t0);
  for (auto& c : cs)
    c->stop(1s);
  (void)expected;
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
      long n = arg(3);
      bkr::storage::connection_pool pool({conninfo, 2, 10s});
      auto t0 = steady::now();
      bulk_load(pool, "bench.bulk", n, true);
      double copy_rate = static_cast<double>(n) / seconds_since(t0);
      t0 = steady::now();
      bulk_load(pool, "bench.bulk-insert", n, false);
      double insert_rate = static_cast<double>(n) / seconds_since(t0);
      std::printf("bulk_copy_per_s=%.0f bulk_insert_per_s=%.0f\n", copy_rate, insert_rate);
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
            mq::postgres::publisher pub(uow);
            pub.publish(make("bench.single", i));
            uow.commit();
          }
        });
      for (auto& t : ts)
        t.join();
      std::printf("single_enqueue_per_s=%.0f\n", static_cast<double>(n) / seconds_since(t0));
    } else if (mode == "process") {
      long n = arg(3), consumers = arg(4);
      bkr::storage::connection_pool pool({conninfo, 2, 10s});
      bulk_load(pool, "bench.process", n, true);
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
      std::vector<double> lat;
      mq::function_handler h([&](const mq::delivery&, mq::handler_context&) {
        auto now = steady::now().time_since_epoch().count();
        std::lock_guard lock(m);
        lat.push_back(static_cast<double>(now - published_ns.load()) / 1e6);
        return mq::handler_result::commit();
      });
      auto o = bench_options("bench.latency");
      o.poll_min = 1000ms;  // idle: rely on LISTEN/NOTIFY, the backstop is 1 s
      o.poll_max = 1000ms;
      mq::postgres::consumer c(pool, o, h, &notifier);
      c.start();
      std::this_thread::sleep_for(200ms);
      for (long i = 0; i < samples; ++i) {
        bkr::storage::unit_of_work uow(pool);
        mq::postgres::publisher pub(uow);
        pub.publish(make("bench.latency", i));
        published_ns = steady::now().time_since_epoch().count();
        uow.commit();
        auto until = steady::now() + 5s;
        while (steady::now() < until) {
          {
            std::lock_guard lock(m);
            if (static_cast<long>(lat.size()) > i)
              break;
          }
          std::this_thread::sleep_for(100us);
        }
        std::this_thread::sleep_for(20ms);  // idle queue between samples
      }
      c.stop(1s);
      notifier.stop();
      std::sort(lat.begin(), lat.end());
      auto pct = [&](double p) {
        return lat.empty() ? -1.0
                           : lat[std::min(lat.size() - 1,
                                          static_cast<std::size_t>(p * static_cast<double>(lat.size())))];
      };
      std::printf("start_p50_ms=%.2f start_p99_ms=%.2f start_max_ms=%.2f samples=%zu\n", pct(0.5), pct(0.99),
                  lat.empty() ? -1.0 : lat.back(), lat.size());
    } else if (mode == "hang") {
      // Claims one batch and never settles it; the parent SIGKILLs this process.
      bkr::storage::connection_pool pool({conninfo, 2, 10s});
      mq::function_handler h([](const mq::delivery&, mq::handler_context&) {
        std::cout << "handling" << std::endl;
        for (;;)
          std::this_thread::sleep_for(1h);
        return mq::handler_result::commit();
      });
      mq::postgres::consumer c(pool, bench_options(argv[3]), h);
      c.start();
      for (;;)
        std::this_thread::sleep_for(1h);
    } else if (mode == "recovery") {
      long n = arg(3);
      bkr::storage::connection_pool pool({conninfo, 3, 10s});
      bulk_load(pool, "bench.recovery", n, true);
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
      // Production defaults: 5 s lease, reaper every second.
      std::atomic<long> handled{0};
      mq::function_handler h([&](const mq::delivery&, mq::handler_context&) {
        ++handled;
        return mq::handler_result::commit();
      });
      mq::consumer_options o;
      o.queue = "bench.recovery";
      o.batch_size = 500;
      mq::postgres::consumer c(pool, o, h);
      c.start();
      while (remaining(pool, "bench.recovery") > 0)
        std::this_thread::sleep_for(5ms);
      std::printf("recovery_s=%.2f\n", seconds_since(killed));
      c.stop(1s);
    } else {
      return usage();
    }
  } catch (const std::exception& e) {
    std::cerr << "bkr_mq_bench " << mode << ": " << e.what() << "\n";
    return 1;
  }
  return 0;
}
