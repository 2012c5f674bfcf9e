// Verification throughput: full verifications per second for HS256, RS256 and ES256, on one and two threads.
#include "bkr/auth/jwt_verifier.hpp"
#include "test_keys.hpp"

#include <catch2/catch.hpp>
#include <jwt/jwt.hpp>

#include <atomic>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <thread>

using namespace std::chrono;
using bkr::auth::algorithm;
using nlohmann::json;
namespace t = bkr::auth::test;

namespace {

const std::string dev_secret = "0123456789abcdef0123456789abcdef-rate";

struct rates {
  double wall;      // operations per second of elapsed time, all threads together
  double per_core;  // operations per CPU-second: what one core sustains, whatever else the machine runs
};

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Runs `op` on `threads` threads for about `budget`. Any failed op fails the test.
rates measure(const std::function<bool()>& op, int threads, milliseconds budget = milliseconds{400}) {
  std::atomic<long long> done{0};
  std::atomic<int> failed{0};
  std::mutex cpu_mutex;
  double cpu = 0;
  const auto start = steady_clock::now();
  std::vector<std::thread> pool;
  for (int n = 0; n < threads; ++n)
    pool.emplace_back([&] {
      const double cpu_start = thread_cpu_seconds();
      long long local = 0;
      while (steady_clock::now() - start < budget) {
        for (int i = 0; i < 16; ++i)
          if (!op())
            ++failed;
        local += 16;
      }
      done += local;
      std::lock_guard lock(cpu_mutex);
      cpu += thread_cpu_seconds() - cpu_start;
    });
  for (auto& th : pool)
    th.join();
  const double wall = duration<double>(steady_clock::now() - start).count();
  REQUIRE(failed == 0);
  return {static_cast<double>(done) / wall, static_cast<double>(done) / cpu};
}

}  // namespace

TEST_CASE("verification rates of HS256 RS256 and ES256 with and without the token cache") {
  bkr::system_clock clock;
  const auto now = system_clock::now();
  const json claims = {{"sub", "client-1"},
                       {"iss", "bkr-dev"},
                       {"aud", "bkr-api"},
                       {"iat", duration_cast<seconds>(now.time_since_epoch()).count()},
                       {"exp", duration_cast<seconds>((now + hours{1}).time_since_epoch()).count()}};
  auto keys = bkr::auth::key_set::make(
                  {bkr::auth::verification_key::from_jwk(t::rsa_jwk(t::rsa_key_a(), "r")).value(),
                   bkr::auth::verification_key::from_jwk(t::ec_jwk(t::ec_key_a(), "e")).value()})
                  .value();
  bkr::auth::static_key_source source{keys};
  bkr::auth::verifier_options o;
  o.issuers = {"bkr-dev"};
  o.audience = "bkr-api";
  o.allowed_algorithms = {algorithm::rs256, algorithm::es256, algorithm::hs256};
  o.hs256_secret = dev_secret;
  auto cached_options = o;
  o.cache_ttl = milliseconds{0};
  auto full = bkr::auth::jwt_verifier::create(o, source, clock).value();
  auto cached = bkr::auth::jwt_verifier::create(cached_options, source, clock).value();

  const std::string hs = t::library_token("HS256", dev_secret, claims);
  const std::string rs = t::library_token("RS256", t::rsa_key_a().private_pem, claims, "r");
  const std::string es = t::library_token("ES256", t::ec_key_a().private_pem, claims, "e");

  struct row {
    const char* name;
    const std::string* token;
    const bkr::auth::jwt_verifier* verifier;
    int threads;
    double floor;
  };
  const std::vector<row> rows{
      {"HS256 full, 1 thread", &hs, full.get(), 1, 5000},
      {"HS256 full, 2 threads", &hs, full.get(), 2, 5000},
      {"RS256 full, 1 thread", &rs, full.get(), 1, 1000},
      {"RS256 full, 2 threads", &rs, full.get(), 2, 1000},
      {"ES256 full, 1 thread", &es, full.get(), 1, 500},
      {"ES256 full, 2 threads", &es, full.get(), 2, 500},
      {"RS256 cached, 1 thread", &rs, cached.get(), 1, 20000},
      {"RS256 cached, 2 threads", &rs, cached.get(), 2, 20000},
  };
  for (const auto& r : rows) {
    const rates rate = measure([&] { return r.verifier->verify(*r.token).has_value(); }, r.threads);
    std::printf("RATE %-26s %10.0f verifications/s   %10.0f per CPU-second\n", r.name, rate.wall,
                rate.per_core);
    INFO(r.name << ": " << rate.wall << "/s");
    CHECK(rate.per_core > r.floor);
  }

  // For comparison: the library's own decode, which parses the PEM key on every call.
  const std::string rs_pem = t::rsa_key_a().public_pem;
  const rates library_rate = measure(
      [&] {
        std::error_code ec;
        auto obj = jwt::decode(rs, jwt::params::algorithms({"RS256"}), ec, jwt::params::secret(rs_pem),
                               jwt::params::verify(true));
        return !ec;
      },
      1);
  std::printf("RATE %-26s %10.0f verifications/s   %10.0f per CPU-second\n", "RS256 cpp-jwt decode",
              library_rate.wall, library_rate.per_core);
}
