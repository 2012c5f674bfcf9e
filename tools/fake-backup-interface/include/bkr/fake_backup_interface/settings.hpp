// The configuration of bkr-fake-backup-interface: its keys and their validated, typed form.
#pragma once

#include "bkr/common/config.hpp"
#include "bkr/common/error.hpp"
#include "bkr/domain/types.hpp"
#include "bkr/fake_backup_interface/behaviour.hpp"
#include "bkr/messaging/retry_policy.hpp"

#include <spdlog/common.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bkr::fake_backup_interface {

/// The executable's name: the log `service`, the `producer` of the replies, /healthz `service`.
inline constexpr std::string_view service_name = "bkr-fake-backup-interface";

/// Where replies go.
enum class reply_transport {
  queue,  ///< on backup-interface.store-status, in the transaction that retires the store request
  http,   ///< POSTed to {fake.reply_url}/api/store-status-replies through a durable outbox queue
};
std::string_view to_string(reply_transport t);

/// The internal queue that holds replies waiting to be POSTed (reply transport http).
inline constexpr std::string_view reply_outbox_queue = "fake-backup-interface.reply-outbox";

/// Everything the fake needs, validated. Value type.
struct settings {
  std::string database_url;  ///< secret: never logged
  std::size_t pool_size = 8;

  std::vector<domain::provider> providers{domain::provider::local, domain::provider::cloud_a,
                                          domain::provider::cloud_b};
  reply_rules rules;
  std::chrono::milliseconds work_time{0};  ///< time spent per store request while holding its lease

  reply_transport transport = reply_transport::queue;
  std::string reply_url;    ///< base URL of ReceiveRequest (http transport)
  std::string reply_token;  ///< bearer token for it (http transport); secret
  std::chrono::milliseconds reply_timeout{5000};
  messaging::retry_policy reply_retry{.max_attempts = 50,
                                      .base = std::chrono::milliseconds{500},
                                      .factor = 2.0,
                                      .cap = std::chrono::milliseconds{30000}};

  bool http_enabled = true;
  std::string http_bind = "127.0.0.1";
  std::uint16_t http_port = 8091;

  std::string ops_bind = "127.0.0.1";
  std::uint16_t ops_port = 9085;

  std::size_t batch_size = 64;
  std::chrono::milliseconds lease{5000};
  std::chrono::milliseconds poll_max{1000};

  spdlog::level::level_enum log_level = spdlog::level::info;
  std::chrono::milliseconds drain_deadline{5000};

  /// The full URL replies are POSTed to: reply_url + `/api/store-status-replies`.
  std::string replies_endpoint() const;
  /// Consumers this process runs: one per provider, plus the outbox consumer for the http transport.
  std::size_t consumer_count() const;
};

/// Every key (documented in tools/fake-backup-interface/README.md).
const std::vector<config::key>& config_keys();

/// The typed settings from loaded values; config::errc::invalid_value naming each bad key and its variable
/// when values are malformed or inconsistent (e.g. the http transport without fake.reply_url).
result<settings> settings_from(const config::values& values);

/// Parses a ratio in [0, 1] written as a decimal (`0`, `0.25`, `1`).
std::optional<double> parse_ratio(std::string_view text);

/// Parses `Local,CloudA,CloudB` (wire names, comma separated, spaces ignored, no repeats, at least one).
std::optional<std::vector<domain::provider>> parse_providers(std::string_view text);

/// The outcome of start-up argument and configuration handling.
struct loaded_settings {
  std::optional<settings> value;  ///< set when the process should start
  config::values raw;             ///< what was loaded (for the `starting` log line, secrets masked)
  int exit_code = 0;              ///< when it should not: 0 after --help or --print-config, 2 on errors
};

/// Handles `--config FILE`, `--print-config` and `--help`, loads `BKR_*` over the optional file and
/// validates. Help and the effective configuration (secrets masked) go to `out`; problems to `err`.
loaded_settings load_settings(int argc, const char* const* argv, const config::sources& environment,
                              std::ostream& out, std::ostream& err);

}  // namespace bkr::fake_backup_interface
