// The domain error category and the mapping of domain codes to wire names.
#include "bkr/domain/errors.hpp"

namespace bkr::domain {
namespace {

class domain_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "bkr.domain"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::bad_data:
        return "a field breaks its rule";
      case errc::invalid_api_version:
        return "unsupported apiVersion";
      case errc::invalid_json:
        return "not a JSON object";
      case errc::invalid_transition:
        return "the status machine forbids this transition";
      case errc::too_early:
        return "the request has not reached the status this step starts from";
    }
    return "unknown domain error";
  }
};

}  // namespace

const std::error_category& category() noexcept {
  static const domain_category instance;
  return instance;
}

std::string_view wire_code(errc e) {
  switch (e) {
    case errc::bad_data:
      return "BadData";
    case errc::invalid_api_version:
      return "InvalidApiVersion";
    case errc::invalid_json:
      return "InvalidJson";
    case errc::invalid_transition:
      return "InvalidTransition";
    case errc::too_early:
      return "TooEarly";
  }
  return "BadData";
}

std::optional<std::string_view> wire_code(const std::error_code& ec) {
  if (ec.category() != category())
    return std::nullopt;
  const auto e = static_cast<errc>(ec.value());
  switch (e) {
    case errc::bad_data:
    case errc::invalid_api_version:
    case errc::invalid_json:
    case errc::invalid_transition:
    case errc::too_early:
      return wire_code(e);
  }
  return std::nullopt;
}

bool is_transient(const std::error_code& ec) {
  return ec == make_error_code(errc::too_early);
}

}  // namespace bkr::domain
