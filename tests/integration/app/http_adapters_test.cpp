// The HTTP adapters of the job service and backup interface ports against a real HTTP server and real
// Postgres, through the real stages: answer mapping, Idempotency-Key, and the circuit breaker with the claim
// gate.
#include "bkr/app/http_adapters.hpp"
#include "app_fixture.hpp"
#include "bkr/app/check_allowed.hpp"
#include "bkr/app/claim_gate.hpp"
#include "bkr/app/send_to_interface.hpp"
#include "bkr/common/ids.hpp"
#include "bkr/domain/json.hpp"
#include "bkr/http/router.hpp"
#include "bkr/http/server.hpp"

#include <catch2/catch.hpp>

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>

using namespace bkr;
using namespace bkr::test;
using domain::request_status;

namespace {

const std::string received_queue(domain::received_message.queue);
const std::string allowed_queue(domain::allowed_message.queue);

/// A stand-in for the job service and a backup interface: a real HTTP server answering with `status`.
class remote_service {
 public:
  remote_service() {
    http::router routes;
    routes.add(http::method::get, "/backup-jobs/{id}", std::bind_front(&remote_service::get_job, this));
    routes.add(http::method::post, "/store-requests", std::bind_front(&remote_service::post_store, this));
    server_ = std::make_unique<http::server>(http::server_options{}, std::move(routes), registry_, log_);
    server_->start();
  }
  ~remote_service() { server_->stop(std::chrono::milliseconds{200}); }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }

  std::atomic<unsigned> status{200};
  std::atomic<int> calls{0};
  domain::backup_job job = sample_job();

  std::vector<std::pair<std::string, nlohmann::json>> posts() {
    std::lock_guard lock(mutex_);
    return posts_;
  }

 private:
  boost::asio::awaitable<http::response> get_job(http::request req) {
    ++calls;
    const auto s = status.load();
    if (s == 200 && req.params.get("id") == job.backup_job_id)
      co_return http::response::json(200, nlohmann::json(job));
    co_return http::response::json(s == 200 ? 404 : s, {{"code", "x"}});
  }
  boost::asio::awaitable<http::response> post_store(http::request req) {
    ++calls;
    {
      std::lock_guard lock(mutex_);
      posts_.emplace_back(std::string(req.headers.get("Idempotency-Key").value_or("")),
                          nlohmann::json::parse(req.body, nullptr, false));
    }
    co_return http::response::json(status.load(), nlohmann::json::object());
  }

  metrics::registry registry_;
  bkr::logger log_{"remote", spdlog::level::off};
  std::mutex mutex_;
  std::vector<std::pair<std::string, nlohmann::json>> posts_;
  std::unique_ptr<http::server> server_;
};

app::http_dependency_options options_for(const remote_service& r) {
  return {.base_url = r.url(), .timeout = std::chrono::milliseconds{500}};
}

const bkr::logger quiet{"test", spdlog::level::off};

}  // namespace

TEST_CASE("the HTTP job service maps 200, 404 and 503 through CheckAllowed", "[app][http_adapters]") {
  app_fixture f;
  remote_service remote;
  app::circuit_breaker breaker("job-service", {100, std::chrono::seconds{1}}, f.clock());
  app::http_backup_job_service jobs(options_for(remote), breaker, quiet);
  app::check_allowed stage(f.pool(), f.requests, jobs, f.clock(), "bkr-check-allowed");
  app::stage_handler handler(stage);

  SECTION("200: Allowed with the job's provider") {
    remote.job = sample_job("job-h", domain::provider::cloud_a);
    const auto id = new_uuid_v7();
    f.store_request(sample_request(id, request_status::received, remote.job));
    f.publish(received_message(id));
    REQUIRE(f.consume_until(received_queue, handler, [&] { return f.depth(received_queue) == 0; }));
    CHECK(f.request(id)->status_type_code == request_status::allowed);
    CHECK(f.request(id)->backup_provider_code == domain::provider::cloud_a);
    CHECK(f.depth(allowed_queue) == 1);
  }
  SECTION("404: NotAllowed JobNotFound") {
    const auto id = new_uuid_v7();
    f.store_request(sample_request(id, request_status::received, sample_job("job-unknown")));
    f.publish(received_message(id));
    REQUIRE(f.consume_until(received_queue, handler, [&] { return f.depth(received_queue) == 0; }));
    const auto r = f.request(id);
    CHECK(r->status_type_code == request_status::not_allowed);
    CHECK(f.history(id).back().reason == std::optional<std::string>("JobNotFound"));
    CHECK(f.depth(allowed_queue) == 0);
  }
  SECTION("503: retried, no verdict") {
    remote.status = 503;
    const auto id = new_uuid_v7();
    f.store_request(sample_request(id, request_status::received, remote.job));
    f.publish(received_message(id));
    // Attempts enough that a slow test thread cannot watch the retries run out (retries are 5-20 ms apart).
    REQUIRE(f.consume_until(
        received_queue, handler,
        [&] {
          const auto q = f.queued(received_queue);
          return !q.empty() && q[0].attempt >= 2;
        },
        1000));
    CHECK(f.request(id)->status_type_code == request_status::received);
    CHECK(f.dead_letters(received_queue).empty());
  }
}

TEST_CASE("the HTTP backup interface maps 202, 400 and 503 through SendToInterface", "[app][http_adapters]") {
  app_fixture f;
  remote_service remote;
  app::circuit_breaker breaker("backup-interface", {100, std::chrono::seconds{1}}, f.clock());
  app::http_backup_interface interface(options_for(remote), breaker, quiet);
  app::send_to_interface stage(f.pool(), f.requests, interface, f.clock());
  app::stage_handler handler(stage);
  const auto id = new_uuid_v7();
  f.store_request(sample_request(id, request_status::allowed));
  f.publish(allowed_message(id));

  SECTION("202: Sent, posted with the request id as Idempotency-Key") {
    remote.status = 202;
    REQUIRE(f.consume_until(allowed_queue, handler, [&] { return f.depth(allowed_queue) == 0; }));
    CHECK(f.request(id)->status_type_code == request_status::sent);
    const auto posts = remote.posts();
    REQUIRE(posts.size() == 1);
    CHECK(posts[0].first == id);
    CHECK(posts[0].second.value("backupRequestId", "") == id);
  }
  SECTION("400: dead letter, still Allowed") {
    remote.status = 400;
    REQUIRE(f.consume_until(allowed_queue, handler, [&] { return !f.dead_letters(allowed_queue).empty(); }));
    CHECK(f.request(id)->status_type_code == request_status::allowed);
  }
  SECTION("503: retried, still Allowed") {
    remote.status = 503;
    // Attempts enough that a slow test thread cannot watch the retries run out (retries are 5-20 ms apart).
    REQUIRE(f.consume_until(
        allowed_queue, handler,
        [&] {
          const auto q = f.queued(allowed_queue);
          return !q.empty() && q[0].attempt >= 2;
        },
        1000));
    CHECK(f.request(id)->status_type_code == request_status::allowed);
    CHECK(f.dead_letters(allowed_queue).empty());
  }
}

TEST_CASE("an open circuit stops claims without burning attempts and consumption resumes by itself",
          "[app][http_adapters]") {
  app_fixture f;
  remote_service remote;
  remote.status = 503;
  app::circuit_breaker breaker("backup-interface", {2, std::chrono::milliseconds{1500}}, f.clock());
  app::http_backup_interface interface(options_for(remote), breaker, quiet);
  app::send_to_interface stage(f.pool(), f.requests, interface, f.clock());
  app::stage_handler handler(stage);
  app::gated_consumer gate([&] { return f.new_consumer(f.consumer_options(allowed_queue, 50), handler); },
                           [&] { return breaker.may_claim(); },
                           app::claim_gate_options{std::chrono::milliseconds{10}, 2s});
  breaker.on_state_change([&](app::breaker_state) { gate.poke(); });

  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(new_uuid_v7());
    f.store_request(sample_request(ids.back(), request_status::allowed));
    f.publish(allowed_message(ids.back()));
  }
  gate.start();
  REQUIRE(eventually([&] { return breaker.state() == app::breaker_state::open; }));
  REQUIRE(eventually([&] { return !gate.claiming(); }));
  // While open: no calls go out and no attempts are spent (checked until just before a probe may go).
  const auto spent = [&] {
    int attempts = 0;
    for (const auto& m : f.queued(allowed_queue))
      attempts += m.attempt;
    return attempts;
  };
  const int calls_when_open = remote.calls.load();
  const int attempts_when_open = spent();
  REQUIRE(breaker.remaining_open() > std::chrono::milliseconds{300});
  while (breaker.remaining_open() > std::chrono::milliseconds{200})
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  CHECK(remote.calls.load() == calls_when_open);
  CHECK(spent() <= attempts_when_open);  // claims handed back by the stopping consumer give theirs back
  CHECK(f.request(ids[0])->status_type_code == request_status::allowed);

  remote.status = 202;  // the interface is back
  CHECK(eventually([&] {
    for (const auto& id : ids)
      if (f.request(id)->status_type_code != request_status::sent)
        return false;
    return true;
  }));
  CHECK(breaker.state() == app::breaker_state::closed);
  CHECK(f.dead_letters(allowed_queue).empty());
  gate.stop(2s);
}
