// DOMAIN.md field rules and the POST /api/backup-requests body parser.
#include "bkr/domain/validation.hpp"

#include "bkr/domain/errors.hpp"
#include "json_fields.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>

namespace bkr::domain {
namespace {

using detail::bad_data;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

unsigned digits_value(std::string_view text) {
  unsigned value = 0;
  for (char c : text)
    value = value * 10 + static_cast<unsigned>(c - '0');
  return value;
}

// Decodes one code point at `pos` and advances; nullopt for any ill-formed sequence (RFC 3629 table).
std::optional<char32_t> next_code_point(std::string_view text, std::size_t& pos) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(pos);
  if (lead < 0x80) {
    ++pos;
    return lead;
  }
  std::size_t length = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xBF;
  char32_t cp = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    cp = lead & 0x1Fu;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    cp = lead & 0x0Fu;
    if (lead == 0xE0)
      low = 0xA0;  // overlong
    if (lead == 0xED)
      high = 0x9F;  // UTF-16 surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    cp = lead & 0x07u;
    if (lead == 0xF0)
      low = 0x90;  // overlong
    if (lead == 0xF4)
      high = 0x8F;  // above U+10FFFF
  } else {
    return std::nullopt;
  }
  if (pos + length > text.size())
    return std::nullopt;
  for (std::size_t i = 1; i < length; ++i) {
    const unsigned char c = byte(pos + i);
    const unsigned char lo = i == 1 ? low : 0x80;
    const unsigned char hi = i == 1 ? high : 0xBF;
    if (c < lo || c > hi)
      return std::nullopt;
    cp = (cp << 6) | (c & 0x3Fu);
  }
  pos += length;
  return cp;
}

bool is_control(char32_t cp) {
  return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F);
}

std::string field_text(std::string_view field) {
  return std::string(field);
}

}  // namespace

std::optional<date> parse_date(std::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-')
    return std::nullopt;
  for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (!is_digit(text[i]))
      return std::nullopt;
  }
  const unsigned y = digits_value(text.substr(0, 4));
  const unsigned m = digits_value(text.substr(5, 2));
  const unsigned d = digits_value(text.substr(8, 2));
  if (y == 0)
    return std::nullopt;
  const date result{std::chrono::year{static_cast<int>(y)}, std::chrono::month{m}, std::chrono::day{d}};
  if (!result.ok())
    return std::nullopt;
  return result;
}

std::optional<std::size_t> utf8_length(std::string_view text) {
  std::size_t count = 0;
  for (std::size_t pos = 0; pos < text.size(); ++count) {
    if (!next_code_point(text, pos))
      return std::nullopt;
  }
  return count;
}

result<void> check_printable_ascii(std::string_view value, std::string_view field, std::size_t max_length) {
  if (value.empty())
    return bad_data(field_text(field) + " must not be empty");
  if (value.size() > max_length) {
    return bad_data(field_text(field) + " must be at most " + std::to_string(max_length) + " characters");
  }
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u > 0x7E) {
      return bad_data(field_text(field) +
                      " must contain only printable ASCII characters, without whitespace");
    }
  }
  return {};
}

result<void> check_text(std::string_view value, std::string_view field, std::size_t min_length,
                        std::size_t max_length, text_kind kind) {
  std::size_t count = 0;
  for (std::size_t pos = 0; pos < value.size(); ++count) {
    const auto cp = next_code_point(value, pos);
    if (!cp)
      return bad_data(field_text(field) + " must be valid UTF-8");
    const bool allowed_break = kind == text_kind::multi_line && (*cp == '\t' || *cp == '\n' || *cp == '\r');
    if (is_control(*cp) && !allowed_break) {
      return bad_data(field_text(field) + " must not contain control characters");
    }
  }
  if (count < min_length) {
    return bad_data(min_length == 1 ? field_text(field) + " must not be empty"
                                    : field_text(field) + " must be at least " + std::to_string(min_length) +
                                          " characters");
  }
  if (count > max_length) {
    return bad_data(field_text(field) + " must be at most " + std::to_string(max_length) + " characters");
  }
  return {};
}

result<date> check_date(std::string_view value, std::string_view field) {
  if (auto d = parse_date(value))
    return *d;
  return bad_data(field_text(field) + " must be a real calendar date in the form YYYY-MM-DD");
}

result<void> validate_backup_job_id(std::string_view value) {
  return check_printable_ascii(value, "backupJobId", max_id_length);
}

result<date> validate_data_date(std::string_view value) {
  return check_date(value, "dataDate");
}

result<void> validate_backup_data_location(std::string_view value) {
  return check_text(value, "backupDataLocation", 1, max_path_length);
}

result<void> validate_requester_id(std::string_view value) {
  return check_text(value, "requesterId", 1, max_requester_id_length);
}

result<accept_input> parse_accept_body(std::string_view body) {
  const auto parsed = detail::parse_json_object(body, "request body");
  if (!parsed)
    return parsed.error();
  const auto& json = *parsed;
  const auto* api_version = detail::find_field(json, "apiVersion");
  if (api_version == nullptr || !api_version->is_string() ||
      api_version->get_ref<const std::string&>() != accept_api_version) {
    return make_error(errc::invalid_api_version, "apiVersion must be " + std::string(accept_api_version));
  }

  accept_input input;
  auto job_id = detail::required_string(json, "backupJobId");
  if (!job_id)
    return job_id.error();
  if (auto ok = validate_backup_job_id(*job_id); !ok)
    return ok.error();
  input.backup_job_id = std::move(*job_id);

  auto data_date = detail::required_string(json, "dataDate");
  if (!data_date)
    return data_date.error();
  auto parsed_date = validate_data_date(*data_date);
  if (!parsed_date)
    return parsed_date.error();
  input.data_date = *parsed_date;

  auto location = detail::required_string(json, "backupDataLocation");
  if (!location)
    return location.error();
  if (auto ok = validate_backup_data_location(*location); !ok)
    return ok.error();
  input.prepared_data_path_name = std::move(*location);
  return input;
}

result<backup_request> make_accepted_request(const accept_input& input, std::string backup_request_id,
                                             std::string requester_id, timestamp now) {
  if (auto ok = check_printable_ascii(backup_request_id, "backupRequestId", max_id_length); !ok)
    return ok.error();
  if (auto ok = validate_requester_id(requester_id); !ok)
    return ok.error();
  if (auto ok = validate_backup_job_id(input.backup_job_id); !ok)
    return ok.error();
  if (auto ok = validate_backup_data_location(input.prepared_data_path_name); !ok)
    return ok.error();
  if (!input.data_date.ok())
    return bad_data("dataDate must be a real calendar date in the form YYYY-MM-DD");

  backup_request request;
  request.backup_request_id = std::move(backup_request_id);
  request.backup_job_id = input.backup_job_id;
  request.data_date = input.data_date;
  request.prepared_data_path_name = input.prepared_data_path_name;
  request.get_on_start_flag = true;
  request.transport_type_code = transport::http;
  request.status_type_code = request_status::accepted;
  request.requester_id = std::move(requester_id);
  request.accepted_timestamp = now;
  return request;
}

}  // namespace bkr::domain
