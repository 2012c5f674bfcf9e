// Translation of token, scope and commit outcomes into the HTTP error kinds of libs/http.
#include "bkr/receive_request/http_errors.hpp"

#include "bkr/http/errors.hpp"

#include <string>

namespace bkr::receive_request {

bkr::error token_error(const bkr::error& refused) {
  if (refused.code == auth::errc::missing_token)
    return http::make_error(http::errc::unauthorized, "missing bearer token (Authorization: Bearer <JWT>)");
  if (refused.code.category() == auth::category()) {
    return http::make_error(http::errc::invalid_token,
                            "invalid bearer token: " +
                                std::string(auth::to_string(static_cast<auth::errc>(refused.code.value()))));
  }
  return http::make_error(http::errc::invalid_token, "invalid bearer token");
}

bkr::error repeated_authorization(std::size_t count) {
  return http::make_error(http::errc::invalid_auth_request,
                          "the request carries " + std::to_string(count) +
                              " Authorization fields; send exactly one bearer token");
}

std::optional<bkr::error> decision_error(auth::decision d, std::string_view scope) {
  switch (d) {
    case auth::decision::allowed:
      return std::nullopt;
    case auth::decision::forbidden:
      return http::make_error(http::errc::insufficient_scope,
                              "the client is unknown or lacks the scope " + std::string(scope));
    case auth::decision::unavailable:
      return http::make_error(http::errc::unavailable, "");
  }
  return http::make_error(http::errc::internal, "");
}

std::optional<bkr::error> commit_error(commit_status s) {
  switch (s) {
    case commit_status::committed:
    case commit_status::replayed:
      return std::nullopt;
    case commit_status::queue_full:
    case commit_status::unavailable:
    case commit_status::timed_out:
      return http::make_error(http::errc::unavailable, "");
    case commit_status::failed:
      return http::make_error(http::errc::internal, "");
  }
  return http::make_error(http::errc::internal, "");
}

}  // namespace bkr::receive_request
