// What the intake says about text that is not JSON: the actual problem and where, never the text itself.
#include "bkr/domain/errors.hpp"
#include "bkr/domain/messages.hpp"
#include "bkr/domain/validation.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace bkr::domain;

namespace {

std::string message_of(std::string_view body) {
  const auto r = parse_accept_body(body);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == make_error_code(errc::invalid_json));
  return r.error().message;
}

const std::string valid_fields =
    R"("apiVersion":"2022-05-22","backupJobId":"demo-local","dataDate":"2026-02-03","backupDataLocation":"/d")";

}  // namespace

TEST_CASE("a number out of range in any field is named as such, with where it starts",
          "[domain][validation][accept][json]") {
  CHECK(message_of(R"({"big":1e999999,)" + valid_fields + "}") ==
        "request body is not valid JSON: number out of range at line 1, column 8");
  CHECK(message_of("{\n  \"big\": -1e400}") ==
        "request body is not valid JSON: number out of range at line 2, column 10");
}

TEST_CASE("a lone UTF-16 surrogate escape is named as such", "[domain][validation][accept][json]") {
  const auto high = message_of(R"({"note":"\ud800",)" + valid_fields + "}");
  CHECK(high ==
        "request body is not valid JSON: invalid string: surrogate U+D800..U+DBFF must be followed by "
        "U+DC00..U+DFFF at line 1, column 16");
  const auto low = message_of(R"({"note":"\udc00x"})");
  CHECK_THAT(low,
             Catch::StartsWith("request body is not valid JSON: invalid string: surrogate U+DC00..U+DFFF "
                               "must follow U+D800..U+DBFF"));
}

TEST_CASE("other syntax errors say what was expected, and the text is never quoted back",
          "[domain][validation][accept][json]") {
  CHECK(message_of("") ==
        "request body is not valid JSON: unexpected end of input; expected '[', '{', or a literal at line 1, "
        "column 1");
  CHECK(message_of("{\"a\":1,}") ==
        "request body is not valid JSON: unexpected '}'; expected string literal at line 1, column 8");
  const auto bad_utf8 = message_of("{\"secret-looking\":\"\xff\"}");
  CHECK_THAT(bad_utf8, Catch::Contains("invalid string: ill-formed UTF-8 byte"));
  CHECK_THAT(bad_utf8, !Catch::Contains("secret-looking"));
  CHECK_THAT(message_of("{}{}"), Catch::Contains("expected end of input"));
}

TEST_CASE("JSON that is no object keeps its message", "[domain][validation][accept][json]") {
  for (const char* body : {"[1,2]", "42", "null", "\"text\""}) {
    INFO(body);
    CHECK(message_of(body) == "request body must be a JSON object");
  }
}

TEST_CASE("the store status reply intake names the problem the same way", "[domain][reply][json]") {
  const auto r = parse_store_status_reply_text(R"({"backupByteCount":1e999999})");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == make_error_code(errc::invalid_json));
  CHECK(r.error().message ==
        "store status reply is not valid JSON: number out of range at line 1, column 20");
  CHECK(parse_store_status_reply_text("[]").error().message == "store status reply must be a JSON object");
}
