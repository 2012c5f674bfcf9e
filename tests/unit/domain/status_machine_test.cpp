// The forward-only status machine: the transition table, "at or beyond", and the stage transitions.
#include "bkr/domain/status_machine.hpp"
#include "bkr/domain/errors.hpp"

#include "domain_samples.hpp"

#include <catch2/catch.hpp>

#include <set>
#include <utility>

using namespace bkr::domain;
using namespace bkr::domain::test;

namespace {

using enum request_status;

// By value: callers pass temporaries.
applied as_applied(const bkr::result<transition>& r) {
  REQUIRE(r.has_value());
  REQUIRE(std::holds_alternative<applied>(*r));
  return std::get<applied>(*r);
}

void require_already_done(const bkr::result<transition>& r, request_status status) {
  REQUIRE(r.has_value());
  REQUIRE(std::holds_alternative<already_done>(*r));
  CHECK(std::get<already_done>(*r).status == status);
}

errc error_of(const bkr::result<transition>& r) {
  REQUIRE_FALSE(r.has_value());
  REQUIRE(r.error().code.category() == category());
  return static_cast<errc>(r.error().code.value());
}

// The history row of `a` records exactly the move from `before` to a.request, under `context`.
void check_history(const applied& a, const backup_request& before, const transition_context& context) {
  CHECK(a.expected_status == before.status_type_code);
  CHECK(a.history.backup_request_id == before.backup_request_id);
  CHECK(a.history.from_status == before.status_type_code);
  CHECK(a.history.to_status == a.request.status_type_code);
  CHECK(a.history.at == context.now);
  CHECK(a.history.stage == context.stage);
  CHECK(a.history.message_id == context.message_id);
  CHECK(is_allowed_transition(a.expected_status, a.request.status_type_code));
}

}  // namespace

TEST_CASE("the full 7x7 transition matrix: only the DOMAIN.md edges are allowed", "[domain][status]") {
  // Rows: from; columns: to; order Accepted, Received, Allowed, NotAllowed, Sent, Succeeded, Failed.
  constexpr bool expected[7][7] = {
      /* Accepted   */ {false, true, false, false, false, false, false},
      /* Received   */ {false, false, true, true, false, false, false},
      /* Allowed    */ {false, false, false, false, true, false, false},
      /* NotAllowed */ {false, false, false, false, false, false, false},
      /* Sent       */ {false, false, false, false, false, true, true},
      /* Succeeded  */ {false, false, false, false, false, false, false},
      /* Failed     */ {false, false, false, false, false, true, false},
  };
  int allowed_count = 0;
  for (std::size_t from = 0; from < all_statuses.size(); ++from) {
    for (std::size_t to = 0; to < all_statuses.size(); ++to) {
      INFO(to_string(all_statuses[from]) << " -> " << to_string(all_statuses[to]));
      CHECK(is_allowed_transition(all_statuses[from], all_statuses[to]) == expected[from][to]);
      allowed_count += expected[from][to] ? 1 : 0;
    }
  }
  CHECK(allowed_count == 7);

  std::set<std::pair<request_status, request_status>> listed;
  for (const auto& e : allowed_transitions()) {
    CHECK(is_allowed_transition(e.from, e.to));
    listed.insert({e.from, e.to});
  }
  CHECK(listed.size() == 7);
}

TEST_CASE("stage names used in history rows", "[domain][status]") {
  CHECK(to_string(pipeline_stage::receive_request) == "receive-request");
  CHECK(to_string(pipeline_stage::create_request) == "create-request");
  CHECK(to_string(pipeline_stage::check_allowed) == "check-allowed");
  CHECK(to_string(pipeline_stage::send_to_interface) == "send-to-interface");
  CHECK(to_string(pipeline_stage::receive_status) == "receive-status");
}

TEST_CASE("at or beyond, stage by stage and status by status", "[domain][status][idempotency]") {
  // Columns in all_statuses order: Accepted, Received, Allowed, NotAllowed, Sent, Succeeded, Failed.
  const std::pair<pipeline_stage, std::array<bool, 7>> table[] = {
      {pipeline_stage::receive_request, {true, true, true, true, true, true, true}},
      {pipeline_stage::create_request, {false, true, true, true, true, true, true}},
      {pipeline_stage::check_allowed, {false, false, true, true, true, true, true}},
      {pipeline_stage::send_to_interface, {false, false, false, false, true, true, true}},
      {pipeline_stage::receive_status, {false, false, false, false, false, true, false}},
  };
  for (const auto& [stage, row] : table) {
    for (std::size_t i = 0; i < all_statuses.size(); ++i) {
      INFO(to_string(stage) << " at " << to_string(all_statuses[i]));
      CHECK(is_at_or_beyond(all_statuses[i], stage) == row[i]);
    }
  }
}

TEST_CASE("receive: Accepted -> Received keeps the accepted data and sets receivedTimestamp",
          "[domain][status]") {
  const auto before = request_at(accepted);
  const auto ctx = context_for(pipeline_stage::create_request, "accepted-msg-7");
  const auto& a = as_applied(receive(before, ctx));

  auto expected = before;
  expected.status_type_code = received;
  expected.received_timestamp = ctx.now;
  CHECK(a.request == expected);
  CHECK(a.request.accepted_timestamp == before.accepted_timestamp);
  check_history(a, before, ctx);
  CHECK(a.history.stage == "create-request");
  CHECK(a.history.message_id == "accepted-msg-7");
  CHECK_FALSE(a.history.reason);
}

TEST_CASE("receive from every status other than Accepted is already done", "[domain][status][idempotency]") {
  for (auto status : all_statuses) {
    if (status == accepted)
      continue;
    INFO(to_string(status));
    require_already_done(receive(request_at(status), context_for(pipeline_stage::create_request)), status);
  }
}

TEST_CASE("check_allowed: an active job allows the request and lends it provider and path",
          "[domain][status]") {
  const auto before = request_at(received);
  const auto ctx = context_for(pipeline_stage::check_allowed);
  auto job = active_job();
  job.backup_provider_code = provider::cloud_b;
  job.storage_path_name = "/vault/b";

  SECTION("not on hold") {
    const auto& a = as_applied(check_allowed(before, job, ctx));
    auto expected = before;
    expected.status_type_code = allowed;
    expected.checked_timestamp = ctx.now;
    expected.backup_provider_code = provider::cloud_b;
    expected.storage_path_name = "/vault/b";
    CHECK(a.request == expected);
    check_history(a, before, ctx);
    CHECK_FALSE(a.history.reason);
  }
  SECTION("on hold: still allowed, hold only affects deletion") {
    job.hold_flag = true;
    const auto& a = as_applied(check_allowed(before, job, ctx));
    CHECK(a.request.status_type_code == allowed);
    CHECK(a.request.backup_provider_code == provider::cloud_b);
    CHECK(a.request.storage_path_name == "/vault/b");
  }
}

TEST_CASE("check_allowed: an unknown job is NotAllowed with reason JobNotFound", "[domain][status]") {
  const auto before = request_at(received);
  const auto ctx = context_for(pipeline_stage::check_allowed);
  const auto& a = as_applied(check_allowed(before, std::nullopt, ctx));
  auto expected = before;
  expected.status_type_code = not_allowed;
  expected.checked_timestamp = ctx.now;
  CHECK(a.request == expected);
  CHECK_FALSE(a.request.backup_provider_code);
  CHECK_FALSE(a.request.storage_path_name);
  check_history(a, before, ctx);
  CHECK(a.history.reason == std::optional<std::string>("JobNotFound"));
}

TEST_CASE("check_allowed: an inactive job is NotAllowed with reason JobInactive, on hold or not",
          "[domain][status]") {
  for (bool hold : {false, true}) {
    INFO("hold " << hold);
    auto job = active_job();
    job.is_active = false;
    job.hold_flag = hold;
    const auto before = request_at(received);
    const auto ctx = context_for(pipeline_stage::check_allowed);
    const auto& a = as_applied(check_allowed(before, job, ctx));
    CHECK(a.request.status_type_code == not_allowed);
    CHECK(a.request.checked_timestamp == ctx.now);
    CHECK_FALSE(a.request.backup_provider_code);
    CHECK_FALSE(a.request.storage_path_name);
    CHECK(a.history.reason == std::optional<std::string>("JobInactive"));
  }
}

TEST_CASE("check_allowed from every status", "[domain][status][idempotency]") {
  const auto ctx = context_for(pipeline_stage::check_allowed);
  for (auto status : all_statuses) {
    INFO(to_string(status));
    const auto r = check_allowed(request_at(status), active_job(), ctx);
    switch (status) {
      case accepted:
        CHECK(error_of(r) == errc::too_early);
        break;
      case received:
        CHECK(as_applied(r).request.status_type_code == allowed);
        break;
      default:
        require_already_done(r, status);
        // Also when the job has since disappeared: the verdict is not revisited.
        require_already_done(check_allowed(request_at(status), std::nullopt, ctx), status);
    }
  }
}

TEST_CASE("check_allowed refuses a job that is not the request's", "[domain][status]") {
  auto job = active_job();
  job.backup_job_id = "another-job";
  const auto r = check_allowed(request_at(received), job, context_for(pipeline_stage::check_allowed));
  CHECK(error_of(r) == errc::bad_data);
  CHECK(r.error().message.find("another-job") != std::string::npos);
}

TEST_CASE("mark_sent: Allowed -> Sent sets sentToInterfaceTimestamp", "[domain][status]") {
  const auto before = request_at(allowed);
  const auto ctx = context_for(pipeline_stage::send_to_interface);
  const auto& a = as_applied(mark_sent(before, ctx));
  auto expected = before;
  expected.status_type_code = sent;
  expected.sent_to_interface_timestamp = ctx.now;
  CHECK(a.request == expected);
  check_history(a, before, ctx);
}

TEST_CASE("mark_sent from every status", "[domain][status][idempotency]") {
  const auto ctx = context_for(pipeline_stage::send_to_interface);
  for (auto status : all_statuses) {
    INFO(to_string(status));
    const auto r = mark_sent(request_at(status), ctx);
    switch (status) {
      case accepted:
      case received:
        CHECK(error_of(r) == errc::too_early);
        CHECK(is_transient(r.error().code));
        break;
      case not_allowed:
        CHECK(error_of(r) == errc::invalid_transition);
        CHECK_FALSE(is_transient(r.error().code));
        CHECK(r.error().message.find("NotAllowed") != std::string::npos);
        break;
      case allowed:
        CHECK(as_applied(r).request.status_type_code == sent);
        break;
      default:
        require_already_done(r, status);
    }
  }
}

TEST_CASE("redelivery: applying each stage twice changes the request once", "[domain][status][idempotency]") {
  const auto create = context_for(pipeline_stage::create_request, "m1");
  const auto check = context_for(pipeline_stage::check_allowed, "m2");
  const auto send = context_for(pipeline_stage::send_to_interface, "m3");

  const auto received_request = as_applied(receive(request_at(accepted), create)).request;
  require_already_done(receive(received_request, create), received);

  const auto allowed_request = as_applied(check_allowed(received_request, active_job(), check)).request;
  require_already_done(check_allowed(allowed_request, active_job(), check), allowed);

  const auto refused = as_applied(check_allowed(received_request, std::nullopt, check)).request;
  require_already_done(check_allowed(refused, std::nullopt, check), not_allowed);
  require_already_done(check_allowed(refused, active_job(), check), not_allowed);

  const auto sent_request = as_applied(mark_sent(allowed_request, send)).request;
  require_already_done(mark_sent(sent_request, send), sent);
  // A late duplicate of an earlier stage's message finds the request beyond it.
  require_already_done(receive(sent_request, create), sent);
  require_already_done(check_allowed(sent_request, active_job(), check), sent);
}

TEST_CASE("every applied transition follows an allowed edge", "[domain][status]") {
  for (auto status : all_statuses) {
    const auto request = request_at(status);
    const bkr::result<transition> results[] = {
        receive(request, context_for(pipeline_stage::create_request)),
        check_allowed(request, active_job(), context_for(pipeline_stage::check_allowed)),
        check_allowed(request, std::nullopt, context_for(pipeline_stage::check_allowed)),
        mark_sent(request, context_for(pipeline_stage::send_to_interface)),
    };
    for (const auto& r : results) {
      if (r.has_value() && std::holds_alternative<applied>(*r)) {
        const auto& a = std::get<applied>(*r);
        INFO(to_string(a.expected_status) << " -> " << to_string(a.request.status_type_code));
        CHECK(a.expected_status == status);
        CHECK(is_allowed_transition(status, a.request.status_type_code));
      }
    }
  }
}
