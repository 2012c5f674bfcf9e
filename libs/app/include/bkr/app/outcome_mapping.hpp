// The one place where a stage's outcome, expected error or exception becomes commit, retry or reject.
#pragma once

#include "bkr/app/stage.hpp"
#include "bkr/common/error.hpp"
#include "bkr/messaging/handler.hpp"

#include <chrono>
#include <exception>
#include <functional>

namespace bkr::app {

/// How long a message whose dependency's circuit was open waits before it may be claimed again.
inline constexpr std::chrono::milliseconds circuit_open_postponement{1000};

/// - any stage_outcome (applied, already_done, lost_race) -> commit: redeliveries and lost races are
///   acknowledged, never errors;
/// - circuit_open (the call was not made) -> postpone by circuit_open_postponement without spending an
///   attempt;
/// - a transient expected error (app::is_transient: domain too_early, dependency_unavailable,
///   concurrent_update) -> retry with the error's message (the backend applies the backoff);
/// - any other expected error (bad payload, unknown request, invalid transition, ...) -> reject with the
///   error's message as the dead-letter reason.
messaging::handler_result to_handler_result(const result<stage_outcome>& r);

/// Exceptions: messaging::classify (infrastructure_error says retryable or not; error_exception is
/// permanent; anything else is retried).
messaging::handler_result to_handler_result(std::exception_ptr failure);

/// Runs `fn` and maps whatever it returns or throws through the two functions above, except a lost
/// connection (pqxx::broken_connection), which is rethrown for the consumer that owns the connection.
messaging::handler_result run_and_map(const std::function<result<stage_outcome>()>& fn);

}  // namespace bkr::app
