// Pacing of stalled-request recovery: oldest first across statuses, pending ones skipped, a limit per run.
#include "bkr/app/recover_stalled.hpp"

#include <catch2/catch.hpp>

using bkr::app::plan_recovery;
using bkr::app::stalled_request;
using bkr::domain::request_status;

namespace {

bkr::timestamp at(long long ms) {
  return bkr::timestamp{std::chrono::milliseconds{ms}};
}

std::vector<std::string> ids(const std::vector<stalled_request>& v) {
  std::vector<std::string> out;
  for (const auto& s : v)
    out.push_back(s.backup_request_id);
  return out;
}

}  // namespace

TEST_CASE("recovery takes the oldest stalled requests across both statuses up to the limit",
          "[app][recovery]") {
  std::vector<stalled_request> candidates{
      {"r-30", request_status::received, at(30), false},
      {"r-10", request_status::received, at(10), false},
      {"a-20", request_status::allowed, at(20), false},
      {"a-5", request_status::allowed, at(5), false},
  };
  CHECK(ids(plan_recovery(candidates, 3)) == std::vector<std::string>{"a-5", "r-10", "a-20"});
  CHECK(ids(plan_recovery(candidates, 10)) == std::vector<std::string>{"a-5", "r-10", "a-20", "r-30"});
  CHECK(plan_recovery(candidates, 0).empty());
  CHECK(plan_recovery({}, 5).empty());
}

TEST_CASE("requests that still have a message are not re-published and do not use the budget",
          "[app][recovery]") {
  std::vector<stalled_request> candidates{
      {"old-pending", request_status::received, at(1), true},
      {"r-2", request_status::received, at(2), false},
      {"a-3", request_status::allowed, at(3), true},
      {"a-4", request_status::allowed, at(4), false},
  };
  const auto plan = plan_recovery(candidates, 2);
  CHECK(ids(plan) == std::vector<std::string>{"r-2", "a-4"});
  CHECK(plan[1].status == request_status::allowed);
}

TEST_CASE("a backlog drains over successive runs", "[app][recovery]") {
  std::vector<stalled_request> candidates;
  for (int i = 0; i < 5; ++i)
    candidates.push_back({"r-" + std::to_string(i), request_status::received, at(i), false});
  auto first = plan_recovery(candidates, 2);
  CHECK(ids(first) == std::vector<std::string>{"r-0", "r-1"});
  // The next run finds the first two with a pending message.
  candidates[0].has_pending_message = candidates[1].has_pending_message = true;
  CHECK(ids(plan_recovery(candidates, 2)) == std::vector<std::string>{"r-2", "r-3"});
}

TEST_CASE("a recovery report describes itself as JSON", "[app][recovery]") {
  bkr::app::recovery_report r{true, "run-1", 2, 1, 3};
  CHECK(
      r.to_json() ==
      nlohmann::json{{"leader", true}, {"runId", "run-1"}, {"received", 2}, {"allowed", 1}, {"pending", 3}});
}
