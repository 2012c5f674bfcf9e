// The auth.* configuration keys and their validation.
#include "bkr/auth/settings.hpp"
#include "bkr/auth/errors.hpp"

#include <catch2/catch.hpp>

using bkr::auth::algorithm;
using bkr::auth::errc;

namespace {

bkr::result<bkr::auth::settings> load(std::map<std::string, std::string, std::less<>> env) {
  bkr::config::sources src;
  src.environment = std::move(env);
  auto values = bkr::config::load(bkr::auth::config_keys(), src);
  if (!values)
    return values.error();
  return bkr::auth::settings_from(*values);
}

const std::string secret = "0123456789abcdef0123456789abcdef";

}  // namespace

TEST_CASE("production settings: JWKS and RS256/ES256") {
  auto s = load({{"BKR_AUTH_ISSUERS", "https://a.example, https://b.example"},
                 {"BKR_AUTH_AUDIENCE", "bkr-api"},
                 {"BKR_AUTH_JWKS_URL", "https://a.example/.well-known/jwks.json"},
                 {"BKR_AUTH_LEEWAY", "10s"},
                 {"BKR_AUTH_SCOPE_CACHE_TTL", "45s"}});
  REQUIRE(s.has_value());
  CHECK(s->verifier.issuers == std::vector<std::string>{"https://a.example", "https://b.example"});
  CHECK(s->verifier.audience == "bkr-api");
  CHECK(s->verifier.leeway == std::chrono::seconds{10});
  CHECK(s->verifier.allowed_algorithms == std::vector<algorithm>{algorithm::rs256, algorithm::es256});
  CHECK_FALSE(s->verifier.hs256_secret.has_value());
  CHECK(s->jwks_url == "https://a.example/.well-known/jwks.json");
  CHECK_FALSE(s->jwks_file.has_value());
  CHECK(s->jwks.refresh_period == std::chrono::minutes{10});
  CHECK(s->jwks.missing_key_min_interval == std::chrono::seconds{30});
  CHECK(s->scopes.ttl == std::chrono::seconds{45});
  CHECK(s->verifier.cache_ttl == std::chrono::seconds{60});
}

TEST_CASE("development settings: HS256 with the bkrctl defaults") {
  auto s = load({{"BKR_AUTH_ALGORITHMS", "hs256"}, {"BKR_AUTH_HS256_SECRET", secret}});
  REQUIRE(s.has_value());
  CHECK(s->verifier.issuers == std::vector<std::string>{"bkr-dev"});
  CHECK(s->verifier.audience == "bkr-api");
  CHECK(s->verifier.allowed_algorithms == std::vector<algorithm>{algorithm::hs256});
  CHECK(s->verifier.hs256_secret == secret);
}

TEST_CASE("inconsistent settings are refused") {
  auto expect_refused = [](std::map<std::string, std::string, std::less<>> env, std::string_view mentions) {
    auto s = load(std::move(env));
    REQUIRE_FALSE(s.has_value());
    INFO(s.error().message);
    CHECK(s.error().message.find(mentions) != std::string::npos);
  };
  expect_refused({}, "neither auth.jwks_file nor auth.jwks_url");
  expect_refused({{"BKR_AUTH_ALGORITHMS", "HS256"}}, "no HS256 secret");
  expect_refused({{"BKR_AUTH_ALGORITHMS", "HS256"}, {"BKR_AUTH_HS256_SECRET", "short"}},
                 "BKR_AUTH_HS256_SECRET");
  expect_refused({{"BKR_AUTH_ALGORITHMS", "RS256,none"}, {"BKR_AUTH_JWKS_FILE", "/x"}}, "unknown algorithm");
  expect_refused({{"BKR_AUTH_JWKS_FILE", "/x"}, {"BKR_AUTH_JWKS_URL", "https://x"}}, "both set");
  expect_refused({{"BKR_AUTH_JWKS_URL", "ftp://x"}}, "http:// or https://");
  expect_refused({{"BKR_AUTH_JWKS_FILE", "/x"}, {"BKR_AUTH_ISSUERS", " , "}}, "issuer");
  expect_refused({{"BKR_AUTH_JWKS_FILE", "/x"}, {"BKR_AUTH_LEEWAY", "10m"}}, "BKR_AUTH_LEEWAY");
}

TEST_CASE("the HS256 secret is a secret") {
  const auto& keys = bkr::auth::config_keys();
  auto it =
      std::find_if(keys.begin(), keys.end(), [](const auto& k) { return k.name == "auth.hs256_secret"; });
  REQUIRE(it != keys.end());
  CHECK(it->secret);
}
