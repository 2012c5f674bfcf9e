// Field rules (ids, dates, paths, requester ids) and the POST /api/backup-requests body parser.
#include "bkr/domain/validation.hpp"
#include "bkr/domain/errors.hpp"

#include "domain_samples.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace bkr::domain;
using bkr::domain::test::at;
using bkr::domain::test::ymd;

namespace {

std::string repeat(std::string_view unit, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i)
    out += unit;
  return out;
}

template <class T>
std::string message_of(const bkr::result<T>& r) {
  REQUIRE_FALSE(r.has_value());
  return r.error().message;
}

template <class T>
errc code_of(const bkr::result<T>& r) {
  REQUIRE_FALSE(r.has_value());
  REQUIRE(r.error().code.category() == category());
  return static_cast<errc>(r.error().code.value());
}

std::string body(std::string_view job_id_json, std::string_view date_json, std::string_view location_json,
                 std::string_view api_version_json = R"("2022-05-22")") {
  std::string out = "{";
  if (!api_version_json.empty())
    out += R"("apiVersion":)" + std::string(api_version_json) + ",";
  if (!job_id_json.empty())
    out += R"("backupJobId":)" + std::string(job_id_json) + ",";
  if (!date_json.empty())
    out += R"("dataDate":)" + std::string(date_json) + ",";
  if (!location_json.empty())
    out += R"("backupDataLocation":)" + std::string(location_json) + ",";
  if (out.back() == ',')
    out.pop_back();
  return out + "}";
}

}  // namespace

TEST_CASE("parse_date accepts real calendar dates in YYYY-MM-DD", "[domain][validation][date]") {
  CHECK(parse_date("2026-02-03") == ymd(2026, 2, 3));
  CHECK(parse_date("2024-02-29") == ymd(2024, 2, 29));  // leap year
  CHECK(parse_date("2000-02-29") == ymd(2000, 2, 29));  // divisible by 400: leap
  CHECK(parse_date("2026-12-31") == ymd(2026, 12, 31));
  CHECK(parse_date("2026-04-30") == ymd(2026, 4, 30));
  CHECK(parse_date("0001-01-01") == ymd(1, 1, 1));
  CHECK(parse_date("9999-12-31") == ymd(9999, 12, 31));
}

TEST_CASE("parse_date rejects impossible dates and any other form", "[domain][validation][date]") {
  const char* rejected[] = {
      "2026-02-30",                  // no such day
      "2025-02-29",                  // not a leap year
      "1900-02-29",                  // divisible by 100, not by 400
      "2026-04-31",   "2026-13-01",  // month 13
      "2026-00-10",                  // month 00
      "2026-01-00",                  // day 00
      "2026-01-32",   "0000-01-01",  // no year zero
      "2026-2-3",     "2026-02-3",
      "26-02-03",     "20260203",
      "2026/02/03",   "2026-02-03T00:00:00Z",
      "2026-02-03 ",  " 2026-02-03",
      "+2026-02-03",  "-2026-02-03",
      "2026-+2-03",   "2026-02--3",
      "2026-0a-03",   "",
      "2026-02",      "12026-02-03",
      "2026-02-03\n",
  };
  for (const char* text : rejected) {
    INFO(text);
    CHECK_FALSE(parse_date(text));
  }
  CHECK_FALSE(parse_date(std::string_view("2026-02-03\0", 11)));
}

TEST_CASE("dataDate errors name the field and the rule", "[domain][validation][date]") {
  CHECK(message_of(validate_data_date("2026-02-30")) ==
        "dataDate must be a real calendar date in the form YYYY-MM-DD");
  CHECK(code_of(validate_data_date("2026-2-3")) == errc::bad_data);
  CHECK(validate_data_date("2024-02-29").value() == ymd(2024, 2, 29));
}

TEST_CASE("backupJobId is 1..50 printable ASCII characters without whitespace", "[domain][validation][id]") {
  CHECK(validate_backup_job_id("j").has_value());
  CHECK(validate_backup_job_id(repeat("a", 50)).has_value());
  CHECK(message_of(validate_backup_job_id("")) == "backupJobId must not be empty");
  CHECK(message_of(validate_backup_job_id(repeat("a", 51))) == "backupJobId must be at most 50 characters");

  // Every printable ASCII character is allowed, 0x21 '!' to 0x7E '~'.
  std::string printable;
  for (char c = '!'; c <= '~'; ++c)
    printable += c;
  CHECK(validate_backup_job_id(printable.substr(0, 50)).has_value());
  CHECK(validate_backup_job_id(printable.substr(50)).has_value());

  const std::string rejected[] = {
      "job 1",   " job",    "job ", "job\t1", "job\n", "job\r", std::string("job\0", 4),
      "job\x7f", "job\x1f", "jöb",  "job\xff"};
  for (const auto& text : rejected) {
    INFO(text);
    CHECK(message_of(validate_backup_job_id(text)) ==
          "backupJobId must contain only printable ASCII characters, without whitespace");
  }
}

TEST_CASE("utf8_length counts code points and refuses ill-formed UTF-8", "[domain][validation][utf8]") {
  CHECK(utf8_length("") == 0u);
  CHECK(utf8_length("abc") == 3u);
  CHECK(utf8_length("\xc3\xa9") == 1u);          // é
  CHECK(utf8_length("\xe2\x82\xac") == 1u);      // €
  CHECK(utf8_length("\xf0\x9f\x98\x80") == 1u);  // U+1F600
  CHECK(utf8_length("\xf4\x8f\xbf\xbf") == 1u);  // U+10FFFF, the last code point
  CHECK(utf8_length("\xed\x9f\xbf") == 1u);      // U+D7FF, just below the surrogates

  const std::string ill_formed[] = {
      "\x80",              // lone continuation byte
      "\xc3",              // truncated two-byte sequence
      "a\xe2\x82",         // truncated three-byte sequence
      "\xc0\xaf",          // overlong '/'
      "\xc1\xbf",          // overlong
      "\xe0\x80\xaf",      // overlong three-byte
      "\xf0\x80\x80\xaf",  // overlong four-byte
      "\xed\xa0\x80",      // UTF-16 surrogate U+D800
      "\xed\xbf\xbf",      // surrogate U+DFFF
      "\xf4\x90\x80\x80",  // U+110000, beyond Unicode
      "\xf5\x80\x80\x80",  // lead byte never used
      "\xff",
      "\xfe",
      "\xc3\x28",  // lead followed by a non-continuation byte
  };
  for (const auto& text : ill_formed) {
    INFO(text);
    CHECK_FALSE(utf8_length(text));
  }
}

TEST_CASE("backupDataLocation is 1..250 code points of UTF-8 without control characters",
          "[domain][validation][path]") {
  CHECK(validate_backup_data_location("/").has_value());
  CHECK(validate_backup_data_location(repeat("a", 250)).has_value());
  CHECK(validate_backup_data_location(repeat("\xc3\xa9", 250)).has_value());          // 500 bytes, 250 chars
  CHECK(validate_backup_data_location(repeat("\xf0\x9f\x98\x80", 250)).has_value());  // 1000 bytes
  CHECK(validate_backup_data_location("/data/with space/and-ünïcode").has_value());

  CHECK(message_of(validate_backup_data_location("")) == "backupDataLocation must not be empty");
  CHECK(message_of(validate_backup_data_location(repeat("a", 251))) ==
        "backupDataLocation must be at most 250 characters");
  CHECK(message_of(validate_backup_data_location(repeat("\xc3\xa9", 251))) ==
        "backupDataLocation must be at most 250 characters");

  const std::string controls[] = {"/a\x01",    "/a\tb",  "/a\nb",      "/a\rb", std::string("/a\0b", 4),
                                  "/a\x1f",    "/a\x7f", "/a\xc2\x85",  // U+0085 NEL, a C1 control
                                  "/a\xc2\x9f"};
  for (const auto& text : controls) {
    INFO(text);
    CHECK(message_of(validate_backup_data_location(text)) ==
          "backupDataLocation must not contain control characters");
  }
  CHECK(validate_backup_data_location("/a\xc2\xa0").has_value());  // U+00A0 is not a control character
  CHECK(message_of(validate_backup_data_location("/a\xc3")) == "backupDataLocation must be valid UTF-8");
  CHECK(message_of(validate_backup_data_location("/a\xed\xa0\x80")) ==
        "backupDataLocation must be valid UTF-8");
}

TEST_CASE("free multi-line text may hold tab, CR and LF but no other control", "[domain][validation][text]") {
  CHECK(check_text("line 1\nline 2\r\n\tindented", "messageText", 0, 250, text_kind::multi_line).has_value());
  CHECK_FALSE(check_text("a\x01", "messageText", 0, 250, text_kind::multi_line).has_value());
  CHECK_FALSE(check_text("a\x7f", "messageText", 0, 250, text_kind::multi_line).has_value());
  CHECK_FALSE(check_text("a\nb", "messageText", 0, 250, text_kind::single_line).has_value());
  CHECK(check_text("", "messageText", 0, 250, text_kind::multi_line).has_value());
}

TEST_CASE("requesterId is 1..256 characters without control characters", "[domain][validation][requester]") {
  CHECK(validate_requester_id("x").has_value());
  CHECK(validate_requester_id(repeat("c", 256)).has_value());
  CHECK(validate_requester_id("auth0|abc def@clients").has_value());
  CHECK(message_of(validate_requester_id("")) == "requesterId must not be empty");
  CHECK(message_of(validate_requester_id(repeat("c", 257))) == "requesterId must be at most 256 characters");
  CHECK(message_of(validate_requester_id("abc\n")) == "requesterId must not contain control characters");
}

TEST_CASE("a valid POST body parses into accept_input", "[domain][validation][accept]") {
  const auto r = parse_accept_body(
      R"({"apiVersion":"2022-05-22","backupJobId":"job-1","dataDate":"2024-02-29","backupDataLocation":"/p/x"})");
  REQUIRE(r.has_value());
  CHECK(r->backup_job_id == "job-1");
  CHECK(r->data_date == ymd(2024, 2, 29));
  CHECK(r->prepared_data_path_name == "/p/x");
}

TEST_CASE("unknown body fields are ignored", "[domain][validation][accept]") {
  const auto r = parse_accept_body(
      R"({"apiVersion":"2022-05-22","backupJobId":"j","dataDate":"2026-02-03","backupDataLocation":"/p",)"
      R"("extra":{"nested":[1,2]},"statusTypeCode":"Succeeded"})");
  REQUIRE(r.has_value());
  CHECK(r->backup_job_id == "j");
}

TEST_CASE("a body that is not a JSON object is InvalidJson", "[domain][validation][accept]") {
  const std::string bodies[] = {"",
                                "{",
                                "not json",
                                "[1,2]",
                                R"("a string")",
                                "42",
                                "null",
                                "true",
                                "{\"apiVersion\":\"2022-05-22\",}",  // trailing comma
                                "{\"apiVersion\":\"\xff\"}"};        // invalid UTF-8 inside a string
  for (const auto& text : bodies) {
    INFO(text);
    const auto r = parse_accept_body(text);
    CHECK(code_of(r) == errc::invalid_json);
    CHECK(wire_code(r.error().code) == std::optional<std::string_view>("InvalidJson"));
  }
}

TEST_CASE("a missing or wrong apiVersion is InvalidApiVersion, checked before the fields",
          "[domain][validation][accept]") {
  const std::string bodies[] = {
      "{}",
      body(R"("j")", R"("2026-02-03")", R"("/p")", ""),
      body(R"("j")", R"("2026-02-03")", R"("/p")", "null"),
      body(R"("j")", R"("2026-02-03")", R"("/p")", "20220522"),
      body(R"("j")", R"("2026-02-03")", R"("/p")", R"("2022-05-23")"),
      body(R"("j")", R"("2026-02-03")", R"("/p")", R"("2022-05-22 ")"),
      body(R"("j")", R"("2026-02-03")", R"("/p")", R"(["2022-05-22"])"),
      body("", "", "", R"("v1")"),  // fields missing too: the version is reported
  };
  for (const auto& text : bodies) {
    INFO(text);
    const auto r = parse_accept_body(text);
    CHECK(code_of(r) == errc::invalid_api_version);
    CHECK(r.error().message == "apiVersion must be 2022-05-22");
  }
}

TEST_CASE("field errors in the body are BadData naming the wire field", "[domain][validation][accept]") {
  const std::pair<std::string, std::string> cases[] = {
      {body("", R"("2026-02-03")", R"("/p")"), "backupJobId is required"},
      {body("null", R"("2026-02-03")", R"("/p")"), "backupJobId is required"},
      {body("42", R"("2026-02-03")", R"("/p")"), "backupJobId must be a string"},
      {body(R"("")", R"("2026-02-03")", R"("/p")"), "backupJobId must not be empty"},
      {body(R"("a b")", R"("2026-02-03")", R"("/p")"),
       "backupJobId must contain only printable ASCII characters, without whitespace"},
      {body('"' + repeat("a", 51) + '"', R"("2026-02-03")", R"("/p")"),
       "backupJobId must be at most 50 characters"},
      {body(R"("j")", "", R"("/p")"), "dataDate is required"},
      {body(R"("j")", "20260203", R"("/p")"), "dataDate must be a string"},
      {body(R"("j")", R"("2026-02-30")", R"("/p")"),
       "dataDate must be a real calendar date in the form YYYY-MM-DD"},
      {body(R"("j")", R"("2026-02-03T00:00:00Z")", R"("/p")"),
       "dataDate must be a real calendar date in the form YYYY-MM-DD"},
      {body(R"("j")", R"("2026-02-03")", ""), "backupDataLocation is required"},
      {body(R"("j")", R"("2026-02-03")", R"(["/p"])"), "backupDataLocation must be a string"},
      {body(R"("j")", R"("2026-02-03")", R"("")"), "backupDataLocation must not be empty"},
      {body(R"("j")", R"("2026-02-03")", '"' + repeat("p", 251) + '"'),
       "backupDataLocation must be at most 250 characters"},
      {body(R"("j")", R"("2026-02-03")", R"("/p\u0001")"),
       "backupDataLocation must not contain control characters"},
      // The first broken field in reading order is reported.
      {body(R"("")", R"("bad")", R"("")"), "backupJobId must not be empty"},
      {body(R"("j")", R"("bad")", R"("")"), "dataDate must be a real calendar date in the form YYYY-MM-DD"},
  };
  for (const auto& [text, message] : cases) {
    INFO(text);
    const auto r = parse_accept_body(text);
    CHECK(code_of(r) == errc::bad_data);
    CHECK(r.error().message == message);
    CHECK(wire_code(r.error().code) == std::optional<std::string_view>("BadData"));
  }
  CHECK(parse_accept_body(body(R"("j")", R"("2026-02-03")", '"' + repeat("p", 250) + '"')).has_value());
  CHECK(parse_accept_body(body('"' + repeat("a", 50) + '"', R"("2026-02-03")", R"("/p")")).has_value());
}

TEST_CASE("make_accepted_request builds the Accepted request for the 202", "[domain][validation][accept]") {
  const accept_input input{"job-1", ymd(2026, 2, 3), "/prepared/x"};
  const auto now = at("2026-02-03T09:00:00.123Z");
  const auto r = make_accepted_request(input, "0190c2f1-7a3b-7c4d-8e5f-000000000001", "client@clients", now);
  REQUIRE(r.has_value());
  CHECK(r->backup_request_id == "0190c2f1-7a3b-7c4d-8e5f-000000000001");
  CHECK(r->backup_job_id == "job-1");
  CHECK(r->data_date == ymd(2026, 2, 3));
  CHECK(r->prepared_data_path_name == "/prepared/x");
  CHECK(r->get_on_start_flag);
  CHECK(r->transport_type_code == transport::http);
  CHECK(r->status_type_code == request_status::accepted);
  CHECK(r->requester_id == "client@clients");
  CHECK(r->accepted_timestamp == now);
  CHECK_FALSE(r->received_timestamp);
  CHECK_FALSE(r->checked_timestamp);
  CHECK_FALSE(r->backup_provider_code);
  CHECK_FALSE(r->storage_path_name);

  CHECK(message_of(make_accepted_request(input, "id", "", now)) == "requesterId must not be empty");
  CHECK(message_of(make_accepted_request(input, "id", repeat("c", 257), now)) ==
        "requesterId must be at most 256 characters");
  CHECK(message_of(make_accepted_request(input, "", "c", now)) == "backupRequestId must not be empty");
  CHECK(message_of(make_accepted_request(accept_input{"a b", ymd(2026, 2, 3), "/p"}, "id", "c", now)) ==
        "backupJobId must contain only printable ASCII characters, without whitespace");
}
