// What the fake backup interface answers, as pure functions: which store requests fail, and the reply each
// gets.
#pragma once

#include "bkr/common/clock.hpp"
#include "bkr/domain/messages.hpp"
#include "bkr/domain/types.hpp"
#include "bkr/messaging/envelope.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace bkr::fake_backup_interface {

/// How the failure ratio picks the requests that fail.
enum class failure_mode {
  hash,    ///< fails when request_hash_unit(backupRequestId) < ratio: the same ids fail on every run
  random,  ///< fails with probability ratio, drawn per store request
};
std::string_view to_string(failure_mode m);

/// The rules every store request is answered by. Value type.
struct reply_rules {
  double failure_ratio = 0.0;  ///< in [0, 1]
  failure_mode mode = failure_mode::hash;
  /// A backupJobId containing this text always fails (end-to-end tests use it); empty disables the rule.
  std::string fail_marker = "fail";
  std::chrono::milliseconds reply_delay{1000};  ///< from handling the store request to the reply
};

/// Why a store request gets a Failed reply.
enum class failure_cause {
  none,    ///< it succeeds
  marker,  ///< its backupJobId contains reply_rules::fail_marker
  ratio,   ///< it fell under the failure ratio
};

/// 64-bit FNV-1a of the bytes of `text`.
std::uint64_t fnv1a_64(std::string_view text) noexcept;

/// The 64-bit finalizer of MurmurHash3 (fmix64): every input bit affects every output bit.
std::uint64_t mix_64(std::uint64_t h) noexcept;

/// Where a backupRequestId falls in [0, 1): the top 53 bits of mix_64(fnv1a_64(id)) scaled down. Stable
/// across runs and machines, so a test can predict which requests fail under a ratio.
double request_hash_unit(std::string_view backup_request_id) noexcept;

/// Decides the outcome of one store request: the marker rule first, then the ratio (`random_unit`, in
/// [0, 1), is used only in failure_mode::random).
failure_cause decide_failure(const reply_rules& rules, const domain::store_request& request,
                             double random_unit) noexcept;

/// The apiVersion of the replies.
inline constexpr std::string_view reply_api_version = "2022-08-15";

/// The reply to `request`, handled at `handled_at`, which the requester sees `reply_delay` later.
/// Succeeded: storagePathName = storagePathName + "/" + backupRequestId (cut to 250 characters), a byte
/// count derived from the id, the copy from handled_at to 60% of the delay, the verification from there to
/// handled_at + reply_delay, and verifiedHash = hex SHA-256 of `backupRequestId:preparedDataPathName`.
/// Failed: messageText says why; no other optional field.
domain::store_status_reply make_reply(const domain::store_request& request, failure_cause cause,
                                      timestamp handled_at, std::chrono::milliseconds reply_delay);

/// The store request on the wire: an envelope of type StoreRequest keyed by backupRequestId.
messaging::envelope store_request_envelope(const domain::store_request& request, std::string producer,
                                           std::string trace_id, const bkr::clock& clock);

/// The reply as a message of the store-status contract (type StoreStatusReply, schema version 1), carrying
/// the trace id of the store request that caused it.
messaging::envelope reply_envelope(const domain::store_status_reply& reply, std::string producer,
                                   std::string trace_id, const bkr::clock& clock);

}  // namespace bkr::fake_backup_interface
