// Authentication and authorization at the HTTP level: every token rejection is 401, scopes give 403 or 503.
#include "http_call.hpp"
#include "openapi_contract.hpp"
#include "pg_test_database.hpp"
#include "queue_rows.hpp"
#include "service_fixture.hpp"
#include "tokens.hpp"

#include <catch2/catch.hpp>

#include <chrono>

using namespace bkr::rr_test;

namespace {

constexpr const char* post_route = "/api/backup-requests";

struct auth_fixture {
  bkr::test::pg_test_database db;
  in_process_service svc;

  auth_fixture() : svc((seed_clients(db.conninfo()), db.conninfo())) {}

  reply post_with(const header_list& headers) {
    auto r = http_call(svc.port(), "POST", post_route, headers, accept_body());
    require_conforms("POST", post_route, r);
    return r;
  }
  reply post_token(const std::string& token) {
    return post_with({{"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}});
  }
};

long long now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

TEST_CASE("every token rejection is answered 401 Unauthorized in JSON and enqueues nothing",
          "[receive_request][auth]") {
  auth_fixture f;
  const auto good = claims_for(client_a);

  auto with = [&](const char* claim, nlohmann::json value) {
    auto c = good;
    c[claim] = std::move(value);
    return c;
  };
  auto without = [&](const char* claim) {
    auto c = good;
    c.erase(claim);
    return c;
  };

  struct rejected {
    std::string name;
    header_list headers;
  };
  const auto bearer = [](const std::string& token) {
    return header_list{{"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}};
  };
  const std::vector<rejected> cases{
      {"no Authorization header", {{"Content-Type", "application/json"}}},
      {"not a bearer scheme", {{"Authorization", "Basic YTpi"}, {"Content-Type", "application/json"}}},
      {"not a JWS", bearer("not-a-token")},
      {"alg none", bearer(unsigned_token(good))},
      {"signed with another key under the published kid", bearer(signed_token(rogue_rsa_key(), good))},
      {"payload tampered after signing",
       bearer(tampered(signed_token(rsa_key(), good), with("sub", admin_client)))},
      {"expired", bearer(signed_token(rsa_key(), with("exp", now_s() - 3600)))},
      {"not yet valid", bearer(signed_token(rsa_key(), with("nbf", now_s() + 3600)))},
      {"wrong issuer", bearer(signed_token(rsa_key(), with("iss", "someone-else")))},
      {"wrong audience", bearer(signed_token(rsa_key(), with("aud", "another-api")))},
      {"missing sub", bearer(signed_token(rsa_key(), without("sub")))},
      {"HS256 while only RS256/ES256 are allowed",
       bearer(hs256_token("a-secret-that-is-long-enough-for-hs256!", good))},
      {"HS256 signed with the public key text", bearer(hs256_token(jwks_document({&rsa_key()}), good))},
      {"unknown kid", bearer(signed_token(rsa_key(), good, {{"kid", "nobody"}}))},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    const auto r = f.post_with(c.headers);
    CHECK(r.status == 401);
    CHECK(r.json().at("code") == "Unauthorized");
    CHECK(!r.json().at("requestId").get<std::string>().empty());
  }
  CHECK(message_count(f.db.conninfo()) == 0);

  // The same claims, properly signed, pass: the rejections above were about the token, nothing else.
  CHECK(f.post_token(signed_token(rsa_key(), good)).status == 202);
  CHECK(f.post_token(signed_token(ec_key(), good)).status == 202);
  CHECK(message_count(f.db.conninfo()) == 2);
}

TEST_CASE("an unknown client or a missing scope is 403 Forbidden", "[receive_request][auth]") {
  auth_fixture f;
  const auto unknown = f.post_token(token_for(unknown_client));
  CHECK(unknown.status == 403);
  CHECK(unknown.json().at("code") == "Forbidden");
  const auto reader = f.post_token(token_for(reader_client));
  CHECK(reader.status == 403);

  const auto get = http_call(f.svc.port(), "GET", "/api/backup-requests/x",
                             {{"Authorization", "Bearer " + token_for(interface_client)}});
  CHECK(get.status == 403);
  require_conforms("GET", "/api/backup-requests/{id}", get);
  CHECK(message_count(f.db.conninfo()) == 0);
}

TEST_CASE("a failed scope lookup is 503 with Retry-After, never 403", "[receive_request][auth]") {
  auth_fixture f;
  // The lookup now fails for every client not yet in the authorizer's cache.
  execute(f.db.conninfo(), "DROP TABLE client_authorization");
  for (const char* who : {client_a, unknown_client}) {
    INFO(who);
    const auto r = f.post_token(token_for(who));
    CHECK(r.status == 503);
    CHECK(r.json().at("code") == "Unavailable");
    CHECK(r.has_header("retry-after"));
  }
  CHECK(message_count(f.db.conninfo()) == 0);
}

TEST_CASE("the algorithm is pinned: with only RS256 allowed, HS256 and ES256 tokens are 401",
          "[receive_request][auth]") {
  bkr::test::pg_test_database db;
  seed_clients(db.conninfo());
  in_process_service svc(db.conninfo(), {{"BKR_AUTH_ALGORITHMS", "RS256"}});
  const auto good = claims_for(client_a);
  auto post = [&](const std::string& token) {
    auto r = http_call(svc.port(), "POST", post_route, json_headers(token), accept_body());
    require_conforms("POST", post_route, r);
    return r;
  };
  for (const auto& token : {hs256_token("a-secret-that-is-long-enough-for-hs256!", good),
                            hs256_token(jwks_document({&rsa_key()}), good), signed_token(ec_key(), good)}) {
    const auto r = post(token);
    CHECK(r.status == 401);
    CHECK(r.json().at("code") == "Unauthorized");
  }
  CHECK(message_count(db.conninfo()) == 0);
  CHECK(post(signed_token(rsa_key(), good)).status == 202);
}
