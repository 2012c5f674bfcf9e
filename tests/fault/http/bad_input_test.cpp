// Bad bodies against the real binary: malformed, truncated and non-UTF-8 JSON, bodies over the limit,
// missing lengths and chunked bodies (with a request smuggled inside).
#include "fault_support.hpp"
#include "openapi_contract.hpp"
#include "queue_rows.hpp"

#include <catch2/catch.hpp>

#include <sys/socket.h>

#include <sstream>

using namespace bkr::fault_test;
using namespace std::chrono_literals;
using bkr::rr_test::reply;

namespace {

// A valid accept body with its backupDataLocation (or backupJobId) given as raw JSON text.
std::string body_with_location(std::string_view raw_json_string) {
  return R"({"apiVersion":"2022-05-22","backupJobId":"job-1","dataDate":"2026-01-15","backupDataLocation":)" +
         std::string(raw_json_string) + "}";
}

std::string body_with_job(std::string_view raw_json_string) {
  return R"({"apiVersion":"2022-05-22","backupJobId":)" + std::string(raw_json_string) +
         R"(,"dataDate":"2026-01-15","backupDataLocation":"/d"})";
}

struct bad_body {
  std::string name;
  std::string body;
  std::string code;
};

std::vector<bad_body> bad_accept_bodies() {
  const std::string valid = bkr::rr_test::accept_body();
  std::vector<bad_body> cases{
      {"not JSON at all", "hello, world", "InvalidJson"},
      {"empty body", "", "InvalidJson"},
      {"only whitespace", " \r\n\t ", "InvalidJson"},
      {"JSON null", "null", "InvalidJson"},
      {"an array", R"([{"apiVersion":"2022-05-22"}])", "InvalidJson"},
      {"a string", R"("2022-05-22")", "InvalidJson"},
      {"unbalanced object", valid.substr(0, valid.size() - 1), "InvalidJson"},
      {"cut inside a string", valid.substr(0, valid.find("job-1") + 2), "InvalidJson"},
      {"trailing garbage", valid + "}}", "InvalidJson"},
      {"two objects", valid + valid, "InvalidJson"},
      {"single quotes", "{'apiVersion':'2022-05-22'}", "InvalidJson"},
      {"trailing comma", valid.substr(0, valid.size() - 1) + ",}", "InvalidJson"},
      {"a comment", "/* c */" + valid, "InvalidJson"},
      {"a raw NUL byte", std::string("{\0}", 3), "InvalidJson"},
      {"8,000 nested arrays", std::string(8000, '[') + std::string(8000, ']'), "InvalidJson"},
      {"2,500 nested objects (well-formed, no apiVersion)",
       [] {
         std::string s;
         for (int i = 0; i < 2500; ++i)
           s += "{\"a\":";
         return s + "1" + std::string(2500, '}');
       }(),
       "InvalidApiVersion"},
      // Invalid UTF-8 inside string fields: the JSON itself is ill-formed.
      {"byte 0xFF in backupDataLocation", body_with_location("\"/data/\xFF\""), "InvalidJson"},
      {"overlong '/' (C0 AF) in backupDataLocation", body_with_location("\"/data\xC0\xAF\""), "InvalidJson"},
      {"UTF-8 encoded surrogate (ED A0 80)", body_with_location("\"/data/\xED\xA0\x80\""), "InvalidJson"},
      {"truncated 3-byte sequence", body_with_location("\"/data/\xE2\x82\""), "InvalidJson"},
      {"continuation byte alone in backupJobId", body_with_job("\"job\x80\""), "InvalidJson"},
      {"code point above U+10FFFF (F4 90 80 80)", body_with_location("\"/\xF4\x90\x80\x80\""), "InvalidJson"},
      {"lone high surrogate escape", body_with_location(R"("/data/\ud800")"), "InvalidJson"},
      {"lone low surrogate escape", body_with_location(R"("/data/\udc00x")"), "InvalidJson"},
      {"invalid UTF-8 in an unknown field", valid.substr(0, valid.size() - 1) + ",\"x\":\"\xFE\xFF\"}",
       "InvalidJson"},
      // Well-formed JSON whose strings break the field rules.
      {"escaped NUL in backupDataLocation", body_with_location(R"("/data/\u0000/x")"), "BadData"},
      {"C1 control in backupDataLocation", body_with_location(R"("/data/\u0085")"), "BadData"},
      {"newline in backupDataLocation", body_with_location(R"("/data/\n")"), "BadData"},
      {"non-ASCII in backupJobId", body_with_job("\"j\xC3\xA9\""), "BadData"},
      {"escaped NUL in backupJobId", body_with_job(R"("j\u0000")"), "BadData"},
      {"backupJobId an object", body_with_job(R"({"$gt":""})"), "BadData"},
      {"backupJobId of 51 characters", body_with_job("\"" + std::string(51, 'j') + "\""), "BadData"},
      {"backupDataLocation of 251 characters", body_with_location("\"" + std::string(251, 'l') + "\""),
       "BadData"},
      {"apiVersion with a NUL", R"({"apiVersion":"2022-05-22\u0000","backupJobId":"j"})",
       "InvalidApiVersion"},
      {"apiVersion a number", R"({"apiVersion":20220522})", "InvalidApiVersion"},
  };
  return cases;
}

}  // namespace

TEST_CASE(
    "malformed, cut and non-UTF-8 JSON bodies are 400 with a documented JSON error and nothing is enqueued",
    "[fault][http][json]") {
  fault_service svc;
  const std::string token = dev_token();
  // All on one keep-alive connection: after each 400 the server is back in step for the next request.
  bkr::rr_test::http_connection conn(svc.port(), 10s);
  int n = 0;
  for (const auto& c : bad_accept_bodies()) {
    INFO(c.name);
    const std::string rid = "bad-json-" + std::to_string(++n);
    const auto r =
        conn.request("POST", post_route, bkr::rr_test::json_headers(token, {{"X-Request-Id", rid}}), c.body);
    check_error(r, 400, c.code, "POST", post_route, {token});
    CHECK(r.header("x-request-id") == rid);
  }

  // The store status intake parses with the same rules.
  const std::string interface_token = dev_token(bkr::rr_test::interface_client);
  const std::string reply_ok =
      R"({"apiVersion":"2022-08-15","backupRequestId":"r-1","resultTypeCode":"Failed","messageText":)";
  const std::vector<bad_body> bad_replies{
      {"not JSON", "{{{", "InvalidJson"},
      {"invalid UTF-8 in messageText", reply_ok + "\"disk \xFF full\"}", "InvalidJson"},
      {"lone surrogate in messageText", reply_ok + R"("\udbff")" + "}", "InvalidJson"},
      {"escaped NUL in messageText", reply_ok + R"("a\u0000b")" + "}", "BadData"},
      {"escaped ESC in messageText", reply_ok + R"("\u001b[31m")" + "}", "BadData"},
  };
  for (const auto& c : bad_replies) {
    INFO(c.name);
    const auto r = conn.request("POST", reply_route, bkr::rr_test::json_headers(interface_token), c.body);
    check_error(r, 400, c.code, "POST", reply_route, {interface_token});
  }

  CHECK(bkr::rr_test::message_count(svc.conninfo()) == 0);
  // The same connection still serves a valid request.
  const auto ok = conn.request("POST", post_route, bkr::rr_test::json_headers(token),
                               bkr::rr_test::accept_body("same-connection"));
  CHECK(ok.status == 202);
  check_still_serving(svc);
  CHECK(bkr::rr_test::message_count(svc.conninfo()) == 2);
}

TEST_CASE(
    "a body cut short (Content-Length larger than what is sent) is dropped without an answer or a message",
    "[fault][http][truncated]") {
  fault_service svc;
  const std::string token = dev_token();
  const std::string body = bkr::rr_test::accept_body("truncated");
  const std::string head =
      "POST /api/backup-requests HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " + token +
      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size() + 40) +
      "\r\n\r\n";

  SECTION("the client half-closes: the server sees the end of the stream and closes at once") {
    bkr::test::raw_connection c(svc.port());
    REQUIRE(c.send(head + body));  // a complete, valid JSON object, but 40 bytes short of the length
    ::shutdown(c.fd(), SHUT_WR);
    const auto t0 = std::chrono::steady_clock::now();
    const auto got = exchange(c.fd(), "", 8s);
    CHECK(got.closed);
    CHECK(got.received.empty());                        // nobody to answer
    CHECK(std::chrono::steady_clock::now() - t0 < 3s);  // not the 10 s body timeout
  }

  SECTION("200 clients send part of a body and vanish; every connection is released") {
    const double before = api_connections(svc);
    std::vector<std::unique_ptr<bkr::test::raw_connection>> conns;
    for (int i = 0; i < 200; ++i) {
      conns.push_back(std::make_unique<bkr::test::raw_connection>(svc.port()));
      REQUIRE(conns.back()->send(head + body.substr(0, static_cast<std::size_t>(i) % body.size())));
    }
    conns.clear();  // closed (reset or FIN) mid-body
    CHECK(wait_api_connections_at_most(svc, before, 5s));
  }

  CHECK(bkr::rr_test::message_count(svc.conninfo()) == 0);
  check_still_serving(svc);
  CHECK(bkr::rr_test::message_count(svc.conninfo()) == 1);
}

TEST_CASE(
    "a body over the limit is 413 before it is read, then the connection closes, while the limit itself is "
    "fine",
    "[fault][http][limit]") {
  fault_service svc;
  const std::string token = dev_token();
  constexpr std::size_t limit = 16 * 1024;

  SECTION("exactly the limit is accepted") {
    auto body = nlohmann::json::parse(bkr::rr_test::accept_body("at-the-limit"));
    body["padding"] = "";
    const std::size_t base = body.dump().size();
    body["padding"] = std::string(limit - base, 'p');
    const std::string text = body.dump();
    REQUIRE(text.size() == limit);
    const auto r =
        bkr::rr_test::http_call(svc.port(), "POST", post_route, bkr::rr_test::json_headers(token), text);
    CHECK(r.status == 202);
    CHECK(bkr::rr_test::message_count(svc.conninfo()) == 1);
  }

  SECTION("announced lengths over the limit are answered without sending a byte of the body") {
    for (const std::string& length : {std::to_string(limit + 1), std::string("10000000"),
                                      std::string("10737418240"), std::string("18446744073709551615")}) {
      INFO("Content-Length: " << length);
      bkr::test::raw_connection c(svc.port());
      const std::string head = "POST /api/backup-requests HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " +
                               token + "\r\nContent-Type: application/json\r\nContent-Length: " + length +
                               "\r\n\r\n";
      const auto got = exchange(c.fd(), head, 5s, 1);
      const auto replies = parse_replies(got.received);
      REQUIRE(replies.size() == 1);
      check_error(replies[0], 413, "PayloadTooLarge", "POST", post_route, {token});
      CHECK(replies[0].header("connection") == "close");
      CHECK(exchange(c.fd(), "", 5s).closed);
    }
  }

  SECTION("a client that pushes 64 MiB anyway gets its 413 and is cut off, on both JSON routes") {
    for (const char* route : {post_route, reply_route}) {
      INFO(route);
      bkr::test::raw_connection c(svc.port());
      // More than loopback socket buffers can hold (tcp_rmem + tcp_wmem maxima, 36 MiB here): 4 MiB once fit
      // in them entirely, so "sent less than the body" depended on the kernel's buffer sizes.
      const std::string body(64 * 1024 * 1024, 'x');
      const auto t0 = std::chrono::steady_clock::now();
      const auto got =
          exchange(c.fd(), json_post(route, body, dev_token(bkr::rr_test::interface_client)), 10s);
      const auto replies = parse_replies(got.received);
      REQUIRE(replies.size() == 1);
      check_error(replies[0], 413, "PayloadTooLarge", "POST", route);
      CHECK(got.closed);
      CHECK(got.sent < body.size());  // the server stopped reading: a bounded amount was drained
      CHECK(std::chrono::steady_clock::now() - t0 < 5s);
    }
  }

  SECTION("malformed or ambiguous lengths are 400 and the connection is closed") {
    for (const std::string& lengths :
         {std::string("Content-Length: abc\r\n"), std::string("Content-Length: -1\r\n"),
          std::string("Content-Length: 99999999999999999999999\r\n"), std::string("Content-Length: 1 2\r\n"),
          std::string("Content-Length: 10\r\nContent-Length: 20\r\n")}) {
      INFO(lengths);
      bkr::test::raw_connection c(svc.port());
      const std::string request = "POST /api/backup-requests HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " +
                                  token + "\r\nContent-Type: application/json\r\n" + lengths + "\r\n{}";
      const auto got = exchange(c.fd(), request, 5s);
      CHECK(got.closed);
      const auto replies = parse_replies(got.received);
      REQUIRE(replies.size() == 1);
      check_component_error(replies[0], 400, "BadRequest", "BadInput");
    }
  }

  const auto before = bkr::rr_test::message_count(svc.conninfo());
  check_still_serving(svc);
  CHECK(bkr::rr_test::message_count(svc.conninfo()) == before + 1);
}

TEST_CASE(
    "a POST without Content-Length is 411, chunked bodies are refused, and a request smuggled in one never "
    "runs",
    "[fault][http][length]") {
  fault_service svc;
  const std::string token = dev_token();
  const std::string auth = "Authorization: Bearer " + token + "\r\n";
  const std::string valid = bkr::rr_test::accept_body("smuggled");

  SECTION("no Content-Length") {
    bkr::test::raw_connection c(svc.port());
    const auto got = exchange(
        c.fd(),
        "POST /api/backup-requests HTTP/1.1\r\nHost: t\r\n" + auth + "Content-Type: application/json\r\n\r\n",
        5s, 1);
    const auto replies = parse_replies(got.received);
    REQUIRE(replies.size() == 1);
    check_error(replies[0], 411, "LengthRequired", "POST", post_route, {token});
  }

  SECTION("a chunked body carrying a second, valid request") {
    const std::string smuggled = json_post(post_route, valid, token);
    std::ostringstream chunk;
    chunk << std::hex << smuggled.size();
    bkr::test::raw_connection c(svc.port());
    const auto got = exchange(c.fd(),
                              "POST /api/backup-requests HTTP/1.1\r\nHost: t\r\n" + auth +
                                  "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
                                  chunk.str() + "\r\n" + smuggled + "\r\n0\r\n\r\n",
                              5s);
    CHECK(got.closed);
    const auto replies = parse_replies(got.received);
    REQUIRE(replies.size() == 1);  // one answer: the chunk's content was never read as a request
    check_error(replies[0], 411, "LengthRequired", "POST", post_route, {token});
    CHECK(replies[0].header("connection") == "close");
  }

  SECTION("Transfer-Encoding and Content-Length together") {
    for (const std::string& te :
         {std::string("chunked"), std::string("gzip, chunked"), std::string("identity")}) {
      INFO("Transfer-Encoding: " << te);
      bkr::test::raw_connection c(svc.port());
      const std::string smuggled = json_post(post_route, valid, token);
      const auto got =
          exchange(c.fd(),
                   "POST /api/backup-requests HTTP/1.1\r\nHost: t\r\n" + auth +
                       "Content-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: " + te +
                       "\r\n\r\n0\r\n\r\n" + smuggled,
                   5s);
      CHECK(got.closed);
      const auto replies = parse_replies(got.received);
      REQUIRE(replies.size() == 1);
      CHECK((replies[0].status == 400 || replies[0].status == 411));
      check_error(replies[0], replies[0].status, replies[0].status == 400 ? "BadRequest" : "LengthRequired",
                  "POST", post_route, {token});
    }
  }

  CHECK(bkr::rr_test::message_count(svc.conninfo()) == 0);
  check_still_serving(svc);
  CHECK(bkr::rr_test::message_count(svc.conninfo()) == 1);
}
