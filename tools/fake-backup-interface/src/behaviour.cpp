// The fake interface's decisions and replies: pure functions over store requests.
#include "bkr/fake_backup_interface/behaviour.hpp"

#include "bkr/common/digest.hpp"

#include <algorithm>
#include <array>

namespace bkr::fake_backup_interface {
namespace {

constexpr std::size_t max_path_length = 250;

}  // namespace

std::string_view to_string(failure_mode m) {
  return m == failure_mode::hash ? "hash" : "random";
}

std::uint64_t fnv1a_64(std::string_view text) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::uint64_t mix_64(std::uint64_t h) noexcept {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

double request_hash_unit(std::string_view backup_request_id) noexcept {
  // FNV-1a alone mixes the last bytes poorly into the high bits (ids often differ only there), hence the
  // finalizer. 53 bits are exactly representable in a double, so the unit never rounds up to 1.
  return static_cast<double>(mix_64(fnv1a_64(backup_request_id)) >> 11) * 0x1.0p-53;
}

failure_cause decide_failure(const reply_rules& rules, const domain::store_request& request,
                             double random_unit) noexcept {
  if (!rules.fail_marker.empty() && request.backup_job_id.find(rules.fail_marker) != std::string::npos)
    return failure_cause::marker;
  const double unit =
      rules.mode == failure_mode::hash ? request_hash_unit(request.backup_request_id) : random_unit;
  return unit < rules.failure_ratio ? failure_cause::ratio : failure_cause::none;
}

domain::store_status_reply make_reply(const domain::store_request& request, failure_cause cause,
                                      timestamp handled_at, std::chrono::milliseconds reply_delay) {
  domain::store_status_reply r;
  r.api_version = std::string(reply_api_version);
  r.backup_request_id = request.backup_request_id;
  if (cause != failure_cause::none) {
    r.result_type_code = domain::store_result::failed;
    r.message_text = cause == failure_cause::marker
                         ? "simulated failure: backupJobId " + request.backup_job_id + " is marked to fail"
                         : std::string("simulated failure: the request fell under the failure ratio");
    if (r.message_text->size() > max_path_length)
      r.message_text->resize(max_path_length);
    return r;
  }
  r.result_type_code = domain::store_result::succeeded;
  std::string path = request.storage_path_name + "/" + request.backup_request_id;
  if (path.size() > max_path_length)
    path.resize(max_path_length);
  r.storage_path_name = std::move(path);
  // Between 1 KiB and 1 GiB, the same for the same request.
  r.backup_byte_count = static_cast<std::int64_t>(1024 + fnv1a_64(request.backup_request_id) % (1ULL << 30));
  const auto delay = std::max(reply_delay, std::chrono::milliseconds{0});
  const auto copy_end = handled_at + delay * 3 / 5;
  r.copy_start_timestamp = handled_at;
  r.copy_end_timestamp = copy_end;
  r.verify_start_timestamp = copy_end;
  r.verify_end_timestamp = handled_at + delay;
  r.verified_hash = sha256_hex(request.backup_request_id + ":" + request.prepared_data_path_name);
  return r;
}

messaging::envelope store_request_envelope(const domain::store_request& request, std::string producer,
                                           std::string trace_id, const bkr::clock& clock) {
  nlohmann::json payload = request;
  auto e =
      messaging::make_envelope(std::string(domain::store_request_message.type), request.backup_request_id,
                               std::move(payload), std::move(producer), std::move(trace_id), clock);
  e.schema_version = domain::store_request_message.schema_version;
  return e;
}

messaging::envelope reply_envelope(const domain::store_status_reply& reply, std::string producer,
                                   std::string trace_id, const bkr::clock& clock) {
  nlohmann::json payload = reply;
  auto e = messaging::make_envelope(std::string(domain::store_status_message.type), reply.backup_request_id,
                                    std::move(payload), std::move(producer), std::move(trace_id), clock);
  e.schema_version = domain::store_status_message.schema_version;
  return e;
}

}  // namespace bkr::fake_backup_interface
