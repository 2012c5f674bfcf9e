// JWKS and PEM key parsing: valid RSA and EC keys, and every kind of bad key refused with a clear error.
#include "bkr/auth/jwks.hpp"
#include "bkr/auth/base64url.hpp"
#include "bkr/auth/errors.hpp"
#include "test_keys.hpp"

#include <catch2/catch.hpp>

using bkr::auth::algorithm;
using bkr::auth::errc;
using bkr::auth::parse_jwks;
using bkr::auth::verification_key;
using nlohmann::json;
namespace t = bkr::auth::test;

namespace {

json doc(std::initializer_list<json> keys) {
  json array = json::array();
  for (const auto& k : keys)
    array.push_back(k);
  return {{"keys", array}};
}

void check_refused(const json& document, std::string_view mentions) {
  auto r = parse_jwks(document.dump());
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == make_error_code(errc::invalid_key_set));
  INFO(r.error().message);
  CHECK(r.error().message.find(mentions) != std::string::npos);
}

std::string signing_input() {
  return "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0";
}

}  // namespace

TEST_CASE("a JWKS with RSA and EC keys parses into verification keys") {
  auto set = parse_jwks(doc({t::rsa_jwk(t::rsa_key_a(), "r1"), t::ec_jwk(t::ec_key_a(), "e1")}).dump());
  REQUIRE(set.has_value());
  REQUIRE(set->size() == 2);
  const auto* r1 = set->find("r1");
  const auto* e1 = set->find("e1");
  REQUIRE(r1);
  REQUIRE(e1);
  CHECK(r1->alg() == algorithm::rs256);
  CHECK(e1->alg() == algorithm::es256);
  CHECK(set->find("nope") == nullptr);
  CHECK(set->only_key_for(algorithm::rs256) == r1);
  CHECK(set->only_key_for(algorithm::hs256) == nullptr);

  // The parsed keys verify real signatures and refuse foreign ones.
  CHECK(r1->verify(signing_input(), t::rs256_signature(t::rsa_key_a(), signing_input())));
  CHECK_FALSE(r1->verify(signing_input(), t::rs256_signature(t::rsa_key_b(), signing_input())));
  CHECK(e1->verify(signing_input(), t::es256_signature(t::ec_key_a(), signing_input())));
  CHECK_FALSE(e1->verify(signing_input(), t::es256_signature(t::ec_key_b(), signing_input())));
  CHECK_FALSE(e1->verify(signing_input(), ""));
  CHECK_FALSE(r1->verify(signing_input(), std::string(256, '\0')));
}

TEST_CASE("optional JWK members: alg and use may be absent") {
  json rsa = t::rsa_jwk(t::rsa_key_a(), "r1");
  rsa.erase("alg");
  rsa.erase("use");
  json ec = t::ec_jwk(t::ec_key_a(), "e1");
  ec.erase("alg");
  ec["key_ops"] = json::array({"verify"});
  auto set = parse_jwks(doc({rsa, ec}).dump());
  REQUIRE(set.has_value());
  CHECK(set->find("r1")->alg() == algorithm::rs256);
  CHECK(set->find("e1")->alg() == algorithm::es256);
  // Leading zero octets in n are tolerated (some issuers emit them).
  json padded = t::rsa_jwk(t::rsa_key_a(), "r2");
  padded["n"] = bkr::auth::base64url_encode(std::string(1, '\0') +
                                            *bkr::auth::base64url_decode(padded["n"].get<std::string>()));
  CHECK(parse_jwks(doc({padded}).dump()).has_value());
}

TEST_CASE("keys of other types or purposes are skipped, not refused") {
  json enc = t::rsa_jwk(t::rsa_key_b(), "enc");
  enc["use"] = "enc";
  json rs512 = t::rsa_jwk(t::rsa_key_b(), "rs512");
  rs512["alg"] = "RS512";
  json p384 = {{"kty", "EC"}, {"crv", "P-384"}, {"kid", "p384"}, {"x", "AAAA"}, {"y", "AAAA"}};
  json oct = {{"kty", "oct"}, {"kid", "hmac"}, {"k", "c2VjcmV0"}};
  json okp = {{"kty", "OKP"}, {"crv", "Ed25519"}, {"kid", "ed"}, {"x", "AAAA"}};
  json wrap_only = t::rsa_jwk(t::rsa_key_b(), "wrap");
  wrap_only.erase("use");
  wrap_only["key_ops"] = json::array({"wrapKey"});
  auto set =
      parse_jwks(doc({enc, rs512, p384, oct, okp, wrap_only, t::rsa_jwk(t::rsa_key_a(), "r1")}).dump());
  REQUIRE(set.has_value());
  CHECK(set->size() == 1);
  CHECK(set->find("r1") != nullptr);
  // A document with nothing usable is refused.
  check_refused(doc({enc, oct}), "no RS256 or ES256");
}

TEST_CASE("malformed documents and keys are refused with a clear error") {
  auto refused_text = [](std::string_view text, std::string_view mentions) {
    auto r = parse_jwks(text);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == make_error_code(errc::invalid_key_set));
    CHECK(r.error().message.find(mentions) != std::string::npos);
  };
  refused_text("not json", "not valid JSON");
  refused_text("[]", "JSON object");
  refused_text("{}", "no `keys` array");
  refused_text(R"({"keys": {}})", "no `keys` array");

  const json rsa = t::rsa_jwk(t::rsa_key_a(), "r1");
  const json ec = t::ec_jwk(t::ec_key_a(), "e1");
  auto without = [](json k, const char* member) {
    k.erase(member);
    return k;
  };
  auto with = [](json k, const char* member, json value) {
    k[member] = std::move(value);
    return k;
  };
  check_refused(doc({json::array()}), "JSON object");
  check_refused(doc({without(rsa, "kty")}), "`kty` is missing");
  check_refused(doc({with(rsa, "kty", 1)}), "`kty` must be a string");
  check_refused(doc({without(rsa, "n")}), "`n` is missing");
  check_refused(doc({with(rsa, "n", "not*base64")}), "`n` is not base64url");
  check_refused(doc({with(rsa, "e", bkr::auth::base64url_encode(std::string_view("\x01\x00", 2)))}),
                "exponent");
  check_refused(doc({with(rsa, "e", "AQ")}), "exponent");  // e = 1
  check_refused(doc({t::rsa_jwk(t::rsa_key_1024(), "weak")}), "1024 bits");
  check_refused(doc({with(rsa, "alg", "ES256")}), "does not fit an RSA key");
  check_refused(doc({with(rsa, "d", "AAAA")}), "private key material");
  check_refused(doc({with(rsa, "kid", 5)}), "`kid` must be a string");
  check_refused(doc({with(rsa, "kid", "")}), "`kid` must be 1..256");
  check_refused(doc({with(rsa, "use", 3)}), "`use` must be a string");
  check_refused(doc({with(rsa, "key_ops", "verify")}), "`key_ops` must be an array");

  check_refused(doc({without(ec, "crv")}), "`crv` is missing");
  check_refused(doc({with(ec, "crv", "P-384")}), "needs `crv` P-256");
  check_refused(doc({with(ec, "alg", "RS256")}), "does not fit an EC key");
  check_refused(doc({with(ec, "x", bkr::auth::base64url_encode(std::string(31, 'x')))}), "32 bytes");
  check_refused(doc({without(ec, "y")}), "`y` is missing");
  // Flip a bit of y: no longer a point on the curve.
  std::string y = *bkr::auth::base64url_decode(ec["y"].get<std::string>());
  y[31] = static_cast<char>(y[31] ^ 1);
  check_refused(doc({with(ec, "y", bkr::auth::base64url_encode(y))}), "not a point on P-256");

  // A problem names the key by position and kid.
  check_refused(doc({ec, without(rsa, "e")}), "#1");
  check_refused(doc({ec, without(rsa, "e")}), "`r1`");
  // Duplicate kids.
  check_refused(doc({rsa, with(ec, "kid", "r1")}), "share the kid");
}

TEST_CASE("single JWKs and PEM public keys") {
  auto r = verification_key::from_jwk(t::rsa_jwk(t::rsa_key_a(), "r1"));
  REQUIRE(r.has_value());
  CHECK(r->kid() == "r1");
  json enc = t::rsa_jwk(t::rsa_key_a(), "r1");
  enc["use"] = "enc";
  auto skipped = verification_key::from_jwk(enc);
  REQUIRE_FALSE(skipped.has_value());
  CHECK(skipped.error().code == make_error_code(errc::invalid_key));

  auto rsa_pem = verification_key::from_public_pem(t::rsa_key_a().public_pem, "pem-rsa");
  REQUIRE(rsa_pem.has_value());
  CHECK(rsa_pem->alg() == algorithm::rs256);
  CHECK(rsa_pem->verify(signing_input(), t::rs256_signature(t::rsa_key_a(), signing_input())));
  auto ec_pem = verification_key::from_public_pem(t::ec_key_a().public_pem);
  REQUIRE(ec_pem.has_value());
  CHECK(ec_pem->alg() == algorithm::es256);
  CHECK_FALSE(ec_pem->kid().has_value());
  CHECK(ec_pem->verify(signing_input(), t::es256_signature(t::ec_key_a(), signing_input())));

  for (const std::string& bad : {std::string("garbage"), t::rsa_key_1024().public_pem,
                                 t::ec_key_p384().public_pem, t::rsa_key_a().private_pem}) {
    auto k = verification_key::from_public_pem(bad);
    REQUIRE_FALSE(k.has_value());
    CHECK(k.error().code == make_error_code(errc::invalid_key));
  }
  CHECK_FALSE(
      verification_key::from_public_pem(t::rsa_key_a().public_pem, std::string(300, 'k')).has_value());

  auto hs = verification_key::from_hs256_secret(std::string(32, 's'));
  REQUIRE(hs.has_value());
  CHECK(hs->alg() == algorithm::hs256);
  CHECK(hs->verify("a.b", t::hs256_signature(std::string(32, 's'), "a.b")));
  CHECK_FALSE(hs->verify("a.b", t::hs256_signature(std::string(32, 't'), "a.b")));
  CHECK_FALSE(verification_key::from_hs256_secret(std::string(31, 's')).has_value());
}
