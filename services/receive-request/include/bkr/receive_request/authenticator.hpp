// Authentication (bearer JWT) and authorization (client_authorization scopes) of the API routes.
#pragma once

#include "bkr/auth/jwt_verifier.hpp"
#include "bkr/auth/scope_authorizer.hpp"
#include "bkr/common/metrics.hpp"
#include "bkr/http/message.hpp"
#include "bkr/receive_request/blocking.hpp"
#include "bkr/storage/connection_pool.hpp"

#include <boost/asio/awaitable.hpp>

#include <string>
#include <string_view>

namespace bkr::receive_request {

/// The scope lookup for auth::scope_authorizer, reading client_authorization through `pool`. While an
/// authenticator runs the authorizer on an I/O thread it refuses to block: it throws instead, the authorizer
/// reports `unavailable` without caching anything, and the authenticator asks again on a blocking thread.
/// So a cached answer costs no thread hop and a database read never runs on an I/O thread.
auth::scope_lookup make_scope_lookup(storage::connection_pool& pool);

/// The same rule around any lookup: `inner` runs only where an authenticator allows blocking.
auth::scope_lookup deferring_scope_lookup(auth::scope_lookup inner);

/// The routes' pre-handler: verifies the bearer token (401 for every failure), then checks the route's
/// scope in client_authorization through the authorizer's cache (403 for an unknown client or a missing
/// scope, 503 when the lookup fails: never 403 for an outage). Stateless apart from its metrics; the
/// verifier, authorizer and blocking pool are borrowed and must outlive it. Thread-safe.
class authenticator {
 public:
  authenticator(const auth::jwt_verifier& verifier, const auth::scope_authorizer& authorizer,
                blocking_executor blocking, metrics::registry& registry);

  /// For route_options::before, bound with the route's scope: gives the request back with `principal`
  /// set (subject, issuer, and the scope just checked), or the error to answer.
  boost::asio::awaitable<bkr::result<http::request>> require(std::string scope, http::request req) const;

  /// Whether `subject` holds `scope`: from the cache on the calling thread, or looked up on a blocking
  /// thread when the cache has no answer.
  boost::asio::awaitable<auth::decision> decide(std::string subject, std::string scope) const;

 private:
  const auth::jwt_verifier& verifier_;
  const auth::scope_authorizer& authorizer_;
  blocking_executor blocking_;
  metrics::counter_family& rejections_;
};

}  // namespace bkr::receive_request
