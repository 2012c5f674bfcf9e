// The app error category and the transient/permanent split shared by every stage.
#include "bkr/app/errors.hpp"

#include "bkr/domain/errors.hpp"

namespace bkr::app {
namespace {

class app_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "bkr.app"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::unknown_request:
        return "unknown backup request";
      case errc::unexpected_message:
        return "unexpected message";
      case errc::dependency_unavailable:
        return "dependency unavailable";
      case errc::dependency_rejected:
        return "dependency rejected the request";
      case errc::concurrent_update:
        return "concurrent update";
      case errc::circuit_open:
        return "circuit open";
    }
    return "unknown app error";
  }
};

}  // namespace

const std::error_category& category() noexcept {
  static const app_category instance;
  return instance;
}

bool is_transient(const std::error_code& ec) {
  if (ec.category() == category())
    return ec == errc::dependency_unavailable || ec == errc::concurrent_update || ec == errc::circuit_open;
  return domain::is_transient(ec);
}

}  // namespace bkr::app
