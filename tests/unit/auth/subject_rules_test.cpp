// The `sub` claim becomes the requesterId of the caller's requests: a token whose subject the domain would
// refuse is refused here, as missing_subject.
#include "bkr/auth/errors.hpp"
#include "bkr/auth/jwt_verifier.hpp"
#include "test_keys.hpp"

#include <catch2/catch.hpp>

#include <string>

using bkr::auth::algorithm;
using nlohmann::json;
namespace t = bkr::auth::test;

namespace {

const bkr::timestamp now{std::chrono::milliseconds{1'767'225'600'000}};  // 2026-01-01T00:00:00Z
const std::string secret = "subject-rules-hs256-secret-0123456789abcdef";

bkr::result<bkr::auth::principal> verify_subject(const std::string& sub) {
  bkr::manual_clock clock{now};
  bkr::auth::static_key_source keys;
  bkr::auth::verifier_options o;
  o.issuers = {"bkr-dev"};
  o.audience = "bkr-api";
  o.allowed_algorithms = {algorithm::hs256};
  o.hs256_secret = secret;
  auto verifier = bkr::auth::jwt_verifier::create(std::move(o), keys, clock).value();
  const json claims{{"iss", "bkr-dev"}, {"aud", "bkr-api"}, {"sub", sub}, {"exp", 1'767'229'200}};
  return verifier->verify(t::raw_token({{"alg", "HS256"}}, claims,
                                       [](std::string_view in) { return t::hs256_signature(secret, in); }));
}

}  // namespace

// Found by fuzz_token_parsing: "client\u0085a" (NEL, a C1 control) was accepted, and the POST of that
// client then failed with 400 BadData on a requesterId it never sent.
TEST_CASE("a subject holding a C1 control character is refused", "[auth][verifier][subject]") {
  for (const char* sub : {"client\u0085a", "\u0080", "client\u009f"}) {
    INFO(sub);
    const auto r = verify_subject(sub);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == bkr::auth::errc::missing_subject);
  }
}

TEST_CASE("a subject with other non-ASCII characters is accepted as it is", "[auth][verifier][subject]") {
  // U+00A0 (C2 A0) and U+00BF (C2 BF) share the C2 lead byte with C1 but are no controls.
  for (const char* sub : {"client\u00a0a", "\u00bfclient?", "kunde-\u00e9\u20ac\U0001F600"}) {
    INFO(sub);
    const auto r = verify_subject(sub);
    REQUIRE(r.has_value());
    CHECK(r->subject == sub);
  }
}
