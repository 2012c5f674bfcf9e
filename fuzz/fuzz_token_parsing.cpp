// Fuzz target: the bearer-token verifier of libs/auth as bkr-receive-request configures it, with a fixed
// HS256 secret and a fixed JWKS (one RS256 and one ES256 public key; their private halves were never kept).
//
// Two kinds of input:
// - anything not starting with '{' is an `Authorization` header value. Nobody signed it, so it must be
//   refused, as a token rejection (401): the run aborts if a token made of fuzz bytes is ever accepted;
// - "<header JSON>\n<claims JSON>" (starting with '{') is made into a token signed with the HS256 secret,
//   so the claim checks after the signature are fuzzed too. It must be accepted exactly when the README's
//   rules say so (alg HS256, no crit, typ, exp/nbf/iat with leeway, iss, aud, sub), the principal must carry
//   its claims, its subject must be a requesterId the domain takes, and any change to the signed token must
//   make it refused.
#include "fuzz_check.hpp"

#include "bkr/auth/base64url.hpp"
#include "bkr/auth/errors.hpp"
#include "bkr/auth/jwks.hpp"
#include "bkr/auth/jwt_verifier.hpp"
#include "bkr/auth/keys.hpp"
#include "bkr/common/clock.hpp"
#include "bkr/domain/validation.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace {

using bkr::fuzz::require;
namespace auth = bkr::auth;

const bkr::timestamp fixed_now{std::chrono::milliseconds{1'767'225'600'000}};  // 2026-01-01T00:00:00Z
constexpr long long leeway_ms = 30'000;
const std::string hs256_secret = "fuzz-only-hs256-secret-0123456789abcdef";
const std::vector<std::string> issuers{"bkr-dev", "https://issuer.example"};
const std::string audience = "bkr-api";
constexpr double numeric_date_max_s = 95'617'584'000.0;  // year 5000, as the verifier's limit

// kid "fuzz-rsa": RSA 2048, e = 65537; kid "fuzz-ec": P-256.
constexpr std::string_view jwks_document = R"({"keys":[
{"kty":"RSA","kid":"fuzz-rsa","alg":"RS256","use":"sig","e":"AQAB","n":"5ftKZrdy75ahsd0af_zk-4vnG8iDRkVvtu5pY8f5FDUUrJP_nKY7iYPUpCAM5vofv0I5gfqZnRYRoyG70yfKVUBH037z6braYB6Ea0CgW3XpXUvVm0nlUcmXZeyy0oX6ASNlzcUmDrxrZJlR4LnvhveJ6-mcWcbk4Ekc5gRzjdnhvGrZEDG_whjxxQVmL1IZPJVxGtWCsa1k662rcbS5CdLO13bSZbaSEzvkiToLLIm5YbI1YrlNtx-tOkOTtlWunlA0MZX5oFoj549r-3zwx3CR0o3616znh4zQL7WPftluwU7A-uyjBMNnSbx85WRsTDxi3HlprcIk4lYCW5o5xQ"},
{"kty":"EC","kid":"fuzz-ec","alg":"ES256","use":"sig","crv":"P-256","x":"Y657R24pqXCIxSL0PdVPV-L4Ue12KdlBm12XtiBQc7E","y":"8sV1FFux32cQGTnaBmCKFXq-1Bk56ptENmRptjViAak"}
]})";

/// The verifier and what it borrows, built once per process and never changed: no state carries over
/// from one input to the next (the verified-token cache is off).
struct fixture {
  bkr::manual_clock clock{fixed_now};
  auth::static_key_source keys;
  std::unique_ptr<auth::jwt_verifier> verifier;

  fixture() : keys(auth::parse_jwks(jwks_document).value()) {
    auth::verifier_options o;
    o.issuers = issuers;
    o.audience = audience;
    o.leeway = std::chrono::milliseconds{leeway_ms};
    o.allowed_algorithms = {auth::algorithm::rs256, auth::algorithm::es256, auth::algorithm::hs256};
    o.hs256_secret = hs256_secret;
    o.cache_ttl = std::chrono::milliseconds{0};
    verifier = auth::jwt_verifier::create(std::move(o), keys, clock).value();
    require(this->keys.current()->size() == 2, "the fixed JWKS holds both keys");
  }
};

const fixture& the_fixture() {
  static const fixture f;
  return f;
}

void require_rejection(const bkr::result<auth::principal>& r) {
  require(!r.has_value(), "a token nobody signed is never accepted");
  require(r.error().code.category() == auth::category() &&
              auth::is_token_rejection(static_cast<auth::errc>(r.error().code.value())),
          "a refused token is a token rejection (401), not a key or configuration error");
  require(!r.error().message.empty(), "a rejection names the failed check");
}

std::string hs256(std::string_view signing_input) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(signing_input.data());
  require(HMAC(EVP_sha256(), hs256_secret.data(), static_cast<int>(hs256_secret.size()), in,
               signing_input.size(), mac, &length) != nullptr,
          "HMAC-SHA256 works");
  return auth::base64url_encode(std::string_view(reinterpret_cast<const char*>(mac), length));
}

// A NumericDate claim as the README defines it, in milliseconds: absent, malformed, or a value.
struct numeric_date {
  bool present = false;
  bool valid = true;
  long long ms = 0;
};

numeric_date read_numeric_date(const nlohmann::json& claims, const char* name) {
  const auto it = claims.find(name);
  if (it == claims.end())
    return {};
  if (!it->is_number())
    return {true, false, 0};
  const double s = it->get<double>();
  if (!std::isfinite(s) || s < 0 || s > numeric_date_max_s)
    return {true, false, 0};
  if (it->is_number_integer())
    return {true, true, it->get<long long>() * 1000};
  return {true, true, static_cast<long long>(std::floor(s * 1000.0))};
}

bool lower_equals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x >= 'A' && x <= 'Z' ? static_cast<char>(x - 'A' + 'a') : x) == y;
         });
}

// C0, DEL or C1 in `text`, read as code points (it is well-formed UTF-8: it went through the JSON parser).
bool has_control_character(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const auto lead = static_cast<unsigned char>(text[i]);
    const std::size_t length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    char32_t cp = length == 1 ? lead : lead & (0x7F >> length);
    for (std::size_t k = 1; k < length && i + k < text.size(); ++k)
      cp = (cp << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F))
      return true;
    i += length;
  }
  return false;
}

// The README's verification rules for an HS256-signed token, written out independently of the verifier.
bool should_accept(std::string_view header_text, std::string_view claims_text) {
  const auto header = nlohmann::json::parse(header_text, nullptr, false);
  if (header.is_discarded() || !header.is_object())
    return false;
  const auto alg = header.find("alg");
  if (alg == header.end() || !alg->is_string() || alg->get<std::string>() != "HS256" ||
      header.contains("crit"))
    return false;
  if (const auto typ = header.find("typ"); typ != header.end()) {
    if (!typ->is_string())
      return false;
    const auto& t = typ->get_ref<const std::string&>();
    if (!lower_equals(t, "jwt") && !lower_equals(t, "at+jwt") && !lower_equals(t, "application/jwt") &&
        !lower_equals(t, "application/at+jwt"))
      return false;
  }
  if (const auto kid = header.find("kid"); kid != header.end() && !kid->is_string())
    return false;

  const auto claims = nlohmann::json::parse(claims_text, nullptr, false);
  if (claims.is_discarded() || !claims.is_object())
    return false;
  const long long now = fixed_now.time_since_epoch().count();
  const auto exp = read_numeric_date(claims, "exp");
  if (!exp.present || !exp.valid || now >= exp.ms + leeway_ms)
    return false;
  const auto nbf = read_numeric_date(claims, "nbf");
  if (!nbf.valid || (nbf.present && now + leeway_ms < nbf.ms))
    return false;
  const auto iat = read_numeric_date(claims, "iat");
  if (!iat.valid || (iat.present && iat.ms > now + leeway_ms))
    return false;
  const auto iss = claims.find("iss");
  if (iss == claims.end() || !iss->is_string() ||
      std::find(issuers.begin(), issuers.end(), iss->get<std::string>()) == issuers.end())
    return false;
  const auto aud = claims.find("aud");
  if (aud == claims.end())
    return false;
  const auto is_ours = [](const nlohmann::json& a) {
    return a.is_string() && a.get<std::string>() == audience;
  };
  if (!(is_ours(*aud) || (aud->is_array() && std::any_of(aud->begin(), aud->end(), is_ours))))
    return false;
  const auto sub = claims.find("sub");
  if (sub == claims.end() || !sub->is_string())
    return false;
  const auto& s = sub->get_ref<const std::string&>();
  return !s.empty() && s.size() <= 256 && !has_control_character(s);
}

void fuzz_header_value(std::string_view value) {
  const auto& f = the_fixture();
  require_rejection(f.verifier->verify_authorization(value));
  require_rejection(f.verifier->verify(value));
}

void fuzz_signed_claims(std::string_view input) {
  const auto& f = the_fixture();
  std::string_view claims_text = input;
  bool has_claims = false;
  const auto header_text = bkr::fuzz::take_line(claims_text, has_claims);
  const std::string signing_input =
      auth::base64url_encode(header_text) + "." + auth::base64url_encode(claims_text);
  const std::string token = signing_input + "." + hs256(signing_input);

  const auto r = f.verifier->verify(token);
  const auto via_header = f.verifier->verify_authorization("Bearer " + token);
  require(r.has_value() == via_header.has_value() &&
              (r.has_value() ? *r == *via_header : r.error() == via_header.error()),
          "the Authorization header path gives the same answer as the token itself");
  const bool expected =
      token.size() <= f.verifier->options().max_token_bytes && should_accept(header_text, claims_text);
  require(r.has_value() == expected, r.has_value() ? "an HS256 token is accepted only when every rule holds"
                                                   : "an HS256 token that meets every rule is accepted");
  if (!r) {
    require(auth::is_token_rejection(static_cast<auth::errc>(r.error().code.value())),
            "a refused token is a token rejection (401)");
    return;
  }

  const auto header = nlohmann::json::parse(header_text);
  const auto claims = nlohmann::json::parse(claims_text);
  require(r->alg == auth::algorithm::hs256, "the principal's algorithm is the token's");
  require(r->subject == claims.at("sub").get<std::string>(), "the principal's subject is `sub`");
  require(r->issuer == claims.at("iss").get<std::string>(), "the principal's issuer is `iss`");
  require(
      r->key_id == (header.contains("kid") ? std::optional(header["kid"].get<std::string>()) : std::nullopt),
      "the principal's key id is `kid`");
  require(r->expires_at.time_since_epoch().count() == read_numeric_date(claims, "exp").ms,
          "the principal expires at `exp`");
  const auto scope = claims.find("scope");
  require(r->scope_claim == (scope != claims.end() && scope->is_string()
                                 ? std::optional(scope->get<std::string>())
                                 : std::nullopt),
          "the principal's scope claim is `scope` when it is a string");
  require(bkr::domain::validate_requester_id(r->subject).has_value(),
          "every subject the verifier accepts is a requesterId the domain takes");

  // Any change to a signed token breaks it: the last signature character, or one payload character.
  std::string tampered = token;
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  require(!f.verifier->verify(tampered), "a token with a changed signature is refused");
  tampered = token;
  auto& c = tampered[token.find('.') + 1];
  c = c == 'A' ? 'B' : 'A';
  require(!f.verifier->verify(tampered), "a token with a changed payload is refused");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = bkr::fuzz::as_text(data, size);
  if (!input.empty() && input.front() == '{')
    fuzz_signed_claims(input);
  else
    fuzz_header_value(input);
  return 0;
}
