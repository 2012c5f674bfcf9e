// A real consumer process for the conformance suite's process tests.
//   bkr_mq_test_consumer CONNINFO QUEUE BATCH_SIZE LEASE_MS [MODE]
// MODE absent: a consumer that announces each message it starts ("handling ...") and never finishes, so
// the test can SIGKILL it mid-batch. "stall": a consumer whose prepare() announces "preparing" and waits
// 3 s (the test stops the process meanwhile), whose handler then records the effect "zombie" and publishes
// to QUEUE.next. Either prints "lost N" / "processed N" whenever its counts change.
#include "bkr/messaging/postgres/log.hpp"
#include "bkr/storage/unit_of_work.hpp"

#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>

namespace {

class stalling_handler final : public bkr::messaging::handler {
 public:
  explicit stalling_handler(std::string queue) : queue_(std::move(queue)) {}
  void prepare(std::span<const bkr::messaging::delivery>) override {
    std::cout << "preparing" << std::endl;
    std::this_thread::sleep_for(std::chrono::seconds{3});
  }
  bkr::messaging::handler_result handle(const bkr::messaging::delivery& d,
                                        bkr::messaging::handler_context& ctx) override {
    auto& uow = ctx.native<bkr::storage::unit_of_work>();
    uow.tx().exec0("INSERT INTO conformance_effects (tag) VALUES ('zombie')");
    auto next = d.message;
    next.message_id = "0190f0f0-0000-7000-8000-00000000000" + std::to_string(d.message.attempt % 10);
    ctx.publish({queue_ + ".next", next});
    return bkr::messaging::handler_result::commit();
  }

 private:
  std::string queue_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5 && argc != 6) {
    std::cerr << "usage: bkr_mq_test_consumer CONNINFO QUEUE BATCH_SIZE LEASE_MS [stall]\n";
    return 2;
  }
  const std::string mode = argc == 6 ? argv[5] : "";
  bkr::storage::connection_pool pool({argv[1], 2, std::chrono::milliseconds{5000}});
  bkr::messaging::function_handler forever(
      [](const bkr::messaging::delivery& d, bkr::messaging::handler_context&) {
        std::cout << "handling " << d.message.message_id << " attempt " << d.message.attempt << std::endl;
        for (;;)
          std::this_thread::sleep_for(std::chrono::hours{1});
        return bkr::messaging::handler_result::commit();
      });
  stalling_handler stalling(argv[2]);
  bkr::messaging::consumer_options o;
  o.queue = argv[2];
  o.batch_size = std::stoul(argv[3]);
  o.lease = std::chrono::milliseconds{std::stol(argv[4])};
  o.poll_min = std::chrono::milliseconds{5};
  o.poll_max = std::chrono::milliseconds{50};
  std::unique_ptr<bkr::messaging::consumer> c;
  bkr::messaging::postgres::log_consumer_options lo;
  lo.ownership_interval = std::chrono::milliseconds{100};
  if (mode.empty())
    c = std::make_unique<bkr::messaging::postgres::log_consumer>(pool, argv[1], o, forever, nullptr, lo);
  else if (mode == "stall")
    c = std::make_unique<bkr::messaging::postgres::log_consumer>(pool, argv[1], o, stalling, nullptr, lo);
  else {
    std::cerr << "unknown mode: " << mode << "\n";
    return 2;
  }
  c->start();
  bkr::messaging::consumer_counts last;
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
    auto now = c->counts();
    if (now.lease_lost != last.lease_lost)
      std::cout << "lost " << now.lease_lost << std::endl;
    if (now.processed != last.processed)
      std::cout << "processed " << now.processed << std::endl;
    last = now;
  }
}
