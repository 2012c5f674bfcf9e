// The Authorization header and the base64url codec.
#include "bkr/auth/base64url.hpp"
#include "bkr/auth/errors.hpp"
#include "bkr/auth/jwt_verifier.hpp"

#include <catch2/catch.hpp>

#include <random>

using bkr::auth::errc;
using bkr::auth::parse_bearer;

TEST_CASE("parse_bearer accepts one token after a case-insensitive Bearer scheme") {
  CHECK(parse_bearer("Bearer abc.def.ghi").value() == "abc.def.ghi");
  CHECK(parse_bearer("bearer abc.def.ghi").value() == "abc.def.ghi");
  CHECK(parse_bearer("BEARER abc").value() == "abc");
  CHECK(parse_bearer("BeArEr a-b_c~d+e/f==").value() == "a-b_c~d+e/f==");
  CHECK(parse_bearer("Bearer " + std::string(8192, 'a')).has_value());
}

TEST_CASE("parse_bearer tells a missing token from a malformed header") {
  for (const auto& missing : {std::optional<std::string_view>{}, std::optional<std::string_view>{""}}) {
    auto r = parse_bearer(missing);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == make_error_code(errc::missing_token));
  }
  const std::string too_long = "Bearer " + std::string(8193, 'a');
  for (std::string_view bad : std::initializer_list<std::string_view>{
           "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer  abc", "Bearer abc def", "Bearer\tabc",
           "Bearerabc", "Token abc", "Bearer abc ", "Bearer a=b", "Bearer ===", "Bearer a\"b", "Bearer a,b",
           std::string_view(too_long)}) {
    INFO(bad);
    auto r = parse_bearer(bad);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == make_error_code(errc::malformed));
    if (bad.size() > 20)
      CHECK(r.error().message.find("aaaaaaaa") == std::string::npos);
  }
  CHECK(parse_bearer("Bearer abcd", 3).has_value() == false);
}

TEST_CASE("base64url round-trips any bytes") {
  std::mt19937 rng(42);
  for (std::size_t len = 0; len < 70; ++len) {
    std::string bytes(len, '\0');
    for (auto& b : bytes)
      b = static_cast<char>(rng() & 0xFF);
    const std::string text = bkr::auth::base64url_encode(bytes);
    CHECK(text.find_first_of("+/=") == std::string::npos);
    CHECK(bkr::auth::base64url_decode(text) == bytes);
  }
  CHECK(bkr::auth::base64url_encode(std::string_view("\xfb\xff")) == "-_8");
  CHECK(bkr::auth::base64url_decode("-_8") == std::string("\xfb\xff"));
}

TEST_CASE("base64url decoding is strict") {
  for (std::string_view bad : {"QQ==", "QQ=", "a+b/", "QQ QQ", "A", "AAAAA", "QR", "QUJ", "Q\n"}) {
    INFO(bad);
    CHECK_FALSE(bkr::auth::base64url_decode(bad).has_value());
  }
  CHECK(bkr::auth::base64url_decode("QQ") == std::string("A"));
  CHECK(bkr::auth::base64url_decode("QUI") == std::string("AB"));
  CHECK(bkr::auth::base64url_decode("") == std::string());
}
