// Bearer-token verification and cached scope checks, with database lookups kept off the I/O threads.
#include "bkr/receive_request/authenticator.hpp"

#include "bkr/auth/errors.hpp"
#include "bkr/receive_request/http_errors.hpp"
#include "bkr/storage/client_authorization_repository.hpp"
#include "bkr/storage/unit_of_work.hpp"

#include <stdexcept>

namespace bkr::receive_request {
namespace {

// Set while the authorizer runs on an I/O thread: a cache miss must not read the database there.
thread_local bool t_lookup_forbidden = false;
thread_local bool t_lookup_refused = false;

/// Thrown by the scope lookup on an I/O thread; the authorizer turns it into `unavailable` (uncached).
struct would_block : std::runtime_error {
  would_block() : std::runtime_error("scope lookup deferred to a blocking thread") {}
};

/// Marks the current thread as one that must not block, for the lifetime of the guard.
class inline_only {
 public:
  inline_only() {
    t_lookup_forbidden = true;
    t_lookup_refused = false;
  }
  ~inline_only() { t_lookup_forbidden = false; }
  inline_only(const inline_only&) = delete;
  inline_only& operator=(const inline_only&) = delete;
  /// Whether the authorizer wanted to look the client up (its answer was then no answer).
  bool refused() const noexcept { return t_lookup_refused; }
};

}  // namespace

auth::scope_lookup deferring_scope_lookup(auth::scope_lookup inner) {
  return [inner = std::move(inner)](std::string_view client_id) -> std::optional<std::set<std::string>> {
    if (t_lookup_forbidden) {
      t_lookup_refused = true;
      throw would_block();
    }
    return inner(client_id);
  };
}

auth::scope_lookup make_scope_lookup(storage::connection_pool& pool) {
  return deferring_scope_lookup([&pool](std::string_view client_id) {
    const storage::client_authorization_repository clients;
    storage::unit_of_work uow(pool);
    return clients.find_scopes(uow, client_id);
  });
}

authenticator::authenticator(const auth::jwt_verifier& verifier, const auth::scope_authorizer& authorizer,
                             blocking_executor blocking, metrics::registry& registry)
    : verifier_(verifier),
      authorizer_(authorizer),
      blocking_(blocking),
      rejections_(registry.add_counter("bkr_receive_request_auth_rejections_total",
                                       "Requests refused by authentication or authorization, by reason.",
                                       {"reason"})) {}

boost::asio::awaitable<auth::decision> authenticator::decide(std::string subject, std::string scope) const {
  {
    inline_only guard;
    const auto d = authorizer_.authorize(subject, scope);
    if (d != auth::decision::unavailable || !guard.refused())
      co_return d;
  }
  co_return co_await run_blocking(blocking_,
                                  [this, &subject, &scope] { return authorizer_.authorize(subject, scope); });
}

boost::asio::awaitable<bkr::result<http::request>> authenticator::require(std::string scope,
                                                                          http::request req) const {
  // Two tokens are ambiguous, even two equal ones: which client is calling must not depend on field order.
  if (const auto n = req.headers.count("Authorization"); n > 1) {
    rejections_.with({"repeated_authorization"}).inc();
    co_return repeated_authorization(n);
  }
  // Verification is CPU work (an RSA or ECDSA check, or a cache hit): it stays on the I/O thread.
  auto who = verifier_.verify_authorization(req.headers.get("Authorization"));
  if (!who) {
    const auto reason = who.error().code.category() == auth::category()
                            ? auth::to_string(static_cast<auth::errc>(who.error().code.value()))
                            : std::string_view("invalid");
    rejections_.with({reason}).inc();
    co_return token_error(who.error());
  }
  const auto d = co_await decide(who->subject, scope);
  if (auto refused = decision_error(d, scope)) {
    rejections_.with({d == auth::decision::forbidden ? "forbidden" : "authorization_unavailable"}).inc();
    co_return *refused;
  }
  req.principal = http::principal{who->subject, who->issuer, {std::move(scope)}};
  co_return std::move(req);
}

}  // namespace bkr::receive_request
