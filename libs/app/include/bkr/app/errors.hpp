// Expected failures of the pipeline stages that are not domain rules: unknown requests, wrong messages, and
// outside dependencies that did not give an answer.
#pragma once

#include "bkr/common/error.hpp"

#include <string>
#include <system_error>

namespace bkr::app {

enum class errc {
  unknown_request = 1,     ///< no backup request has that id; permanent
  unexpected_message,      ///< the message's type or schema version is not what this queue carries; permanent
  dependency_unavailable,  ///< an outside service gave no usable answer (timeout, 5xx); transient
  dependency_rejected,  ///< an outside service refused the request for good (a 4xx other than 404); permanent
  concurrent_update,    ///< another worker changed the request between read and write; transient
  circuit_open,         ///< the call was not made: the dependency's circuit is open; transient, and the
                        ///< message is postponed without spending an attempt
};

const std::error_category& category() noexcept;
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}
inline bkr::error make_error(errc e, std::string message) {
  return {make_error_code(e), std::move(message)};
}

/// True when waiting may make the failure go away, so the message is retried: the domain's `too_early`,
/// and `dependency_unavailable`, `concurrent_update` and `circuit_open` here. Every other expected failure is
/// permanent and its message is dead-lettered with the error's text as the reason.
bool is_transient(const std::error_code& ec);

}  // namespace bkr::app

template <>
struct std::is_error_code_enum<bkr::app::errc> : std::true_type {};
