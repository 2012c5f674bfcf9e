// A real consumer process for the kill test: claims one batch, announces each message it starts on
// stdout, and never finishes, so the test can SIGKILL it while it holds leases mid-batch.
//   bkr_mq_test_consumer CONNINFO QUEUE BATCH_SIZE LEASE_MS
#include "bkr/messaging/postgres/consumer.hpp"

#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: bkr_mq_test_consumer CONNINFO QUEUE BATCH_SIZE LEASE_MS\n";
    return 2;
  }
  bkr::storage::connection_pool pool({argv[1], 2, std::chrono::milliseconds{5000}});
  bkr::messaging::function_handler h([](const bkr::messaging::delivery& d, bkr::messaging::handler_context&) {
    std::cout << "handling " << d.message.message_id << " attempt " << d.message.attempt << std::endl;
    for (;;)
      std::this_thread::sleep_for(std::chrono::hours{1});
    return bkr::messaging::handler_result::commit();
  });
  bkr::messaging::consumer_options o;
  o.queue = argv[2];
  o.batch_size = std::stoul(argv[3]);
  o.lease = std::chrono::milliseconds{std::stol(argv[4])};
  o.poll_min = std::chrono::milliseconds{5};
  o.poll_max = std::chrono::milliseconds{50};
  bkr::messaging::postgres::consumer c(pool, o, h);
  c.start();
  for (;;)
    std::this_thread::sleep_for(std::chrono::hours{1});
}
