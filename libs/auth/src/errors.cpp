// The bkr.auth error category.
#include "bkr/auth/errors.hpp"

#include <string>

namespace bkr::auth {
namespace {

class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "bkr.auth"; }
  std::string message(int ev) const override { return std::string(to_string(static_cast<errc>(ev))); }
};

}  // namespace

const std::error_category& category() noexcept {
  static const category_impl instance;
  return instance;
}

std::string_view to_string(errc e) noexcept {
  switch (e) {
    case errc::missing_token:
      return "missing_token";
    case errc::malformed:
      return "malformed";
    case errc::bad_signature:
      return "bad_signature";
    case errc::algorithm_not_allowed:
      return "algorithm_not_allowed";
    case errc::unknown_key:
      return "unknown_key";
    case errc::expired:
      return "expired";
    case errc::not_yet_valid:
      return "not_yet_valid";
    case errc::issued_in_future:
      return "issued_in_future";
    case errc::wrong_issuer:
      return "wrong_issuer";
    case errc::wrong_audience:
      return "wrong_audience";
    case errc::missing_subject:
      return "missing_subject";
    case errc::missing_expiry:
      return "missing_expiry";
    case errc::invalid_key:
      return "invalid_key";
    case errc::invalid_key_set:
      return "invalid_key_set";
    case errc::key_set_unavailable:
      return "key_set_unavailable";
    case errc::invalid_configuration:
      return "invalid_configuration";
  }
  return "auth_error";
}

}  // namespace bkr::auth
