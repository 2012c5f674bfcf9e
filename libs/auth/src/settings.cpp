// The auth.* configuration keys and their mapping onto the library's options.
#include "bkr/auth/settings.hpp"

#include "bkr/auth/errors.hpp"

#include <algorithm>
#include <cctype>

namespace bkr::auth {
namespace {

bkr::error config_error(std::string message) {
  return {make_error_code(errc::invalid_configuration), std::move(message)};
}

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> items;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find(',', start);
    if (end == std::string_view::npos)
      end = text.size();
    std::string_view item = text.substr(start, end - start);
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.front())))
      item.remove_prefix(1);
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.back())))
      item.remove_suffix(1);
    if (!item.empty())
      items.emplace_back(item);
    start = end + 1;
  }
  return items;
}

}  // namespace

const std::vector<config::key>& config_keys() {
  using config::value_type;
  static const std::vector<config::key> keys{
      {.name = "auth.issuers",
       .default_value = "bkr-dev",
       .help = "comma-separated accepted token issuers (iss)",
       .min = 1},
      {.name = "auth.audience",
       .default_value = "bkr-api",
       .help = "audience (aud) every token must name",
       .min = 1},
      {.name = "auth.leeway",
       .type = value_type::duration,
       .default_value = "30s",
       .help = "clock skew allowed on exp, nbf and iat",
       .min = 0,
       .max = 300'000},
      {.name = "auth.algorithms",
       .default_value = "RS256,ES256",
       .help = "comma-separated accepted token algorithms (RS256, ES256, HS256); HS256 also needs "
               "auth.hs256_secret"},
      {.name = "auth.jwks_file", .help = "JWKS file with the RS256/ES256 verification keys"},
      {.name = "auth.jwks_url", .help = "URL of the JWKS with the RS256/ES256 verification keys"},
      {.name = "auth.jwks_refresh",
       .type = value_type::duration,
       .default_value = "10m",
       .help = "how often the JWKS is re-read",
       .min = 10'000,
       .max = 86'400'000},
      {.name = "auth.jwks_min_refresh_interval",
       .type = value_type::duration,
       .default_value = "30s",
       .help = "at most one extra JWKS read per this interval when a token names an unknown key",
       .min = 1'000,
       .max = 3'600'000},
      {.name = "auth.hs256_secret",
       .secret = true,
       .help = "development only: HS256 shared secret (at least 32 bytes); used only when auth.algorithms "
               "lists HS256",
       .min = 32},
      {.name = "auth.token_cache_ttl",
       .type = value_type::duration,
       .default_value = "60s",
       .help = "how long a verified token is remembered (never past its exp); 0 disables",
       .min = 0,
       .max = 3'600'000},
      {.name = "auth.scope_cache_ttl",
       .type = value_type::duration,
       .default_value = "30s",
       .help = "how long a client's scopes are cached",
       .min = 0,
       .max = 600'000},
      {.name = "auth.scope_cache_negative_ttl",
       .type = value_type::duration,
       .default_value = "5s",
       .help = "how long an unknown client is remembered as unknown",
       .min = 0,
       .max = 600'000},
  };
  return keys;
}

result<settings> settings_from(const config::values& values) {
  settings s;
  s.verifier.issuers = split_list(values.get_string("auth.issuers"));
  s.verifier.audience = values.get_string("auth.audience");
  s.verifier.leeway = values.get_duration("auth.leeway");
  s.verifier.cache_ttl = values.get_duration("auth.token_cache_ttl");
  s.verifier.allowed_algorithms.clear();
  for (auto name : split_list(values.get_string("auth.algorithms"))) {
    std::transform(name.begin(), name.end(), name.begin(),
                   [](char c) { return static_cast<char>(std::toupper(static_cast<unsigned char>(c))); });
    const auto alg = algorithm_from_string(name);
    if (!alg)
      return config_error("auth.algorithms: unknown algorithm " + name + " (known: RS256, ES256, HS256)");
    if (std::find(s.verifier.allowed_algorithms.begin(), s.verifier.allowed_algorithms.end(), *alg) ==
        s.verifier.allowed_algorithms.end())
      s.verifier.allowed_algorithms.push_back(*alg);
  }
  if (values.has("auth.hs256_secret"))
    s.verifier.hs256_secret = values.get_string("auth.hs256_secret");
  if (values.has("auth.jwks_file"))
    s.jwks_file = values.get_string("auth.jwks_file");
  if (values.has("auth.jwks_url"))
    s.jwks_url = values.get_string("auth.jwks_url");
  s.jwks.refresh_period = values.get_duration("auth.jwks_refresh");
  s.jwks.missing_key_min_interval = values.get_duration("auth.jwks_min_refresh_interval");
  s.scopes.ttl = values.get_duration("auth.scope_cache_ttl");
  s.scopes.negative_ttl = values.get_duration("auth.scope_cache_negative_ttl");

  if (s.jwks_file && s.jwks_url)
    return config_error("auth.jwks_file and auth.jwks_url are both set; choose one");
  if (s.jwks_url && s.jwks_url->rfind("https://", 0) != 0 && s.jwks_url->rfind("http://", 0) != 0)
    return config_error("auth.jwks_url must be an http:// or https:// URL");
  const auto& algs = s.verifier.allowed_algorithms;
  const bool asymmetric =
      std::any_of(algs.begin(), algs.end(), [](algorithm a) { return a != algorithm::hs256; });
  if (asymmetric && !s.jwks_file && !s.jwks_url)
    return config_error(
        "auth.algorithms lists RS256/ES256 but neither auth.jwks_file nor auth.jwks_url is set (for a local "
        "run "
        "with development tokens: auth.algorithms=HS256 and auth.hs256_secret)");
  if (auto ok = validate(s.verifier); !ok)
    return ok.error();
  return s;
}

}  // namespace bkr::auth
