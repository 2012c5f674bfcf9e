// The one mapping from stage outcomes, expected errors and exceptions to commit / retry / reject.
#include "bkr/app/outcome_mapping.hpp"
#include "bkr/app/errors.hpp"
#include "bkr/domain/errors.hpp"
#include "bkr/storage/connection_pool.hpp"

#include <catch2/catch.hpp>

#include <pqxx/except>

#include <stdexcept>

using bkr::app::run_and_map;
using bkr::app::stage_outcome;
using bkr::app::to_handler_result;
using bkr::messaging::outcome;

namespace {

bkr::result<stage_outcome> failure(std::error_code code, std::string message) {
  return bkr::error{code, std::move(message)};
}

}  // namespace

TEST_CASE("every stage outcome is acknowledged", "[app][mapping]") {
  for (auto o : {stage_outcome::applied, stage_outcome::already_done, stage_outcome::lost_race}) {
    INFO(bkr::app::to_string(o));
    const auto r = to_handler_result(bkr::result<stage_outcome>(o));
    CHECK(r.kind == outcome::commit);
    CHECK(r.reason.empty());
  }
}

TEST_CASE("transient expected errors are retried with their message", "[app][mapping]") {
  const auto too_early = to_handler_result(failure(bkr::domain::errc::too_early, "request is Accepted"));
  CHECK(too_early.kind == outcome::retry);
  CHECK(too_early.reason == "request is Accepted");
  CHECK_FALSE(too_early.delay.has_value());
  CHECK(to_handler_result(failure(bkr::app::errc::dependency_unavailable, "job service timed out")).kind ==
        outcome::retry);
  CHECK(to_handler_result(failure(bkr::app::errc::concurrent_update, "changed")).kind == outcome::retry);
}

TEST_CASE("permanent expected errors are rejected with their message as the reason", "[app][mapping]") {
  const auto bad = to_handler_result(failure(bkr::domain::errc::bad_data, "dataDate is not a real date"));
  CHECK(bad.kind == outcome::reject);
  CHECK(bad.reason == "dataDate is not a real date");
  CHECK(to_handler_result(failure(bkr::domain::errc::invalid_transition, "NotAllowed")).kind ==
        outcome::reject);
  CHECK(to_handler_result(failure(bkr::domain::errc::invalid_json, "not an object")).kind == outcome::reject);
  CHECK(to_handler_result(failure(bkr::app::errc::unknown_request, "unknown backupRequestId x")).reason ==
        "unknown backupRequestId x");
  CHECK(to_handler_result(failure(bkr::app::errc::unexpected_message, "type")).kind == outcome::reject);
  CHECK(to_handler_result(failure(bkr::app::errc::dependency_rejected, "400")).kind == outcome::reject);
  // An error without text still gives a reason.
  CHECK_FALSE(to_handler_result(failure(bkr::app::errc::unknown_request, "")).reason.empty());
}

TEST_CASE("thrown failures are classified by retryability", "[app][mapping]") {
  CHECK(run_and_map([]() -> bkr::result<stage_outcome> {
          throw bkr::storage::database_unavailable("connection refused");
        }).kind == outcome::retry);
  CHECK(run_and_map([]() -> bkr::result<stage_outcome> {
          throw bkr::infrastructure_error("certificate rejected", false);
        }).kind == outcome::reject);
  CHECK(run_and_map([]() -> bkr::result<stage_outcome> {
          throw bkr::error_exception(bkr::error{bkr::domain::errc::bad_data, "bad"});
        }).kind == outcome::reject);
  const auto other = run_and_map([]() -> bkr::result<stage_outcome> { throw std::runtime_error("boom"); });
  CHECK(other.kind == outcome::retry);
  CHECK(other.reason == "boom");
  CHECK(run_and_map([] { return bkr::result<stage_outcome>(stage_outcome::applied); }).kind ==
        outcome::commit);
}

TEST_CASE("a lost connection is left to the consumer that owns it", "[app][mapping]") {
  CHECK_THROWS_AS(run_and_map([]() -> bkr::result<stage_outcome> { throw pqxx::broken_connection("gone"); }),
                  pqxx::broken_connection);
}

TEST_CASE("only too_early and dependency_unavailable and concurrent_update are transient", "[app][mapping]") {
  CHECK(bkr::app::is_transient(bkr::domain::errc::too_early));
  CHECK(bkr::app::is_transient(bkr::app::errc::dependency_unavailable));
  CHECK(bkr::app::is_transient(bkr::app::errc::concurrent_update));
  CHECK_FALSE(bkr::app::is_transient(bkr::domain::errc::bad_data));
  CHECK_FALSE(bkr::app::is_transient(bkr::app::errc::unknown_request));
  CHECK_FALSE(bkr::app::is_transient(std::make_error_code(std::errc::timed_out)));
}

TEST_CASE("a call not made because the circuit is open postpones without spending the attempt",
          "[app][mapping]") {
  const auto r = to_handler_result(failure(bkr::app::errc::circuit_open, "job service circuit is open"));
  CHECK(r.kind == outcome::retry);
  CHECK_FALSE(r.attempt_spent);
  REQUIRE(r.delay.has_value());
  CHECK(*r.delay == bkr::app::circuit_open_postponement);
  CHECK(r.reason == "job service circuit is open");
  // Any other transient error spends the attempt and leaves the delay to the backoff.
  const auto other = to_handler_result(failure(bkr::app::errc::dependency_unavailable, "timed out"));
  CHECK(other.attempt_spent);
  CHECK_FALSE(other.delay.has_value());
}
