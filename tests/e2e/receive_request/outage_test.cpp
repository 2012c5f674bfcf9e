// Postgres stopped under load -> 503 with Retry-After, never a 202 -> Postgres started -> 202 again, by
// itself.
#include "http_call.hpp"
#include "openapi_contract.hpp"
#include "process.hpp"
#include "queue_rows.hpp"
#include "service_fixture.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

using namespace bkr::rr_test;
using namespace std::chrono_literals;

namespace {

constexpr const char* post_route = "/api/backup-requests";

/// A Postgres cluster of this test only, which it may stop and start
/// (tests/support/private_pg.sh).
class private_cluster {
 public:
  private_cluster() : dir_("/tmp/bkr-rr-outage-" + std::to_string(::getpid())) {
    run("init", {bkr::test::built_executable("tools/bkrctl/bkrctl")});
    std::ifstream in(dir_ + "/conninfo");
    std::getline(in, conninfo_);
    REQUIRE(!conninfo_.empty());
  }
  ~private_cluster() { bkr::test::run_process({"/bin/bash", script(), "destroy", dir_}); }
  private_cluster(const private_cluster&) = delete;
  private_cluster& operator=(const private_cluster&) = delete;

  const std::string& conninfo() const { return conninfo_; }
  void stop() { run("stop"); }
  void start() { run("start"); }

 private:
  static std::string script() {
    return std::string(std::getenv("BKR_SOURCE_DIR")) + "/tests/support/private_pg.sh";
  }
  void run(const std::string& cmd, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{"/bin/bash", script(), cmd, dir_};
    argv.insert(argv.end(), extra.begin(), extra.end());
    const auto r = bkr::test::run_process(argv, {}, 120s);
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
  }

  std::string dir_;
  std::string conninfo_;
};

}  // namespace

TEST_CASE("Postgres stopped: 503 with Retry-After and never a 202, then started again: 202 without a restart",
          "[receive_request][e2e][outage]") {
  private_cluster pg;
  seed_clients(pg.conninfo());
  auto env = service_environment(pg.conninfo());
  env["BKR_GROUP_COMMIT_TIMEOUT"] = std::string("1s");
  env["BKR_DATABASE_HEALTH_INTERVAL"] = std::string("200ms");
  service_process svc(env);
  const std::string token = token_for(client_a);

  auto post = [&](http_connection& c, const std::string& tag) {
    return c.request("POST", post_route, json_headers(token), accept_body("job-1", "/outage/" + tag));
  };
  http_connection probe(svc.port());
  REQUIRE(post(probe, "before").status == 202);

  // Background load through the whole outage: every answer is 202 or 503, and every 202 is kept.
  std::atomic<bool> stop_load{false};
  std::mutex mutex;
  std::set<std::string> accepted;
  std::map<unsigned, int> statuses;
  std::vector<std::thread> load;
  for (int t = 0; t < 4; ++t) {
    load.emplace_back([&, t] {
      std::unique_ptr<http_connection> c;
      for (int i = 0; !stop_load; ++i) {
        try {
          if (!c)
            c = std::make_unique<http_connection>(svc.port());
          const auto r = post(*c, std::to_string(t) + "-" + std::to_string(i));
          std::lock_guard lock(mutex);
          ++statuses[r.status];
          if (r.status == 202)
            accepted.insert(r.json().at("backupRequestId").get<std::string>());
        } catch (const std::exception&) {
          c.reset();  // the server closed the connection; open another
        }
      }
    });
  }
  REQUIRE(eventually([&] {
    std::lock_guard lock(mutex);
    return accepted.size() >= 20;
  }));

  pg.stop();
  // Within the health interval plus one commit deadline the service answers 503.
  reply unavailable;
  REQUIRE(eventually(
      [&] {
        unavailable = post(probe, "during");
        return unavailable.status == 503;
      },
      15s));
  CHECK(unavailable.json().at("code") == "Unavailable");
  CHECK(unavailable.has_header("retry-after"));
  require_conforms("POST", post_route, unavailable);
  const auto not_ready = http_call(svc.ops_port(), "GET", "/readyz");
  CHECK(not_ready.status == 503);
  CHECK(not_ready.json().at("failing") == nlohmann::json::array({"postgres"}));

  // While it is down, nothing is accepted.
  for (int i = 0; i < 20; ++i) {
    const auto r = post(probe, "down-" + std::to_string(i));
    CHECK(r.status == 503);
  }

  pg.start();
  REQUIRE(eventually([&] { return post(probe, "after").status == 202; }, 20s));
  CHECK(eventually([&] { return http_call(svc.ops_port(), "GET", "/readyz").status == 200; }, 10s));

  stop_load = true;
  for (auto& t : load)
    t.join();
  INFO("statuses under load: " << nlohmann::json(statuses).dump());
  for (const auto& [status, count] : statuses)
    CHECK((status == 202 || status == 503));
  CHECK(statuses[503] > 0);

  // Every 202 given by the load threads, before, during or after the outage, has its message.
  const auto messages = queued_messages(pg.conninfo());
  std::set<std::string> stored;
  for (const auto& m : messages)
    stored.insert(m.message_id);
  for (const auto& id : accepted) {
    INFO(id);
    CHECK(stored.count(id) == 1);
  }

  svc.signal(SIGTERM);
  CHECK(svc.wait_exit(20s) == std::optional<int>(0));
}
