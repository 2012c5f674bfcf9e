// Sample requests, jobs and replies for the domain unit tests, built field by field (not through the code
// under test) so each test states its starting point independently.
#pragma once

#include "bkr/common/clock.hpp"
#include "bkr/domain/status_machine.hpp"
#include "bkr/domain/types.hpp"

#include <array>
#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>

namespace bkr::domain::test {

inline constexpr std::array<request_status, 7> all_statuses{
    request_status::accepted, request_status::received,  request_status::allowed, request_status::not_allowed,
    request_status::sent,     request_status::succeeded, request_status::failed,
};

inline timestamp at(std::string_view text) {
  auto t = parse_timestamp(text);
  if (!t)
    throw std::invalid_argument("bad test timestamp: " + std::string(text));
  return *t;
}

inline date ymd(int y, unsigned m, unsigned d) {
  return date{std::chrono::year{y}, std::chrono::month{m}, std::chrono::day{d}};
}

inline const std::string request_id = "0190c2f1-7a3b-7c4d-8e5f-112233445566";

/// A request as it would look after reaching `status` along the normal path (timestamps and the fields
/// each transition sets are filled in; NotAllowed has no provider or path, Failed has a reply text).
inline backup_request request_at(request_status status) {
  backup_request r;
  r.backup_request_id = request_id;
  r.backup_job_id = "job-nightly-42";
  r.data_date = ymd(2026, 2, 3);
  r.prepared_data_path_name = "/prepared/2026-02-03/export.tar";
  r.get_on_start_flag = true;
  r.transport_type_code = transport::http;
  r.requester_id = "client-a@clients";
  r.status_type_code = status;
  r.accepted_timestamp = at("2026-02-03T10:00:00.001Z");
  if (status == request_status::accepted)
    return r;
  r.received_timestamp = at("2026-02-03T10:00:01.002Z");
  if (status == request_status::received)
    return r;
  r.checked_timestamp = at("2026-02-03T10:00:02.003Z");
  if (status == request_status::not_allowed)
    return r;
  r.backup_provider_code = provider::cloud_a;
  r.storage_path_name = "/vault/nightly";
  if (status == request_status::allowed)
    return r;
  r.sent_to_interface_timestamp = at("2026-02-03T10:00:03.004Z");
  if (status == request_status::sent)
    return r;
  r.reply_timestamp = at("2026-02-03T10:05:00.005Z");
  if (status == request_status::failed)
    r.reply_message_text = "copy failed: disk full";
  return r;
}

inline backup_job active_job() {
  return backup_job{
      .backup_job_id = "job-nightly-42",
      .storage_path_name = "/vault/nightly",
      .backup_provider_code = provider::cloud_a,
      .days_to_keep = 30,
      .is_active = true,
      .hold_flag = false,
  };
}

inline store_status_reply success_reply() {
  store_status_reply r;
  r.api_version = "2022-08-15";
  r.backup_request_id = request_id;
  r.result_type_code = store_result::succeeded;
  r.storage_path_name = "/vault/nightly/2026-02-03/export.tar";
  r.backup_byte_count = 123456789;
  r.copy_start_timestamp = at("2026-02-03T10:01:00.000Z");
  r.copy_end_timestamp = at("2026-02-03T10:04:00.000Z");
  r.verify_start_timestamp = at("2026-02-03T10:04:01.000Z");
  r.verify_end_timestamp = at("2026-02-03T10:04:30.000Z");
  r.verified_hash = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
  r.message_text = "stored";
  return r;
}

inline store_status_reply failure_reply() {
  store_status_reply r;
  r.api_version = "2022-08-15";
  r.backup_request_id = request_id;
  r.result_type_code = store_result::failed;
  r.message_text = "source path not found";
  return r;
}

inline transition_context context_for(pipeline_stage s, std::string message_id = "msg-1") {
  return transition_context{at("2026-02-03T11:00:00.500Z"), std::string(to_string(s)), std::move(message_id)};
}

}  // namespace bkr::domain::test
