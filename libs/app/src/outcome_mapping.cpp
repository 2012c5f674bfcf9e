// Outcome, error and exception to handler result: commit, retry or reject.
#include "bkr/app/outcome_mapping.hpp"

#include "bkr/app/errors.hpp"

#include <pqxx/except>

namespace bkr::app {

messaging::handler_result to_handler_result(const result<stage_outcome>& r) {
  if (r.has_value())
    return messaging::handler_result::commit();
  const auto& e = r.error();
  auto reason = e.message.empty() ? e.code.message() : e.message;
  // The call never went out: the message got no try, so waiting out an outage spends none of its attempts
  // (the claim gate stops claiming meanwhile; what it claimed before noticing comes back a little later).
  if (e.code == errc::circuit_open)
    return messaging::handler_result::postpone(std::move(reason), circuit_open_postponement);
  if (is_transient(e.code))
    return messaging::handler_result::retry(std::move(reason));
  return messaging::handler_result::reject(std::move(reason));
}

messaging::handler_result to_handler_result(std::exception_ptr failure) {
  return messaging::classify(std::move(failure));
}

messaging::handler_result run_and_map(const std::function<result<stage_outcome>()>& fn) {
  try {
    return to_handler_result(fn());
  } catch (const pqxx::broken_connection&) {
    // The consumer owns the connection: it must see the loss to drop the connection and end the batch.
    throw;
  } catch (...) {
    return to_handler_result(std::current_exception());
  }
}

}  // namespace bkr::app
