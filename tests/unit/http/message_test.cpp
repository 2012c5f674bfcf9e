// Message helpers: header fields, methods, JSON media types, percent decoding, principal scopes.
#include "bkr/http/message.hpp"

#include <catch2/catch.hpp>

using namespace bkr::http;

TEST_CASE("header fields are looked up case-insensitively and keep their order") {
  fields f;
  f.add("Content-Type", "application/json");
  f.add("X-Multi", "1");
  f.add("x-multi", "2");
  CHECK(f.get("content-type") == "application/json");
  CHECK(f.get("X-MULTI") == "1");
  CHECK_FALSE(f.get("missing").has_value());
  f.set("X-Multi", "3");
  CHECK(f.size() == 2);
  CHECK(f.get("x-multi") == "3");
  f.erase("CONTENT-TYPE");
  CHECK_FALSE(f.contains("Content-Type"));
}

TEST_CASE("JSON media types are recognised with parameters") {
  CHECK(is_json_media_type("application/json"));
  CHECK(is_json_media_type("Application/JSON"));
  CHECK(is_json_media_type("application/json; charset=utf-8"));
  CHECK(is_json_media_type("application/json;charset=UTF-8"));
  CHECK(is_json_media_type("application/json; charset=\"utf-8\""));
  CHECK(is_json_media_type("application/json; foo=bar; charset=utf-8"));
  CHECK(is_json_media_type(" application/json "));
  CHECK_FALSE(is_json_media_type("application/json; charset=latin1"));
  CHECK_FALSE(is_json_media_type("application/jsonx"));
  CHECK_FALSE(is_json_media_type("text/json"));
  CHECK_FALSE(is_json_media_type("text/plain"));
  CHECK_FALSE(is_json_media_type(""));
}

TEST_CASE("percent decoding") {
  CHECK(percent_decode("a%20b%2F%2f") == "a b//");
  CHECK(percent_decode("plain+text") == "plain+text");
  CHECK_FALSE(percent_decode("%").has_value());
  CHECK_FALSE(percent_decode("%4").has_value());
  CHECK_FALSE(percent_decode("%zz").has_value());
  CHECK(percent_decode("%41") == "A");
}

TEST_CASE("methods round-trip through their names") {
  for (auto m :
       {method::get, method::head, method::post, method::put, method::patch, method::del, method::options})
    CHECK(parse_method(to_string(m)) == m);
  CHECK(parse_method("get") == method::other);
  CHECK(parse_method("BREW") == method::other);
}

TEST_CASE("a principal knows its scopes") {
  principal p{.subject = "client-a", .issuer = "iss", .scopes = {"post-backup-request", "admin"}};
  CHECK(p.has_scope("admin"));
  CHECK_FALSE(p.has_scope("get-backup-request"));
}

TEST_CASE("the trace id is the traceparent's when present, else the request id") {
  request r;
  r.request_id = "rid";
  CHECK(r.trace_id() == "rid");
  r.trace = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  CHECK(r.trace_id() == "4bf92f3577b34da6a3ce929d0e0e4736");
}

TEST_CASE("JSON responses serialise their body") {
  const auto r = response::json(202, {{"a", 1}});
  CHECK(r.status == 202);
  CHECK(r.body == "{\"a\":1}");
  CHECK(r.content_type == "application/json");
}
