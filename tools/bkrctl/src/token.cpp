// `bkrctl token`: mints an HS256 development JWT for a client (JWT `sub`) with the configured
// issuer/audience.
#include "commands.hpp"

#include "bkr/common/config.hpp"
#include "bkr/domain/types.hpp"

#include <jwt/jwt.hpp>

#include <chrono>
#include <ostream>
#include <sstream>

namespace bkr::bkrctl {
namespace {

constexpr const char* token_usage = R"(usage: bkrctl token --client ID [--scopes S1,S2] [--ttl DURATION]

Prints a development JWT signed with HS256 and BKR_AUTH_HS256_SECRET (at least 32 bytes), with
sub = ID, iss = the first of BKR_AUTH_ISSUERS (default bkr-dev), aud = BKR_AUTH_AUDIENCE (default bkr-api),
iat/nbf = now, exp = now + DURATION (default 1h; e.g. 900s, 30m, 8h), and a `scope` claim listing the scopes
(default: all). What a client may do is decided by the client_authorization table, not by this claim:
`bkrctl seed-demo` registers the demo client `demo-client` with every scope.
)";

const std::vector<config::key>& token_spec() {
  static const std::vector<config::key> spec{
      {.name = "auth.hs256_secret",
       .required = true,
       .secret = true,
       .help = "development HS256 signing secret",
       .min = 32},
      {.name = "auth.issuers",
       .default_value = "bkr-dev",
       .help = "comma-separated issuers; the first signs"},
      {.name = "auth.audience", .default_value = "bkr-api", .help = "audience claim"},
  };
  return spec;
}

}  // namespace

int token(const context& ctx, std::span<const std::string> args) {
  std::string client;
  std::string scopes = "post-backup-request,get-backup-request,post-store-status,admin";
  std::string ttl_text = "1h";
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const char* name) -> const std::string* {
      if (i + 1 >= args.size()) {
        ctx.err << "bkrctl token: " << name << " needs a value\n";
        return nullptr;
      }
      return &args[++i];
    };
    if (a == "--help" || a == "-h") {
      ctx.out << token_usage;
      return 0;
    } else if (a == "--client") {
      const auto* v = value("--client");
      if (!v)
        return 2;
      client = *v;
    } else if (a == "--scopes") {
      const auto* v = value("--scopes");
      if (!v)
        return 2;
      scopes = *v;
    } else if (a == "--ttl") {
      const auto* v = value("--ttl");
      if (!v)
        return 2;
      ttl_text = *v;
    } else {
      ctx.err << "bkrctl token: unknown argument '" << a << "'\n" << token_usage;
      return 2;
    }
  }
  if (client.empty() || client.size() > 256) {
    ctx.err << "bkrctl token: --client is required (1..256 characters)\n";
    return 2;
  }
  const std::vector<std::string> known{
      std::string(domain::scope_post_backup_request), std::string(domain::scope_get_backup_request),
      std::string(domain::scope_post_store_status), std::string(domain::scope_admin)};
  std::string scope_claim;
  std::istringstream split(scopes);
  for (std::string s; std::getline(split, s, ',');) {
    if (std::find(known.begin(), known.end(), s) == known.end()) {
      ctx.err << "bkrctl token: unknown scope '" << s
              << "' (known: post-backup-request, get-backup-request, post-store-status, admin)\n";
      return 2;
    }
    scope_claim += (scope_claim.empty() ? "" : " ") + s;
  }

  std::vector<config::key> spec = token_spec();
  spec.push_back({.name = "token.ttl",
                  .type = config::value_type::duration,
                  .help = "lifetime",
                  .min = 1000,
                  .max = 30LL * 24 * 3600 * 1000});
  auto src = config::process_sources();
  src.environment["BKR_TOKEN_TTL"] = ttl_text;
  src.file_path.reset();
  auto cfg = config::load(spec, src);
  if (!cfg) {
    ctx.err << "bkrctl token: " << cfg.error().message << "\n";
    return 2;
  }
  const std::string issuers = cfg->get_string("auth.issuers");
  const std::string issuer = issuers.substr(0, issuers.find(','));
  const auto now = std::chrono::system_clock::now();
  jwt::jwt_object obj{jwt::params::algorithm("HS256"),
                      jwt::params::secret(cfg->get_string("auth.hs256_secret"))};
  obj.add_claim("sub", client)
      .add_claim("iss", issuer)
      .add_claim("aud", cfg->get_string("auth.audience"))
      .add_claim("iat", now)
      .add_claim("nbf", now)
      .add_claim("exp", now + cfg->get_duration("token.ttl"))
      .add_claim("scope", scope_claim);
  ctx.out << obj.signature() << "\n";
  return 0;
}

}  // namespace bkr::bkrctl
