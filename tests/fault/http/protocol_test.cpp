// Protocol abuse against the real binary: header floods, garbage request lines, pipelining, wrong
// methods, routes and media types, bad tokens. Every refusal is a documented JSON error.
#include "fault_support.hpp"
#include "openapi_contract.hpp"
#include "queue_rows.hpp"
#include "tokens.hpp"

#include <catch2/catch.hpp>

#include <poll.h>

using namespace bkr::fault_test;
using namespace std::chrono_literals;
using bkr::rr_test::reply;

namespace {

// Sends `request` on a new connection and collects what comes back until the server closes (or 5 s).
exchange_result one_shot(const fault_service& svc, std::string_view request) {
  bkr::test::raw_connection c(svc.port());
  return exchange(c.fd(), request, 5s);
}

}  // namespace

TEST_CASE("header floods are answered 431 in JSON (or cut off) and never served", "[fault][http][headers]") {
  fault_service svc;
  const std::string token = dev_token();
  const std::string valid = bkr::rr_test::accept_body("flooded");
  const std::string auth = "Authorization: Bearer " + token + "\r\n";

  std::string many;
  for (int i = 0; i < 4000; ++i)
    many += "X-Flood-" + std::to_string(i) + ": v\r\n";

  struct flood {
    std::string name;
    std::string request;
  };
  const std::vector<flood> floods{
      {"4,000 small headers", json_post(post_route, valid, token, many)},
      {"one 64 KiB header line",
       json_post(post_route, valid, token, "X-Big: " + std::string(64 * 1024, 'b') + "\r\n")},
      {"a 20 KiB request target", "GET /api/backup-requests/" + std::string(20 * 1024, 'i') +
                                      " HTTP/1.1\r\nHost: t\r\n" + auth + "\r\n"},
      {"a 64 KiB Authorization header",
       "GET /api/backup-requests/x HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " +
           std::string(64 * 1024, 'a') + "\r\n\r\n"},
      {"2 MiB of header without an end",
       "POST /api/backup-requests HTTP/1.1\r\nX-Endless: " + std::string(2 * 1024 * 1024, 'e')},
  };
  for (const auto& f : floods) {
    INFO(f.name);
    const auto t0 = std::chrono::steady_clock::now();
    const auto got = one_shot(svc, f.request);
    CHECK(got.closed);
    CHECK(std::chrono::steady_clock::now() - t0 < 4s);
    const auto replies = parse_replies(got.received);
    CHECK(replies.size() <= 1);
    // A client that keeps sending while the server closes may see a reset instead of the answer.
    if (!replies.empty())
      check_component_error(replies[0], 431, "RequestHeaderFieldsTooLarge", "HeadersTooLarge");
    else
      CHECK(got.send_failed);
  }

  SECTION("a flood trickled in small writes is cut off at the limit too") {
    bkr::test::raw_connection c(svc.port());
    const std::string request = json_post(post_route, valid, token, many);
    for (std::size_t at = 0; at < request.size(); at += 100) {
      if (!c.send(std::string_view(request).substr(at, 100)))
        break;  // reset: the server has answered and closed
      pollfd p{c.fd(), POLLIN, 0};
      if (::poll(&p, 1, 0) == 1)
        break;  // the answer is there
    }
    const auto got = exchange(c.fd(), "", 5s);
    CHECK(got.closed);
    const auto replies = parse_replies(got.received);
    REQUIRE(replies.size() == 1);
    check_component_error(replies[0], 431, "RequestHeaderFieldsTooLarge", "HeadersTooLarge");
  }

  SECTION("300 headers within the limit are just headers") {
    std::string some;
    for (int i = 0; i < 300; ++i)
      some += "X-" + std::to_string(i) + ": v\r\n";
    REQUIRE(some.size() < 6000);
    bkr::test::raw_connection c(svc.port());
    const auto got = exchange(c.fd(), json_post(post_route, valid, token, some), 5s, 1);
    const auto replies = parse_replies(got.received);
    REQUIRE(replies.size() == 1);
    CHECK(replies[0].status == 202);
  }

  const auto before = bkr::rr_test::message_count(svc.conninfo());
  CHECK(before <= 1);  // only the section with headers within the limit creates one
  check_still_serving(svc);
  CHECK(bkr::rr_test::message_count(svc.conninfo()) == before + 1);
}

TEST_CASE("garbage instead of HTTP is 400 in JSON and the connection is closed", "[fault][http][garbage]") {
  fault_service svc;
  const std::vector<std::pair<std::string, std::string>> garbage{
      {"binary noise",
       std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\xde\xad\xbe\xef\r\n\r\n", 20)},
      {"a TLS client hello",
       std::string("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 11) + std::string(160, '\x42')},
      {"an HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"},
      {"no version", "GET /api/backup-requests\r\n\r\n"},
      {"a bad version", "GET / HTTP/9.Z\r\nHost: t\r\n\r\n"},
      {"a header without a colon", "GET /livez HTTP/1.1\r\nHost: t\r\nNo colon here\r\n\r\n"},
      {"a NUL in a header value", std::string("GET / HTTP/1.1\r\nHost: t\r\nX-A: a\0b\r\n\r\n", 35)},
      {"a space before the colon", "GET / HTTP/1.1\r\nHost : t\r\n\r\n"},
      {"an absolute-form target", "GET http://127.0.0.1/api/backup-requests/x HTTP/1.1\r\nHost: t\r\n\r\n"},
      {"an asterisk target", "OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n"},
      {"a control character in the target", "GET /api/\x01 HTTP/1.1\r\nHost: t\r\n\r\n"},
  };
  for (const auto& [name, bytes] : garbage) {
    INFO(name);
    const auto got = one_shot(svc, bytes);
    CHECK(got.closed);
    const auto replies = parse_replies(got.received);
    REQUIRE(replies.size() == 1);
    check_component_error(replies[0], 400, "BadRequest", "BadInput");
    CHECK(replies[0].header("connection") == "close");
  }
  CHECK(bkr::rr_test::message_count(svc.conninfo()) == 0);
  check_still_serving(svc);
}

TEST_CASE("pipelined requests in one write are each answered, in order", "[fault][http][pipelining]") {
  fault_service svc;
  const std::string token = dev_token();
  const auto rid = [](int i) { return "X-Request-Id: pipe-" + std::to_string(i) + "\r\n"; };
  const std::string bad_token = "Authorization: Bearer not.a.token\r\n";

  SECTION("a mix of valid and refused requests on one connection") {
    std::string batch;
    batch += json_post(post_route, bkr::rr_test::accept_body("pipe-a"), token, rid(1));  // 202
    batch += "GET /api/nothing-here HTTP/1.1\r\nHost: t\r\n" + rid(2) + "\r\n";          // 404
    batch += json_post(post_route, "{not json", token, rid(3));                          // 400
    batch += "DELETE /api/backup-requests HTTP/1.1\r\nHost: t\r\n" + rid(4) + "\r\n";    // 405
    batch += "POST /api/backup-requests HTTP/1.1\r\nHost: t\r\n" + bad_token + rid(5) +
             "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";            // 401
    batch += json_post(post_route, bkr::rr_test::accept_body("pipe-b"), token, rid(6));  // 202
    batch += "GET /api/backup-requests/no-such-id HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " + token +
             "\r\n" + rid(7) + "\r\n";                                                   // 404
    batch += json_post(post_route, bkr::rr_test::accept_body("pipe-c"), token, rid(8));  // 202
    const std::vector<unsigned> expected{202, 404, 400, 405, 401, 202, 404, 202};

    bkr::test::raw_connection c(svc.port());
    const auto got = exchange(c.fd(), batch, 10s, expected.size());
    const auto replies = parse_replies(got.received);
    REQUIRE(replies.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
      INFO("pipelined request " << i + 1 << ": " << replies[i].status << " " << replies[i].body);
      CHECK(replies[i].status == expected[i]);
      CHECK(replies[i].header("x-request-id") == "pipe-" + std::to_string(i + 1));
    }
    check_error(replies[2], 400, "InvalidJson", "POST", post_route);
    check_component_error(replies[1], 404, "NotFound", "NotFound");
    check_component_error(replies[3], 405, "MethodNotAllowed", "MethodNotAllowed");
    check_error(replies[4], 401, "Unauthorized", "POST", post_route);
    check_error(replies[6], 404, "NotFound", "GET", get_route);
    CHECK_FALSE(got.closed);  // still keep-alive

    const auto messages = bkr::rr_test::queued_messages(svc.conninfo());
    REQUIRE(messages.size() == 3);
    std::vector<std::string> jobs;
    for (const auto& m : messages)
      jobs.push_back(m.payload.value("backupJobId", ""));
    std::sort(jobs.begin(), jobs.end());
    CHECK(jobs == std::vector<std::string>{"pipe-a", "pipe-b", "pipe-c"});
    for (std::size_t i : {0u, 5u, 7u}) {
      const std::string id = replies[i].json().at("backupRequestId");
      CHECK(std::any_of(messages.begin(), messages.end(), [&](const auto& m) { return m.message_id == id; }));
    }
  }

  SECTION("100 valid requests in one write get 100 answers in order") {
    std::string batch;
    for (int i = 1; i <= 100; ++i)
      batch += json_post(post_route, bkr::rr_test::accept_body("burst-" + std::to_string(i)), token, rid(i));
    bkr::test::raw_connection c(svc.port());
    const auto got = exchange(c.fd(), batch, 20s, 100);
    const auto replies = parse_replies(got.received);
    REQUIRE(replies.size() == 100);
    for (std::size_t i = 0; i < replies.size(); ++i) {
      INFO("request " << i + 1);
      CHECK(replies[i].status == 202);
      CHECK(replies[i].header("x-request-id") == "pipe-" + std::to_string(i + 1));
      CHECK(replies[i].json().value("backupJobId", "") == "burst-" + std::to_string(i + 1));
    }
    CHECK(bkr::rr_test::message_count(svc.conninfo()) == 100);
  }

  SECTION("behind a body refused before it was read, nothing more is read from the connection") {
    // The 415's body is never read, so the server cannot know where the next request starts: it answers,
    // closes, and the valid request behind it is never executed.
    std::string batch = "POST /api/backup-requests HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " + token +
                        "\r\n" + rid(1) + "Content-Type: text/plain\r\nContent-Length: 4\r\n\r\nabcd";
    batch += json_post(post_route, bkr::rr_test::accept_body("behind-415"), token, rid(2));
    bkr::test::raw_connection c(svc.port());
    const auto got = exchange(c.fd(), batch, 5s);
    CHECK(got.closed);
    const auto replies = parse_replies(got.received);
    REQUIRE(replies.size() == 1);
    check_error(replies[0], 415, "UnsupportedMediaType", "POST", post_route, {token});
    CHECK(replies[0].header("connection") == "close");
    CHECK(bkr::rr_test::message_count(svc.conninfo()) == 0);
  }

  SECTION("a complete request followed by garbage: the request is answered, then 400 and close") {
    const std::string batch =
        json_post(post_route, bkr::rr_test::accept_body("before-garbage"), token, rid(1)) +
        "\x01\x02garbage\r\n\r\n";
    bkr::test::raw_connection c(svc.port());
    const auto got = exchange(c.fd(), batch, 5s);
    CHECK(got.closed);
    const auto replies = parse_replies(got.received);
    REQUIRE(replies.size() == 2);
    CHECK(replies[0].status == 202);
    check_component_error(replies[1], 400, "BadRequest", "BadInput");
    CHECK(bkr::rr_test::message_count(svc.conninfo()) == 1);
  }

  check_still_serving(svc);
}

TEST_CASE("wrong methods, unknown routes, wrong media types and bad tokens get their documented JSON errors",
          "[fault][http][refusals]") {
  fault_service svc;
  const std::string token = dev_token();
  const std::string valid = bkr::rr_test::accept_body("refused");
  bkr::rr_test::http_connection conn(svc.port(), 10s);

  // 405 with Allow, for methods Beast knows and for ones it does not.
  for (const auto& [method, target, allow] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"GET", post_route, "POST"},
           {"PUT", post_route, "POST"},
           {"DELETE", post_route, "POST"},
           {"PATCH", post_route, "POST"},
           {"BREW", post_route, "POST"},
           {"POST", "/api/backup-requests/some-id", "GET"},
           {"DELETE", "/api/backup-requests/some-id", "GET"},
           {"GET", reply_route, "POST"}}) {
    INFO(method << " " << target);
    std::string request =
        method + " " + target + " HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " + token + "\r\n";
    if (method == "POST" || method == "PUT" || method == "PATCH")
      request += "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
    else
      request += "Connection: close\r\n\r\n";
    // A refused body is not read, so the server closes after answering: one connection each.
    const auto got = one_shot(svc, request);
    CHECK(got.closed);
    const auto replies = parse_replies(got.received);
    REQUIRE(replies.size() == 1);
    CHECK(replies[0].header("allow") == allow);
    check_component_error(replies[0], 405, "MethodNotAllowed", "MethodNotAllowed");
  }

  // HEAD: the answer is the header block alone. A body after it would be read as the start of the next
  // response on the kept-alive connection.
  {
    bkr::test::raw_connection c(svc.port());
    const auto got = exchange(c.fd(),
                              "HEAD /api/backup-requests HTTP/1.1\r\nHost: t\r\n\r\n"
                              "GET /nothing-here HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                              5s);
    CHECK(got.closed);
    const auto end = got.received.find("\r\n\r\n");
    REQUIRE(end != std::string::npos);
    CHECK_THAT(got.received.substr(0, end + 4), Catch::StartsWith("HTTP/1.1 405 ") &&
                                                    Catch::Contains("\r\nAllow: POST\r\n") &&
                                                    Catch::Contains("\r\nContent-Length: "));
    std::vector<reply> rest;
    REQUIRE_NOTHROW(rest = parse_replies(got.received.substr(end + 4)));
    REQUIRE(rest.size() == 1);
    check_component_error(rest[0], 404, "NotFound", "NotFound");
  }

  // 404 for paths with no route, whatever the method.
  for (const std::string& target :
       {std::string("/"), std::string("/api"), std::string("/api/"), std::string("/livez"),
        std::string("/metrics"), std::string("/API/backup-requests"), std::string("/api/backup-requests/a/b"),
        std::string("//api/backup-requests"), std::string("/api/backup-requests/../backup-requests"),
        std::string("/api/%62ackup-requests"), std::string("/api/\xff\xfe"),
        std::string("/") + std::string(2000, 'x')}) {
    INFO(target);
    const auto r = conn.request("GET", target, {{"Authorization", "Bearer " + token}});
    check_component_error(r, 404, "NotFound", "NotFound");
  }
  // A malformed or strange id is just an unknown request.
  for (const std::string& id : {std::string("%ff%fe"), std::string("%00"), std::string("%zz"),
                                std::string("%25"), std::string(200, 'i')}) {
    INFO("id " << id);
    const auto r = conn.request("GET", "/api/backup-requests/" + id, {{"Authorization", "Bearer " + token}});
    check_error(r, 404, "NotFound", "GET", get_route, {token});
  }

  // 415 for bodies that do not say they are UTF-8 JSON.
  for (const std::optional<std::string>& type :
       {std::optional<std::string>(), std::optional<std::string>("text/plain"),
        std::optional<std::string>("application/xml"), std::optional<std::string>("application/jsonx"),
        std::optional<std::string>("application/x-www-form-urlencoded"),
        std::optional<std::string>("multipart/form-data; boundary=x"),
        std::optional<std::string>("application/json; charset=latin1"),
        std::optional<std::string>("application/json; charset=utf-16"), std::optional<std::string>("")}) {
    INFO("Content-Type " << type.value_or("(none)"));
    bkr::rr_test::header_list headers{{"Authorization", "Bearer " + token}};
    if (type)
      headers.emplace_back("Content-Type", *type);
    // Each on its own connection: a refused body is not read, so the connection is closed after it.
    const auto r = bkr::rr_test::http_call(svc.port(), "POST", post_route, headers, valid);
    check_error(r, 415, "UnsupportedMediaType", "POST", post_route, {token});
  }

  // 401 for every kind of missing or broken credential, on every route.
  auto claims = bkr::rr_test::claims_for(bkr::rr_test::client_a);
  auto expired = claims;
  expired["exp"] = expired["iat"].get<long long>() - 3600;
  auto wrong_audience = claims;
  wrong_audience["aud"] = "someone-else";
  const std::string forged = bkr::rr_test::hs256_token(std::string(48, 's'), claims);
  const std::vector<std::pair<std::string, std::optional<std::string>>> credentials{
      {"none", std::nullopt},
      {"empty", ""},
      {"Bearer alone", "Bearer"},
      {"Bearer and a space", "Bearer "},
      {"Basic", "Basic YWxhZGRpbjpvcGVuc2VzYW1l"},
      {"garbage", "Bearer garbage"},
      {"three empty parts", "Bearer .."},
      {"non-base64 parts", "Bearer !!!.@@@.###"},
      {"invalid UTF-8", "Bearer \xff\xfe.\xc0\xaf.\xed\xa0\x80"},
      {"4 KiB of junk", "Bearer " + std::string(4096, 'A') + "." + std::string(1024, 'B') + ".C"},
      {"alg none", "Bearer " + bkr::rr_test::unsigned_token(claims)},
      {"wrong secret", "Bearer " + forged},
      {"tampered payload",
       "Bearer " + bkr::rr_test::tampered(token, bkr::rr_test::claims_for("admin-client"))},
      {"expired", "Bearer " + bkr::rr_test::hs256_token(dev_secret(), expired)},
      {"wrong audience", "Bearer " + bkr::rr_test::hs256_token(dev_secret(), wrong_audience)},
      {"an RS256 token when only HS256 is allowed",
       "Bearer " + bkr::rr_test::signed_token(bkr::rr_test::rsa_key(), claims)},
  };
  for (const auto& [name, value] : credentials) {
    INFO("credential: " << name);
    bkr::rr_test::header_list headers{{"Content-Type", "application/json"}};
    if (value)
      headers.emplace_back("Authorization", *value);
    std::vector<std::string> secrets{dev_secret()};
    if (value && value->size() > 8)
      secrets.push_back(value->substr(7));
    const auto post = conn.request("POST", post_route, headers, valid);
    check_error(post, 401, "Unauthorized", "POST", post_route, secrets);
    const auto reply_post = conn.request("POST", reply_route, headers, "{}");
    check_error(reply_post, 401, "Unauthorized", "POST", reply_route, secrets);
    const auto get = conn.request("GET", "/api/backup-requests/x", headers);
    check_error(get, 401, "Unauthorized", "GET", get_route, secrets);
  }

  // A request id made to break out of the JSON it is echoed in stays a plain string value.
  for (const std::string& rid : {std::string(R"("},"code":"Injected","x":{")"), std::string(R"(\u0000\")"),
                                 std::string("</script><script>")}) {
    INFO("X-Request-Id " << rid);
    const auto r = conn.request("GET", "/nothing-here", {{"X-Request-Id", rid}});
    check_component_error(r, 404, "NotFound", "NotFound");
    CHECK(r.header("x-request-id") == rid);
    CHECK(r.json().at("requestId") == rid);
  }

  // A valid token of a client without the scope is 403, not 401.
  const auto stranger = conn.request(
      "POST", post_route, bkr::rr_test::json_headers(dev_token(bkr::rr_test::unknown_client)), valid);
  check_error(stranger, 403, "Forbidden", "POST", post_route);

  CHECK(bkr::rr_test::message_count(svc.conninfo()) == 0);
  check_still_serving(svc);
  CHECK(bkr::rr_test::message_count(svc.conninfo()) == 1);
}
