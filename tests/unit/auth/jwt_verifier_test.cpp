// JWT verification: every rejection of the issue, algorithm confusion, key selection, leeway, malformed
// tokens.
#include "bkr/auth/jwt_verifier.hpp"
#include "bkr/auth/base64url.hpp"
#include "bkr/auth/development_token.hpp"
#include "bkr/auth/errors.hpp"
#include "bkr/auth/jwks.hpp"
#include "test_keys.hpp"

#include <catch2/catch.hpp>
#include <jwt/jwt.hpp>

using namespace std::chrono;
using bkr::auth::algorithm;
using bkr::auth::errc;
using nlohmann::json;
namespace t = bkr::auth::test;

namespace {

const bkr::timestamp t0{sys_days{year{2026} / 3 / 1}.time_since_epoch()};
const long long t0s = duration_cast<seconds>(t0.time_since_epoch()).count();
const std::string issuer = "https://issuer.example";
const std::string dev_secret = "0123456789abcdef0123456789abcdef-dev";

json claims() {
  return {{"sub", "client-1"},
          {"iss", issuer},
          {"aud", "bkr-api"},
          {"iat", t0s},
          {"nbf", t0s},
          {"exp", t0s + 600},
          {"scope", "post-backup-request admin"}};
}

bkr::auth::key_set standard_keys() {
  std::vector<bkr::auth::verification_key> keys{
      bkr::auth::verification_key::from_jwk(t::rsa_jwk(t::rsa_key_a(), "rsa-a")).value(),
      bkr::auth::verification_key::from_jwk(t::ec_jwk(t::ec_key_a(), "ec-a")).value()};
  return bkr::auth::key_set::make(std::move(keys)).value();
}

bkr::auth::verifier_options base_options() {
  bkr::auth::verifier_options o;
  o.issuers = {issuer, "bkr-dev"};
  o.audience = "bkr-api";
  return o;
}

struct fixture {
  bkr::manual_clock clock{t0};
  bkr::auth::static_key_source keys{standard_keys()};

  std::unique_ptr<bkr::auth::jwt_verifier> make(bkr::auth::verifier_options o = base_options()) {
    return bkr::auth::jwt_verifier::create(std::move(o), keys, clock).value();
  }
  std::unique_ptr<bkr::auth::jwt_verifier> make_with_hs256(std::vector<algorithm> algs = {algorithm::rs256,
                                                                                          algorithm::es256,
                                                                                          algorithm::hs256}) {
    auto o = base_options();
    o.allowed_algorithms = std::move(algs);
    o.hs256_secret = dev_secret;
    return make(std::move(o));
  }
};

std::string rs256(const json& c, std::optional<std::string> kid = "rsa-a") {
  return t::library_token("RS256", t::rsa_key_a().private_pem, c, std::move(kid));
}
std::string es256(const json& c, std::optional<std::string> kid = "ec-a") {
  return t::library_token("ES256", t::ec_key_a().private_pem, c, std::move(kid));
}

// The rejection has the expected code, and its message leaks neither the token nor anything inside it.
void check_rejected(const bkr::result<bkr::auth::principal>& r, errc expected, const std::string& token) {
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == make_error_code(expected));
  const std::string& msg = r.error().message;
  CHECK_FALSE(msg.empty());
  CHECK(msg.find(token) == std::string::npos);
  for (std::size_t pos = 0, dot = 0; pos < token.size(); pos = dot + 1) {
    dot = token.find('.', pos);
    if (dot == std::string::npos)
      dot = token.size();
    if (dot - pos >= 8)
      CHECK(msg.find(token.substr(pos, dot - pos)) == std::string::npos);
  }
  CHECK(msg.find("client-1") == std::string::npos);
  CHECK(bkr::auth::is_token_rejection(expected));
}

}  // namespace

TEST_CASE("an RS256 token from the key set is accepted and yields the principal") {
  fixture f;
  auto v = f.make();
  auto r = v->verify(rs256(claims()));
  REQUIRE(r.has_value());
  CHECK(r->subject == "client-1");
  CHECK(r->issuer == issuer);
  CHECK(r->alg == algorithm::rs256);
  CHECK(r->key_id == "rsa-a");
  CHECK(r->scope_claim == "post-backup-request admin");
  CHECK(r->expires_at == t0 + seconds{600});
}

TEST_CASE("an ES256 token is accepted") {
  fixture f;
  auto v = f.make();
  auto r = v->verify(es256(claims()));
  REQUIRE(r.has_value());
  CHECK(r->alg == algorithm::es256);
  CHECK(r->key_id == "ec-a");
  // And one signed by hand (r || s form), independently of the library.
  const std::string raw =
      t::raw_token({{"alg", "ES256"}, {"kid", "ec-a"}, {"typ", "JWT"}}, claims(),
                   [](std::string_view in) { return t::es256_signature(t::ec_key_a(), in); });
  CHECK(v->verify(raw).has_value());
}

TEST_CASE("alg none is rejected, with or without a signature, in any spelling") {
  fixture f;
  auto v = f.make_with_hs256();
  for (const char* alg : {"none", "None", "NONE", "nOnE"}) {
    INFO(alg);
    const std::string unsigned_token =
        t::part({{"alg", alg}, {"typ", "JWT"}}) + "." + t::part(claims()) + ".";
    check_rejected(v->verify(unsigned_token), errc::algorithm_not_allowed, unsigned_token);
    const std::string with_sig = unsigned_token + bkr::auth::base64url_encode(std::string_view("sig"));
    check_rejected(v->verify(with_sig), errc::algorithm_not_allowed, with_sig);
  }
}

TEST_CASE("a token signed by another key is rejected") {
  fixture f;
  auto v = f.make();
  const std::string wrong_rsa = t::library_token("RS256", t::rsa_key_b().private_pem, claims(), "rsa-a");
  check_rejected(v->verify(wrong_rsa), errc::bad_signature, wrong_rsa);
  const std::string wrong_ec = t::library_token("ES256", t::ec_key_b().private_pem, claims(), "ec-a");
  check_rejected(v->verify(wrong_ec), errc::bad_signature, wrong_ec);
}

TEST_CASE("a tampered payload or signature is rejected") {
  fixture f;
  auto v = f.make();
  const std::string good = rs256(claims());
  const auto dot1 = good.find('.');
  const auto dot2 = good.find('.', dot1 + 1);
  json elevated = claims();
  elevated["sub"] = "someone-else";
  const std::string tampered = good.substr(0, dot1 + 1) + t::part(elevated) + good.substr(dot2);
  check_rejected(v->verify(tampered), errc::bad_signature, tampered);

  std::string flipped = good;
  flipped[dot2 + 5] = flipped[dot2 + 5] == 'A' ? 'B' : 'A';
  check_rejected(v->verify(flipped), errc::bad_signature, flipped);

  const std::string es_good = es256(claims());
  const auto es_dot2 = es_good.rfind('.');
  const std::string truncated = es_good.substr(0, es_dot2 + 1) + es_good.substr(es_dot2 + 1, 40);
  check_rejected(v->verify(truncated), errc::bad_signature, truncated);
}

TEST_CASE("registered claims are enforced") {
  fixture f;
  auto v = f.make();
  auto with = [](std::function<void(json&)> change) {
    json c = claims();
    change(c);
    return rs256(c);
  };
  struct rejection {
    const char* name;
    std::function<void(json&)> change;
    errc expected;
  };
  const std::vector<rejection> cases{
      {"expired", [](json& c) { c["exp"] = t0s - 3600; }, errc::expired},
      {"not yet valid", [](json& c) { c["nbf"] = t0s + 3600; }, errc::not_yet_valid},
      {"issued in the future", [](json& c) { c["iat"] = t0s + 3600; }, errc::issued_in_future},
      {"wrong issuer", [](json& c) { c["iss"] = "https://evil.example"; }, errc::wrong_issuer},
      {"missing issuer", [](json& c) { c.erase("iss"); }, errc::wrong_issuer},
      {"issuer not a string", [](json& c) { c["iss"] = json::array({issuer}); }, errc::wrong_issuer},
      {"wrong audience", [](json& c) { c["aud"] = "other-api"; }, errc::wrong_audience},
      {"audience list without ours",
       [](json& c) {
         c["aud"] = json::array({"a", "b"});
       },
       errc::wrong_audience},
      {"missing audience", [](json& c) { c.erase("aud"); }, errc::wrong_audience},
      {"missing sub", [](json& c) { c.erase("sub"); }, errc::missing_subject},
      {"empty sub", [](json& c) { c["sub"] = ""; }, errc::missing_subject},
      {"sub too long", [](json& c) { c["sub"] = std::string(257, 'x'); }, errc::missing_subject},
      {"sub not a string", [](json& c) { c["sub"] = 42; }, errc::missing_subject},
      {"sub with a control character", [](json& c) { c["sub"] = "a\nb"; }, errc::missing_subject},
      {"missing exp", [](json& c) { c.erase("exp"); }, errc::missing_expiry},
      {"exp not a number", [](json& c) { c["exp"] = "tomorrow"; }, errc::malformed},
      {"exp absurdly large", [](json& c) { c["exp"] = 1e300; }, errc::malformed},
      {"nbf negative", [](json& c) { c["nbf"] = -5; }, errc::malformed},
  };
  for (const auto& rc : cases) {
    INFO(rc.name);
    const std::string token = with(rc.change);
    check_rejected(v->verify(token), rc.expected, token);
  }

  // Accepted variants.
  CHECK(v->verify(with([](json& c) { c["aud"] = json::array({"other", "bkr-api"}); })).has_value());
  CHECK(v->verify(with([](json& c) { c["sub"] = std::string(256, 'x'); })).has_value());
  CHECK(v->verify(with([](json& c) { c["iss"] = "bkr-dev"; })).has_value());
  CHECK(v->verify(with([](json& c) {
           c.erase("nbf");
           c.erase("iat");
           c.erase("scope");
         })).has_value());
  CHECK(v->verify(with([](json& c) { c["exp"] = static_cast<double>(t0s) + 600.5; })).has_value());
}

TEST_CASE("an HS256 token is rejected when only RS256 is allowed") {
  fixture f;
  auto o = base_options();
  o.allowed_algorithms = {algorithm::rs256};
  auto v = f.make(o);
  const std::string hs = t::library_token("HS256", dev_secret, claims());
  check_rejected(v->verify(hs), errc::algorithm_not_allowed, hs);
  const std::string es = es256(claims());
  check_rejected(v->verify(es), errc::algorithm_not_allowed, es);
  CHECK(v->verify(rs256(claims())).has_value());
}

TEST_CASE("HS256 needs both a secret and an explicit allowance") {
  fixture f;
  // A secret alone does not enable HS256.
  auto o = base_options();
  o.hs256_secret = dev_secret;
  auto v = f.make(o);
  CHECK_FALSE(v->options().hs256_secret.has_value());
  const std::string hs = t::library_token("HS256", dev_secret, claims());
  check_rejected(v->verify(hs), errc::algorithm_not_allowed, hs);

  // An allowance without a secret is a configuration error, as is a short secret.
  auto no_secret = base_options();
  no_secret.allowed_algorithms = {algorithm::hs256};
  auto created = bkr::auth::jwt_verifier::create(no_secret, f.keys, f.clock);
  REQUIRE_FALSE(created.has_value());
  CHECK(created.error().code == make_error_code(errc::invalid_configuration));
  no_secret.hs256_secret = "short";
  CHECK_FALSE(bkr::auth::jwt_verifier::create(no_secret, f.keys, f.clock).has_value());

  // Both: accepted; a token signed with another secret is not.
  auto dev = f.make_with_hs256({algorithm::hs256});
  auto r = dev->verify(hs);
  REQUIRE(r.has_value());
  CHECK(r->alg == algorithm::hs256);
  const std::string other = t::library_token("HS256", dev_secret + "-other", claims());
  check_rejected(dev->verify(other), errc::bad_signature, other);
}

TEST_CASE("algorithm confusion: HS256 signed with the RSA public key is rejected") {
  fixture f;
  const std::string& public_pem = t::rsa_key_a().public_pem;
  auto hs_with_pem = [&](std::optional<std::string> kid) {
    json header{{"alg", "HS256"}, {"typ", "JWT"}};
    if (kid)
      header["kid"] = *kid;
    return t::raw_token(header, claims(),
                        [&](std::string_view in) { return t::hs256_signature(public_pem, in); });
  };
  // RS256/ES256 only: HS256 is not even considered.
  auto v = f.make();
  for (const auto& token : {hs_with_pem({}), hs_with_pem("rsa-a")})
    check_rejected(v->verify(token), errc::algorithm_not_allowed, token);
  // HS256 allowed for development: the HMAC key is the dev secret, never a public key from the key set.
  auto dev = f.make_with_hs256();
  for (const auto& token : {hs_with_pem({}), hs_with_pem("rsa-a")})
    check_rejected(dev->verify(token), errc::bad_signature, token);
}

TEST_CASE("a token whose alg differs from its key's algorithm is rejected") {
  fixture f;
  auto v = f.make();
  // ES256 header pointing at the RSA key, and the reverse.
  const std::string es_on_rsa =
      t::raw_token({{"alg", "ES256"}, {"kid", "rsa-a"}}, claims(),
                   [](std::string_view in) { return t::es256_signature(t::ec_key_a(), in); });
  check_rejected(v->verify(es_on_rsa), errc::algorithm_not_allowed, es_on_rsa);
  const std::string rs_on_ec =
      t::raw_token({{"alg", "RS256"}, {"kid", "ec-a"}}, claims(),
                   [](std::string_view in) { return t::rs256_signature(t::rsa_key_a(), in); });
  check_rejected(v->verify(rs_on_ec), errc::algorithm_not_allowed, rs_on_ec);
  // Algorithm names are case-sensitive.
  const std::string lower =
      t::raw_token({{"alg", "rs256"}, {"kid", "rsa-a"}}, claims(),
                   [](std::string_view in) { return t::rs256_signature(t::rsa_key_a(), in); });
  check_rejected(v->verify(lower), errc::algorithm_not_allowed, lower);
  const std::string rs512 = t::library_token("RS512", t::rsa_key_a().private_pem, claims(), "rsa-a");
  check_rejected(v->verify(rs512), errc::algorithm_not_allowed, rs512);
}

TEST_CASE("keys are selected by kid, or by algorithm when the token has none") {
  bkr::manual_clock clock{t0};
  auto two_rsa = bkr::auth::key_set::make(
                     {bkr::auth::verification_key::from_jwk(t::rsa_jwk(t::rsa_key_a(), "rsa-a")).value(),
                      bkr::auth::verification_key::from_jwk(t::rsa_jwk(t::rsa_key_b(), "rsa-b")).value(),
                      bkr::auth::verification_key::from_jwk(t::ec_jwk(t::ec_key_a(), "ec-a")).value()})
                     .value();
  bkr::auth::static_key_source keys{two_rsa};
  auto v = bkr::auth::jwt_verifier::create(base_options(), keys, clock).value();

  const std::string by_b = t::library_token("RS256", t::rsa_key_b().private_pem, claims(), "rsa-b");
  auto r = v->verify(by_b);
  REQUIRE(r.has_value());
  CHECK(r->key_id == "rsa-b");

  const std::string unknown = t::library_token("RS256", t::rsa_key_b().private_pem, claims(), "rsa-c");
  check_rejected(v->verify(unknown), errc::unknown_key, unknown);

  // No kid: two RSA keys are ambiguous, one EC key is not.
  const std::string rs_no_kid = t::library_token("RS256", t::rsa_key_a().private_pem, claims());
  check_rejected(v->verify(rs_no_kid), errc::unknown_key, rs_no_kid);
  const std::string es_no_kid = t::library_token("ES256", t::ec_key_a().private_pem, claims());
  auto es = v->verify(es_no_kid);
  REQUIRE(es.has_value());
  CHECK_FALSE(es->key_id.has_value());

  // A kid that is not a string is malformed.
  const std::string odd_kid = t::raw_token({{"alg", "RS256"}, {"kid", 7}}, claims(), [](std::string_view in) {
    return t::rs256_signature(t::rsa_key_a(), in);
  });
  check_rejected(v->verify(odd_kid), errc::malformed, odd_kid);
}

TEST_CASE("no keys at all means unknown_key") {
  bkr::manual_clock clock{t0};
  bkr::auth::static_key_source none;
  auto v = bkr::auth::jwt_verifier::create(base_options(), none, clock).value();
  const std::string token = rs256(claims());
  check_rejected(v->verify(token), errc::unknown_key, token);
}

TEST_CASE("leeway boundaries for exp, nbf and iat") {
  fixture f;
  auto o = base_options();
  o.cache_ttl = milliseconds{0};  // every call checks the claims afresh
  auto v = f.make(o);
  json c = claims();
  c["exp"] = t0s;
  c["nbf"] = t0s - 100;
  c["iat"] = t0s - 100;
  const std::string exp_token = rs256(c);
  f.clock.set(t0 + seconds{30} - milliseconds{1});
  CHECK(v->verify(exp_token).has_value());
  f.clock.set(t0 + seconds{30});
  check_rejected(v->verify(exp_token), errc::expired, exp_token);

  c = claims();
  c["nbf"] = t0s + 30;
  const std::string nbf_token = rs256(c);
  f.clock.set(t0);
  CHECK(v->verify(nbf_token).has_value());
  f.clock.set(t0 - milliseconds{1});
  check_rejected(v->verify(nbf_token), errc::not_yet_valid, nbf_token);

  c = claims();
  c["nbf"] = t0s - 100;
  c["iat"] = t0s + 30;
  const std::string iat_token = rs256(c);
  f.clock.set(t0);
  CHECK(v->verify(iat_token).has_value());
  f.clock.set(t0 - milliseconds{1});
  check_rejected(v->verify(iat_token), errc::issued_in_future, iat_token);

  // Leeway zero: expiry is exact.
  auto strict = base_options();
  strict.leeway = milliseconds{0};
  strict.cache_ttl = milliseconds{0};
  auto sv = f.make(strict);
  c = claims();
  c["exp"] = t0s + 10;
  c["nbf"] = t0s - 10;
  c["iat"] = t0s - 10;
  const std::string tight = rs256(c);
  f.clock.set(t0 + seconds{10} - milliseconds{1});
  CHECK(sv->verify(tight).has_value());
  f.clock.set(t0 + seconds{10});
  check_rejected(sv->verify(tight), errc::expired, tight);
}

TEST_CASE("malformed tokens are rejected as malformed") {
  fixture f;
  auto v = f.make();
  const std::string good = rs256(claims());
  const auto dot1 = good.find('.');
  const auto dot2 = good.find('.', dot1 + 1);
  const std::string header = good.substr(0, dot1);
  const std::string payload = good.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string sig = good.substr(dot2 + 1);
  auto rs_signed = [](const std::string& h, const std::string& p) {
    const std::string input = h + "." + p;
    return input + "." + bkr::auth::base64url_encode(t::rs256_signature(t::rsa_key_a(), input));
  };
  const std::vector<std::pair<const char*, std::string>> cases{
      {"two parts", header + "." + payload},
      {"one part", header},
      {"four parts", good + ".x"},
      {"empty header", "." + payload + "." + sig},
      {"empty payload", header + ".." + sig},
      {"empty signature", header + "." + payload + "."},
      {"bad base64 in header", "e#J." + payload + "." + sig},
      {"padding in header", header + "=." + payload + "." + sig},
      {"bad base64 in signature", header + "." + payload + "." + sig.substr(0, 10) + "*" + sig.substr(11)},
      {"non-JSON header",
       bkr::auth::base64url_encode(std::string_view("not json")) + "." + payload + "." + sig},
      {"header is an array", t::part(json::array({"RS256"})) + "." + payload + "." + sig},
      {"header without alg", t::part({{"typ", "JWT"}, {"kid", "rsa-a"}}) + "." + payload + "." + sig},
      {"alg not a string", t::part({{"alg", 256}}) + "." + payload + "." + sig},
      {"crit header",
       rs_signed(t::part({{"alg", "RS256"}, {"kid", "rsa-a"}, {"crit", json::array({"exp"})}}), payload)},
      {"typ not JWT",
       rs_signed(t::part({{"alg", "RS256"}, {"kid", "rsa-a"}, {"typ", "JOSE+JSON"}}), payload)},
      {"signed non-JSON payload",
       rs_signed(header, bkr::auth::base64url_encode(std::string_view("{\"sub\":")))},
      {"signed payload array", rs_signed(header, t::part(json::array({1, 2})))},
      {"too long", header + "." + std::string(9000, 'A') + "." + sig},
  };
  for (const auto& [name, token] : cases) {
    INFO(name);
    check_rejected(v->verify(token), errc::malformed, token);
  }
  auto empty = v->verify("");
  REQUIRE_FALSE(empty.has_value());
  CHECK(empty.error().code == make_error_code(errc::missing_token));
  // typ variants that are fine.
  CHECK(v->verify(rs_signed(t::part({{"alg", "RS256"}, {"kid", "rsa-a"}, {"typ", "at+jwt"}}), payload))
            .has_value());
}

TEST_CASE("verify_authorization reads the Authorization header") {
  fixture f;
  auto v = f.make();
  const std::string token = rs256(claims());
  CHECK(v->verify_authorization("Bearer " + token).has_value());
  CHECK(v->verify_authorization("bearer " + token).has_value());
  auto missing = v->verify_authorization(std::nullopt);
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().code == make_error_code(errc::missing_token));
  auto basic = v->verify_authorization("Basic dXNlcjpwYXNz");
  REQUIRE_FALSE(basic.has_value());
  CHECK(basic.error().code == make_error_code(errc::malformed));
}

TEST_CASE("verified tokens are cached until min(exp, ttl), and expiry still applies") {
  fixture f;
  auto v = f.make();
  json c = claims();
  c["exp"] = t0s + 300;
  const std::string token = rs256(c);
  REQUIRE(v->verify(token).has_value());
  REQUIRE(v->verify(token).has_value());
  auto s = v->stats();
  CHECK(s.misses == 1);
  CHECK(s.hits == 1);
  CHECK(s.size == 1);

  // Past the cache ttl (60 s) the token is verified again.
  f.clock.advance(seconds{61});
  REQUIRE(v->verify(token).has_value());
  CHECK(v->stats().misses == 2);

  // Past exp + leeway it is rejected, cache or not.
  f.clock.set(t0 + seconds{300} + seconds{30});
  check_rejected(v->verify(token), errc::expired, token);

  // A short-lived token is cached no longer than its exp.
  f.clock.set(t0);
  c["exp"] = t0s + 5;
  const std::string short_lived = rs256(c);
  REQUIRE(v->verify(short_lived).has_value());
  f.clock.set(t0 + seconds{5});
  const auto misses_before = v->stats().misses;
  REQUIRE(v->verify(short_lived).has_value());  // within leeway, but not from the cache
  CHECK(v->stats().misses == misses_before + 1);

  // Rejections are never cached.
  const std::string bad = t::library_token("RS256", t::rsa_key_b().private_pem, claims(), "rsa-a");
  CHECK_FALSE(v->verify(bad).has_value());
  CHECK_FALSE(v->verify(bad).has_value());
}

TEST_CASE("the cache stays within its capacity") {
  fixture f;
  auto o = base_options();
  o.cache_capacity = 16;
  auto v = f.make(o);
  for (int i = 0; i < 100; ++i) {
    json c = claims();
    c["jti"] = i;
    REQUIRE(v->verify(rs256(c)).has_value());
  }
  CHECK(v->stats().size <= 16);
}

TEST_CASE("a token minted like `bkrctl token` is accepted with the same secret, issuer and audience") {
  // The exact construction of tools/bkrctl/src/token.cpp, on the wall clock.
  const auto now = std::chrono::system_clock::now();
  jwt::jwt_object obj{jwt::params::algorithm("HS256"), jwt::params::secret(dev_secret)};
  obj.add_claim("sub", "demo-client")
      .add_claim("iss", "bkr-dev")
      .add_claim("aud", "bkr-api")
      .add_claim("iat", now)
      .add_claim("nbf", now)
      .add_claim("exp", now + std::chrono::hours{1})
      .add_claim("scope", "post-backup-request get-backup-request post-store-status admin");
  const std::string token = obj.signature();

  bkr::system_clock clock;
  bkr::auth::static_key_source no_keys;
  bkr::auth::verifier_options o;
  o.issuers = {"bkr-dev"};
  o.audience = "bkr-api";
  o.allowed_algorithms = {algorithm::hs256};
  o.hs256_secret = dev_secret;
  auto v = bkr::auth::jwt_verifier::create(o, no_keys, clock).value();
  auto r = v->verify_authorization("Bearer " + token);
  REQUIRE(r.has_value());
  CHECK(r->subject == "demo-client");
  CHECK(r->issuer == "bkr-dev");
  CHECK(r->alg == algorithm::hs256);

  // mint_development_token produces the same shape.
  auto minted = bkr::auth::mint_development_token(
      {.secret = dev_secret, .subject = "demo-client", .scope = "admin", .issued_at = clock.now()});
  REQUIRE(minted.has_value());
  auto m = v->verify(*minted);
  REQUIRE(m.has_value());
  CHECK(m->subject == "demo-client");
  CHECK(m->scope_claim == "admin");
  CHECK_FALSE(bkr::auth::mint_development_token({.secret = "short", .subject = "x"}).has_value());
  CHECK_FALSE(bkr::auth::mint_development_token({.secret = dev_secret, .subject = ""}).has_value());
}

TEST_CASE("verifier options are validated") {
  bkr::manual_clock clock{t0};
  bkr::auth::static_key_source keys;
  auto expect_invalid = [&](bkr::auth::verifier_options o) {
    auto r = bkr::auth::jwt_verifier::create(std::move(o), keys, clock);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == make_error_code(errc::invalid_configuration));
  };
  auto o = base_options();
  o.issuers.clear();
  expect_invalid(o);
  o = base_options();
  o.issuers.push_back("");
  expect_invalid(o);
  o = base_options();
  o.audience.clear();
  expect_invalid(o);
  o = base_options();
  o.allowed_algorithms.clear();
  expect_invalid(o);
  o = base_options();
  o.leeway = hours{1};
  expect_invalid(o);
  CHECK(bkr::auth::jwt_verifier::create(base_options(), keys, clock).has_value());
}
