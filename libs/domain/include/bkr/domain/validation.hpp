// Field rules of DOMAIN.md (ids, dates, paths, texts) and the parsing of the POST /api/backup-requests body.
#pragma once

#include "bkr/common/clock.hpp"
#include "bkr/common/error.hpp"
#include "bkr/domain/types.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace bkr::domain {

inline constexpr std::size_t max_id_length = 50;             // backupJobId, backupRequestId
inline constexpr std::size_t max_path_length = 250;          // preparedDataPathName, storagePathName
inline constexpr std::size_t max_requester_id_length = 256;  // JWT sub, as ClientIdentifier
inline constexpr std::size_t max_message_text_length = 250;  // messageText -> replyMessageText, verifiedHash

/// The only `apiVersion` the POST accepts (wire compatibility with the original clients).
inline constexpr std::string_view accept_api_version = "2022-05-22";

/// Strict `YYYY-MM-DD`: four-digit year 0001..9999, two-digit month and day, a real calendar date.
/// No signs, spaces or times. Year 0000 is refused: it is no calendar year and SQL `date` rejects it.
std::optional<date> parse_date(std::string_view text);

/// Number of Unicode code points in `text`; nullopt unless it is well-formed UTF-8 (no overlong forms,
/// no surrogates, nothing above U+10FFFF).
std::optional<std::size_t> utf8_length(std::string_view text);

/// Whether free text may span lines: names and paths are single lines, reply messages may hold tab, CR, LF.
enum class text_kind { single_line, multi_line };

/// 1..max_length characters, each printable ASCII 0x21..0x7E (so no whitespace). Ids and keys.
result<void> check_printable_ascii(std::string_view value, std::string_view field, std::size_t max_length);

/// min_length..max_length code points of well-formed UTF-8 without control characters (C0, DEL, C1;
/// multi_line text may hold tab, CR and LF).
result<void> check_text(std::string_view value, std::string_view field, std::size_t min_length,
                        std::size_t max_length, text_kind kind = text_kind::single_line);

/// parse_date with an error naming `field`.
result<date> check_date(std::string_view value, std::string_view field);

/// The rules of DOMAIN.md, each naming its wire field in its error.
result<void> validate_backup_job_id(std::string_view value);  // backupJobId
result<date> validate_data_date(std::string_view value);      // dataDate
result<void> validate_backup_data_location(
    std::string_view value);                                 // backupDataLocation (-> preparedDataPathName)
result<void> validate_requester_id(std::string_view value);  // requesterId (JWT sub): 1..256, no controls

/// The validated content of a POST /api/backup-requests body.
struct accept_input {
  std::string backup_job_id;
  date data_date;
  std::string prepared_data_path_name;  // from backupDataLocation

  friend bool operator==(const accept_input&, const accept_input&) = default;
};

/// Parses the body text. In this order: not JSON or not an object -> invalid_json (for text that is not
/// JSON, the message names the problem and its line and column, e.g. "request body is not valid JSON:
/// number out of range at line 1, column 20"); `apiVersion` missing,
/// not a string or not 2022-05-22 -> invalid_api_version; then backupJobId, dataDate, backupDataLocation
/// (missing, wrong JSON type or breaking the rule -> bad_data naming the field). Unknown fields are ignored.
result<accept_input> parse_accept_body(std::string_view body);

/// The Accepted request ReceiveRequest answers 202 for: a new id, the caller (JWT sub), `now` as
/// acceptedTimestamp, HTTP transport, getOnStartFlag true. Fails with bad_data when requesterId or the id
/// breaks its rule.
result<backup_request> make_accepted_request(const accept_input& input, std::string backup_request_id,
                                             std::string requester_id, timestamp now);

}  // namespace bkr::domain
