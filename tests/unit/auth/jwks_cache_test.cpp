// The JWKS cache: initial load, periodic refresh, refresh on unknown kid (rate-limited), last good set on
// failure.
#include "bkr/auth/errors.hpp"
#include "bkr/auth/jwks.hpp"
#include "bkr/auth/jwt_verifier.hpp"
#include "test_keys.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>
#include <atomic>
#include <cstdio>
#include <deque>
#include <fstream>
#include <mutex>
#include <thread>

using namespace std::chrono;
using bkr::auth::errc;
using nlohmann::json;
namespace t = bkr::auth::test;

namespace {

const bkr::timestamp t0{sys_days{year{2026} / 3 / 1}.time_since_epoch()};
const long long t0s = duration_cast<seconds>(t0.time_since_epoch()).count();

// A JWKS endpoint under the test's control.
struct fake_endpoint {
  std::mutex mutex;
  std::string body;
  bool failing = false;
  std::atomic<int> calls{0};

  void serve(std::initializer_list<json> keys) {
    std::lock_guard lock(mutex);
    json array = json::array();
    for (const auto& k : keys)
      array.push_back(k);
    body = json{{"keys", array}}.dump();
    failing = false;
  }
  void fail() {
    std::lock_guard lock(mutex);
    failing = true;
  }
  bkr::auth::jwks_fetcher fetcher() {
    return [this] {
      ++calls;
      std::lock_guard lock(mutex);
      if (failing)
        throw bkr::infrastructure_error("connection refused", true);
      return body;
    };
  }
};

json claims() {
  return {{"sub", "client-1"}, {"iss", "https://issuer.example"}, {"aud", "bkr-api"}, {"exp", t0s + 3600}};
}

std::unique_ptr<bkr::auth::jwt_verifier> verifier(bkr::auth::key_source& keys, const bkr::clock& clock) {
  bkr::auth::verifier_options o;
  o.issuers = {"https://issuer.example"};
  o.audience = "bkr-api";
  o.cache_ttl = milliseconds{0};  // exercise the key source on every call
  return bkr::auth::jwt_verifier::create(o, keys, clock).value();
}

}  // namespace

TEST_CASE("jwks_cache loads on first use and refreshes on its period") {
  bkr::manual_clock clock{t0};
  fake_endpoint endpoint;
  endpoint.serve({t::rsa_jwk(t::rsa_key_a(), "k1")});
  bkr::auth::jwks_cache cache(endpoint.fetcher(), clock);
  CHECK(endpoint.calls == 0);
  auto keys = cache.current();
  CHECK(endpoint.calls == 1);
  REQUIRE(keys->size() == 1);
  CHECK(cache.state().key_count == 1);
  CHECK(cache.state().last_success == t0);

  endpoint.serve({t::rsa_jwk(t::rsa_key_a(), "k1"), t::ec_jwk(t::ec_key_a(), "k2")});
  clock.advance(minutes{10} - milliseconds{1});
  CHECK(cache.current()->size() == 1);
  CHECK(endpoint.calls == 1);
  clock.advance(milliseconds{1});
  CHECK(cache.current()->size() == 2);
  CHECK(endpoint.calls == 2);
  CHECK(cache.current()->size() == 2);
  CHECK(endpoint.calls == 2);
}

TEST_CASE("jwks_cache refresh() reports success and failure") {
  bkr::manual_clock clock{t0};
  fake_endpoint endpoint;
  endpoint.fail();
  bkr::auth::jwks_cache cache(endpoint.fetcher(), clock);
  auto first = cache.refresh();
  REQUIRE_FALSE(first.has_value());
  CHECK(first.error().code == make_error_code(errc::key_set_unavailable));
  CHECK(first.error().message.find("connection refused") != std::string::npos);
  CHECK(cache.current()->empty());
  CHECK(cache.state().last_failure == t0);

  endpoint.serve({t::rsa_jwk(t::rsa_key_a(), "k1")});
  auto second = cache.refresh();
  REQUIRE(second.has_value());
  CHECK(*second == 1);
  CHECK(cache.state().last_error.empty());

  endpoint.serve({});
  auto invalid = cache.refresh();
  REQUIRE_FALSE(invalid.has_value());
  CHECK(invalid.error().code == make_error_code(errc::invalid_key_set));
  CHECK(cache.current()->size() == 1);
}

TEST_CASE("an unknown kid triggers a refresh, at most once per interval") {
  bkr::manual_clock clock{t0};
  fake_endpoint endpoint;
  endpoint.serve({t::rsa_jwk(t::rsa_key_a(), "k1")});
  bkr::auth::jwks_cache cache(endpoint.fetcher(), clock);
  REQUIRE(cache.refresh().has_value());
  auto v = verifier(cache, clock);
  CHECK(v->verify(t::library_token("RS256", t::rsa_key_a().private_pem, claims(), "k1")).has_value());
  CHECK(endpoint.calls == 1);

  // The issuer rotates in k2: the first token naming it makes the cache look again, and passes.
  endpoint.serve({t::rsa_jwk(t::rsa_key_a(), "k1"), t::rsa_jwk(t::rsa_key_b(), "k2")});
  auto rotated = v->verify(t::library_token("RS256", t::rsa_key_b().private_pem, claims(), "k2"));
  CHECK(rotated.has_value());
  CHECK(endpoint.calls == 2);

  // Unknown kids within 30 s do not reach the endpoint again.
  endpoint.serve(
      {t::rsa_jwk(t::rsa_key_a(), "k1"), t::rsa_jwk(t::rsa_key_b(), "k2"), t::ec_jwk(t::ec_key_a(), "k3")});
  const std::string k3_token = t::library_token("ES256", t::ec_key_a().private_pem, claims(), "k3");
  for (int i = 0; i < 5; ++i) {
    auto r = v->verify(
        t::library_token("RS256", t::rsa_key_b().private_pem, claims(), "bogus-" + std::to_string(i)));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == make_error_code(errc::unknown_key));
  }
  auto early = v->verify(k3_token);
  REQUIRE_FALSE(early.has_value());
  CHECK(early.error().code == make_error_code(errc::unknown_key));
  CHECK(endpoint.calls == 2);

  clock.advance(seconds{30});
  CHECK(v->verify(k3_token).has_value());
  CHECK(endpoint.calls == 3);
}

TEST_CASE("a failed refresh keeps serving the last good key set") {
  bkr::manual_clock clock{t0};
  fake_endpoint endpoint;
  endpoint.serve({t::rsa_jwk(t::rsa_key_a(), "k1")});
  bkr::auth::jwks_cache cache(endpoint.fetcher(), clock);
  REQUIRE(cache.refresh().has_value());
  auto v = verifier(cache, clock);
  const std::string token = t::library_token("RS256", t::rsa_key_a().private_pem, claims(), "k1");

  endpoint.fail();
  clock.advance(minutes{10});
  CHECK(v->verify(token).has_value());  // the periodic refresh failed underneath
  CHECK(endpoint.calls == 2);
  auto s = cache.state();
  CHECK(s.key_count == 1);
  CHECK(s.last_success == t0);
  CHECK(s.last_failure == t0 + minutes{10});
  CHECK(s.last_error.find("connection refused") != std::string::npos);

  // A broken document is no better than no document.
  endpoint.serve({});
  endpoint.body = "{\"keys\": [{\"kty\": \"RSA\", \"kid\": \"k1\"}]}";
  clock.advance(seconds{30});  // retry_after_failure
  CHECK(v->verify(token).has_value());
  CHECK(endpoint.calls == 3);
  CHECK(cache.state().last_error.find("`n` is missing") != std::string::npos);
  clock.advance(seconds{29});
  CHECK(v->verify(token).has_value());
  CHECK(endpoint.calls == 3);

  // Recovery.
  endpoint.serve({t::rsa_jwk(t::rsa_key_a(), "k1")});
  clock.advance(seconds{1});
  CHECK(v->verify(token).has_value());
  CHECK(endpoint.calls == 4);
  CHECK(cache.state().last_error.empty());
  CHECK(cache.state().last_success == clock.now());
}

TEST_CASE("with an executor, refreshes run off the caller's thread and never twice at once") {
  bkr::manual_clock clock{t0};
  fake_endpoint endpoint;
  endpoint.serve({t::rsa_jwk(t::rsa_key_a(), "k1")});
  std::deque<std::function<void()>> queued;
  bkr::auth::jwks_cache_options options;
  options.run_refresh = [&](std::function<void()> job) { queued.push_back(std::move(job)); };
  auto cache = std::make_unique<bkr::auth::jwks_cache>(endpoint.fetcher(), clock, options);

  CHECK(cache->current()->empty());  // the load is only queued
  CHECK(cache->current()->empty());
  CHECK(cache->refresh_for_missing_key()->empty());
  REQUIRE(queued.size() == 1);
  CHECK(endpoint.calls == 0);
  queued.front()();
  queued.pop_front();
  CHECK(endpoint.calls == 1);
  CHECK(cache->current()->size() == 1);
  CHECK(queued.empty());

  // A queued job may outlive the cache.
  clock.advance(minutes{10});
  cache->current();
  REQUIRE(queued.size() == 1);
  cache.reset();
  queued.front()();
  CHECK(endpoint.calls == 2);
}

TEST_CASE("an executor that refuses the job does not wedge the cache") {
  bkr::manual_clock clock{t0};
  fake_endpoint endpoint;
  endpoint.serve({t::rsa_jwk(t::rsa_key_a(), "k1")});
  bool refuse = true;
  bkr::auth::jwks_cache_options options;
  options.run_refresh = [&](std::function<void()> job) {
    if (refuse)
      throw std::runtime_error("pool stopped");
    job();
  };
  bkr::auth::jwks_cache cache(endpoint.fetcher(), clock, options);
  CHECK(cache.current()->empty());
  refuse = false;
  CHECK(cache.current()->size() == 1);
}

TEST_CASE("jwks_file_fetcher reads the file each time and throws when it cannot") {
  char path_template[] = "/tmp/bkr-jwks-XXXXXX";
  const int fd = mkstemp(path_template);
  REQUIRE(fd >= 0);
  close(fd);
  const std::string path = path_template;
  {
    std::ofstream out(path);
    out << json{{"keys", json::array({t::ec_jwk(t::ec_key_a(), "f1")})}}.dump();
  }
  bkr::manual_clock clock{t0};
  bkr::auth::jwks_cache cache(bkr::auth::jwks_file_fetcher(path), clock);
  auto loaded = cache.refresh();
  REQUIRE(loaded.has_value());
  CHECK(cache.current()->find("f1") != nullptr);
  std::remove(path.c_str());
  CHECK_THROWS_AS(bkr::auth::jwks_file_fetcher(path)(), bkr::infrastructure_error);
  auto failed = cache.refresh();
  REQUIRE_FALSE(failed.has_value());
  CHECK(failed.error().code == make_error_code(errc::key_set_unavailable));
  CHECK(cache.current()->find("f1") != nullptr);
}

TEST_CASE("jwks_cache serves verifications on many threads while it refreshes") {
  bkr::manual_clock clock{t0};
  fake_endpoint endpoint;
  endpoint.serve({t::rsa_jwk(t::rsa_key_a(), "k1"), t::ec_jwk(t::ec_key_a(), "k2")});
  bkr::auth::jwks_cache_options options;
  options.refresh_period = seconds{10};
  options.missing_key_min_interval = seconds{1};
  bkr::auth::jwks_cache cache(endpoint.fetcher(), clock, options);
  REQUIRE(cache.refresh().has_value());
  auto v = verifier(cache, clock);
  const std::string good = t::library_token("ES256", t::ec_key_a().private_pem, claims(), "k2");
  const std::string unknown = t::library_token("ES256", t::ec_key_a().private_pem, claims(), "k9");
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int n = 0; n < 4; ++n)
    threads.emplace_back([&, n] {
      for (int i = 0; i < 200; ++i) {
        if (!v->verify(good).has_value())
          ++failures;
        if (v->verify(unknown).has_value())
          ++failures;
        if (n == 0)
          clock.advance(milliseconds{250});
      }
    });
  for (auto& th : threads)
    th.join();
  CHECK(failures == 0);
  CHECK(endpoint.calls > 1);
  CHECK(cache.state().key_count == 2);
}
