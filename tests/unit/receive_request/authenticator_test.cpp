// The pre-handler: token verification and scope checks, with scope lookups kept off the I/O thread.
#include "bkr/receive_request/authenticator.hpp"

#include "bkr/auth/development_token.hpp"
#include "bkr/auth/keys.hpp"
#include "bkr/http/errors.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <thread>

namespace rr = bkr::receive_request;
namespace asio = boost::asio;

namespace {

const std::string secret = "0123456789abcdef0123456789abcdef-unit";

struct harness {
  bkr::system_clock clock;
  bkr::metrics::registry registry;
  bkr::auth::static_key_source no_keys;
  std::unique_ptr<bkr::auth::jwt_verifier> verifier;
  std::map<std::string, std::set<std::string>> table{{"writer", {"post-backup-request"}},
                                                     {"reader", {"get-backup-request"}}};
  std::mutex mutex;
  std::vector<std::thread::id> lookup_threads;
  std::atomic<bool> broken{false};
  std::unique_ptr<bkr::auth::scope_authorizer> authorizer;
  asio::thread_pool blocking{1};
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> guard{io.get_executor()};
  std::thread io_thread;
  std::unique_ptr<rr::authenticator> auth;

  harness() {
    bkr::auth::verifier_options o;
    o.issuers = {"bkr-dev"};
    o.audience = "bkr-api";
    o.allowed_algorithms = {bkr::auth::algorithm::hs256};
    o.hs256_secret = secret;
    verifier = std::move(bkr::auth::jwt_verifier::create(o, no_keys, clock).value());
    authorizer = std::make_unique<bkr::auth::scope_authorizer>(
        rr::deferring_scope_lookup([this](std::string_view client) -> std::optional<std::set<std::string>> {
          {
            std::lock_guard lock(mutex);
            lookup_threads.push_back(std::this_thread::get_id());
          }
          if (broken)
            throw std::runtime_error("database down");
          const auto it = table.find(std::string(client));
          if (it == table.end())
            return std::nullopt;
          return it->second;
        }),
        clock);
    auth = std::make_unique<rr::authenticator>(*verifier, *authorizer, blocking.get_executor(), registry);
    io_thread = std::thread([this] { io.run(); });
  }
  ~harness() {
    guard.reset();
    io_thread.join();
    blocking.join();
  }

  std::string token(const std::string& subject) {
    return bkr::auth::mint_development_token({.secret = secret, .subject = subject, .issued_at = clock.now()})
        .value();
  }

  bkr::result<bkr::http::request> require(const std::string& scope,
                                          std::optional<std::string> authorization) {
    bkr::http::request req;
    if (authorization)
      req.headers.add("Authorization", *authorization);
    std::promise<bkr::result<bkr::http::request>> done;
    asio::co_spawn(io, auth->require(scope, std::move(req)),
                   [&done](std::exception_ptr e, bkr::result<bkr::http::request> r) {
                     if (e)
                       done.set_exception(e);
                     else
                       done.set_value(std::move(r));
                   });
    return done.get_future().get();
  }

  std::size_t lookups() {
    std::lock_guard lock(mutex);
    return lookup_threads.size();
  }
};

unsigned status_of(const bkr::result<bkr::http::request>& r) {
  return r ? 200 : bkr::http::map_error(r.error().code).status;
}

}  // namespace

TEST_CASE("a valid token with the scope passes, and the lookup runs off the I/O thread once",
          "[receive_request][authenticator]") {
  harness h;
  const auto r = h.require("post-backup-request", "Bearer " + h.token("writer"));
  REQUIRE(r.has_value());
  REQUIRE(r->principal);
  CHECK(r->principal->subject == "writer");
  CHECK(r->principal->issuer == "bkr-dev");
  CHECK(r->principal->has_scope("post-backup-request"));
  REQUIRE(h.lookups() == 1);
  CHECK(h.lookup_threads[0] != h.io_thread.get_id());

  // The second time the answer comes from the cache, without a lookup.
  CHECK(h.require("post-backup-request", "Bearer " + h.token("writer")).has_value());
  CHECK(h.lookups() == 1);
}

TEST_CASE("refusals: 401 for tokens, 403 for scopes and unknown clients, 503 when the lookup fails",
          "[receive_request][authenticator]") {
  harness h;
  CHECK(status_of(h.require("post-backup-request", std::nullopt)) == 401);
  CHECK(status_of(h.require("post-backup-request", "Bearer nonsense")) == 401);
  CHECK(status_of(h.require("post-backup-request", "Bearer " + h.token("writer") + "x")) == 401);
  CHECK(h.lookups() == 0);  // no token, no lookup

  CHECK(status_of(h.require("post-backup-request", "Bearer " + h.token("reader"))) == 403);
  CHECK(status_of(h.require("post-backup-request", "Bearer " + h.token("nobody"))) == 403);

  h.broken = true;
  const auto before = h.lookups();
  CHECK(status_of(h.require("get-backup-request", "Bearer " + h.token("other"))) == 503);
  // A failure is not cached: the next request asks again.
  CHECK(status_of(h.require("get-backup-request", "Bearer " + h.token("other"))) == 503);
  CHECK(h.lookups() == before + 2);
  h.broken = false;
  CHECK(status_of(h.require("get-backup-request", "Bearer " + h.token("other"))) == 403);

  const auto exposition = h.registry.expose();
  CHECK(exposition.find("bkr_receive_request_auth_rejections_total{reason=\"forbidden\"}") !=
        std::string::npos);
  CHECK(exposition.find("bkr_receive_request_auth_rejections_total{reason=\"missing_token\"} 1") !=
        std::string::npos);
}
