// Building an `applied` transition (new request state plus its history row); shared by the transition
// sources.
#pragma once

#include "bkr/domain/status_machine.hpp"

#include <optional>
#include <string>

namespace bkr::domain::detail {

/// `after` must differ from `before` by an allowed edge of the status machine (asserted).
applied make_applied(const backup_request& before, backup_request after, const transition_context& context,
                     std::optional<std::string> reason);

}  // namespace bkr::domain::detail
