// The one place where this service's outcomes become HTTP error kinds (answered through http::map_error).
#pragma once

#include "bkr/auth/errors.hpp"
#include "bkr/auth/scope_authorizer.hpp"
#include "bkr/common/error.hpp"
#include "bkr/receive_request/group_committer.hpp"

#include <optional>
#include <string_view>

namespace bkr::receive_request {

/// A refused bearer token (any auth::errc token rejection) -> 401 `Unauthorized` with a Bearer challenge:
/// without error attributes when no token came, else `error="invalid_token"`. The message (also the
/// challenge's error_description) names the failed check (`expired`, `bad_signature`, ...), never the token
/// or anything taken from it.
bkr::error token_error(const bkr::error& refused);

/// More than one Authorization field (`count`): ambiguous, so refused whatever the tokens -> 400
/// `BadRequest` with a Bearer challenge `error="invalid_request"` (RFC 6750 3.1).
bkr::error repeated_authorization(std::size_t count);

/// A scope decision that is not `allowed` -> 403 `Forbidden` (challenge `error="insufficient_scope"`) or
/// 503 `Unavailable`; nullopt when allowed.
std::optional<bkr::error> decision_error(auth::decision d, std::string_view scope);

/// A commit outcome that is not `committed`/`replayed` -> 503 `Unavailable` (queue full, Postgres
/// unreachable or slow) or 500 `Internal`; nullopt for the two successes.
std::optional<bkr::error> commit_error(commit_status s);

}  // namespace bkr::receive_request
