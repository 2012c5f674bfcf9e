// The server over real loopback sockets: every error status as JSON, keep-alive, pipelining, timeouts,
// limits, the pre-handler hook, request ids, metrics and graceful stop.
#include "raw_client.hpp"
#include "test_app.hpp"

#include "bkr/common/ids.hpp"

#include <catch2/catch.hpp>

#include <future>
#include <thread>
#include <vector>

using namespace bkr;
using namespace bkr::test;
using namespace std::chrono_literals;

namespace {

void check_error_body(const http_reply& r, unsigned status, const std::string& code) {
  INFO("body: " << r.body);
  CHECK(r.status == status);
  CHECK(r.header("content-type") == "application/json");
  const auto body = r.json();
  CHECK(body["code"] == code);
  CHECK(body["message"].is_string());
  CHECK_FALSE(body["message"].get<std::string>().empty());
  CHECK(body["requestId"] == r.header("x-request-id"));
}

http_reply roundtrip(std::uint16_t port, const std::string& request) {
  raw_connection c(port);
  REQUIRE(c.send(request));
  auto r = c.read_response();
  REQUIRE(r.has_value());
  return *r;
}

}  // namespace

TEST_CASE("a request is answered with JSON and a generated request id") {
  test_app app;
  const auto r = roundtrip(app.port(), get_request("/hello?x=1"));
  CHECK(r.status == 200);
  CHECK(r.header("content-type") == "application/json");
  const auto body = r.json();
  CHECK(body["hello"] == "world");
  CHECK(body["query"] == "x=1");
  CHECK(bkr::uuid_v7_time(r.header("x-request-id")).has_value());
  CHECK(body["requestId"] == r.header("x-request-id"));
  CHECK(body["remote"].get<std::string>().rfind("127.0.0.1:", 0) == 0);
  CHECK_FALSE(r.has_header("traceparent"));
}

TEST_CASE("X-Request-Id and traceparent are accepted and echoed") {
  test_app app;
  const std::string tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  const auto r =
      roundtrip(app.port(), get_request("/hello", "X-Request-Id: my-id-42\r\ntraceparent: " + tp + "\r\n"));
  CHECK(r.header("x-request-id") == "my-id-42");
  CHECK(r.header("traceparent") == tp);
  CHECK(r.json()["traceId"] == "4bf92f3577b34da6a3ce929d0e0e4736");

  const auto only_tp = roundtrip(app.port(), get_request("/hello", "traceparent: " + tp + "\r\n"));
  CHECK(only_tp.header("x-request-id") == "4bf92f3577b34da6a3ce929d0e0e4736");

  const auto bad = roundtrip(app.port(), get_request("/hello", "X-Request-Id: " + std::string(200, 'a') +
                                                                   "\r\ntraceparent: 00-zz\r\n"));
  CHECK(bkr::uuid_v7_time(bad.header("x-request-id")).has_value());
  CHECK_FALSE(bad.has_header("traceparent"));

  // Sent twice, neither names the request: it gets an id of its own and a new trace.
  const std::string tp2 = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  const auto twice = roundtrip(app.port(), get_request("/hello",
                                                       "X-Request-Id: first\r\nX-Request-Id: second\r\n"
                                                       "traceparent: " +
                                                           tp + "\r\ntraceparent: " + tp2 + "\r\n"));
  CHECK(twice.status == 200);
  CHECK(bkr::uuid_v7_time(twice.header("x-request-id")).has_value());
  CHECK_FALSE(twice.has_header("traceparent"));
  CHECK(twice.json()["traceId"] == twice.header("x-request-id"));  // not one of the traceparents
}

TEST_CASE("path parameters reach the handler") {
  test_app app;
  const auto r = roundtrip(app.port(), get_request("/items/abc%20def"));
  CHECK(r.status == 200);
  CHECK(r.json()["id"] == "abc def");
  CHECK(r.json()["route"] == "/items/{id}");
}

TEST_CASE("404 for an unknown path and 405 with Allow for a known path, as JSON") {
  test_app app;
  const auto nf = roundtrip(app.port(), get_request("/nope"));
  check_error_body(nf, 404, "NotFound");

  const auto na = roundtrip(app.port(), "PUT /items/1 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
  check_error_body(na, 405, "MethodNotAllowed");
  CHECK(na.header("allow") == "GET, DELETE");

  const auto unknown_verb = roundtrip(app.port(), "BREW /hello HTTP/1.1\r\nHost: t\r\n\r\n");
  check_error_body(unknown_verb, 405, "MethodNotAllowed");
  CHECK(unknown_verb.header("allow") == "GET");
}

TEST_CASE("a malformed request gets 400 JSON and the connection is closed") {
  test_app app;
  raw_connection c(app.port());
  REQUIRE(c.send("GET /hello HTTP/1.1\r\nHost: t\r\nBad Header Without Colon\r\n\r\n"));
  const auto r = c.read_response();
  REQUIRE(r.has_value());
  check_error_body(*r, 400, "BadRequest");
  CHECK(r->header("connection") == "close");
  CHECK(c.wait_closed(3s));

  const auto absolute = roundtrip(app.port(), "GET http://example.com/hello HTTP/1.1\r\nHost: t\r\n\r\n");
  check_error_body(absolute, 400, "BadRequest");
}

TEST_CASE("a POST without Content-Length gets 411, and so does a chunked body") {
  test_app app;
  const auto no_length =
      roundtrip(app.port(), "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\r\n");
  check_error_body(no_length, 411, "LengthRequired");

  raw_connection c(app.port());
  REQUIRE(c.send(
      "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
      "\r\n2\r\n{}\r\n0\r\n\r\n"));
  const auto chunked = c.read_response();
  REQUIRE(chunked.has_value());
  check_error_body(*chunked, 411, "LengthRequired");
  CHECK(chunked->header("connection") == "close");
}

TEST_CASE("a body over the limit gets 413 before the server reads it, then the connection closes") {
  test_app app;
  raw_connection c(app.port());
  // Announce 10 MB but send only 4 KiB: the answer must come without the rest.
  REQUIRE(
      c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: "
             "10000000\r\n\r\n"));
  REQUIRE(c.send(std::string(4096, 'x')));
  const auto r = c.read_response(3s);
  REQUIRE(r.has_value());
  check_error_body(*r, 413, "PayloadTooLarge");
  CHECK(r->header("connection") == "close");
  CHECK(c.wait_closed(3s));
}

TEST_CASE("a route's own body limit applies") {
  test_app app;
  const auto ok = roundtrip(app.port(), post_request("/small", std::string(100, ' ')));
  CHECK(ok.status == 200);
  const auto over = roundtrip(app.port(), post_request("/small", std::string(101, ' ')));
  check_error_body(over, 413, "PayloadTooLarge");
  // 16 KiB is the default limit: exactly at the limit passes.
  const auto at_default = roundtrip(app.port(), post_request("/echo", std::string(16 * 1024, ' ')));
  CHECK(at_default.status == 200);
  CHECK(at_default.body.size() == 16 * 1024);
}

TEST_CASE("JSON routes refuse other content types with 415 and accept JSON with a charset") {
  test_app app;
  check_error_body(roundtrip(app.port(), post_request("/echo", "{}", "text/plain")), 415,
                   "UnsupportedMediaType");
  check_error_body(roundtrip(app.port(), "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}"),
                   415, "UnsupportedMediaType");
  const auto ok =
      roundtrip(app.port(), post_request("/echo", "{\"a\":1}", "application/json; charset=utf-8"));
  CHECK(ok.status == 200);
  CHECK(ok.body == "{\"a\":1}");
  CHECK(ok.header("x-route") == "/echo");
  // A route without a JSON declaration takes anything.
  CHECK(roundtrip(app.port(), post_request("/raw", "plain", "text/plain")).status == 200);
}

TEST_CASE("headers over the limit get 431") {
  test_app app;
  raw_connection c(app.port());
  std::string flood = "GET /hello HTTP/1.1\r\nHost: t\r\n";
  for (int i = 0; i < 200; ++i)
    flood += "X-Flood-" + std::to_string(i) + ": " + std::string(100, 'v') + "\r\n";
  flood += "\r\n";
  c.send(flood);  // the server may close before reading it all
  const auto r = c.read_response(3s);
  REQUIRE(r.has_value());
  check_error_body(*r, 431, "RequestHeaderFieldsTooLarge");
}

TEST_CASE("a throwing handler gets 500 with a generic message, the details go to the log") {
  test_app app;
  const auto r = roundtrip(app.port(), get_request("/throw"));
  check_error_body(r, 500, "Internal");
  CHECK(r.body.find("secret") == std::string::npos);
  CHECK(r.body.find("db.internal") == std::string::npos);
  CHECK(wait_until([&] { return app.log_text().find("secret internal detail") != std::string::npos; }, 2s));

  const auto u = roundtrip(app.port(), get_request("/infra"));
  check_error_body(u, 503, "Unavailable");
  CHECK(u.header("retry-after") == "1");
  CHECK(u.body.find("db.internal") == std::string::npos);
}

TEST_CASE("the pre-handler authenticates, short-circuits with 401 or 403, and hands the principal on") {
  test_app app;
  check_error_body(roundtrip(app.port(), get_request("/guarded")), 401, "Unauthorized");
  const auto bad = roundtrip(app.port(), get_request("/guarded", "Authorization: Bearer nope\r\n"));
  check_error_body(bad, 401, "Unauthorized");
  CHECK(bad.json()["message"] == "invalid token");
  check_error_body(roundtrip(app.port(), get_request("/guarded", "Authorization: Bearer other\r\n")), 403,
                   "Forbidden");
  const auto ok = roundtrip(app.port(), get_request("/guarded", "Authorization: Bearer good\r\n"));
  CHECK(ok.status == 200);
  CHECK(ok.json()["subject"] == "client-a");
}

TEST_CASE("keep-alive serves several requests over one connection") {
  test_app app;
  raw_connection c(app.port());
  std::string remote;
  for (int i = 0; i < 5; ++i) {
    REQUIRE(c.send(get_request("/hello")));
    const auto r = c.read_response();
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(r->header("connection") != "close");
    const auto this_remote = r->json()["remote"].get<std::string>();
    if (i == 0)
      remote = this_remote;
    CHECK(this_remote == remote);
  }
  CHECK(app.server->connection_count() == 1);
}

TEST_CASE("HTTP/1.0 without keep-alive is answered and closed") {
  test_app app;
  raw_connection c(app.port());
  REQUIRE(c.send("GET /hello HTTP/1.0\r\n\r\n"));
  const auto r = c.read_response();
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  CHECK(c.wait_closed(2s));
}

TEST_CASE("pipelined requests are answered in order") {
  test_app app;
  raw_connection c(app.port());
  std::string batch;
  for (int i = 1; i <= 5; ++i)
    batch += get_request("/items/" + std::to_string(i), "X-Request-Id: p" + std::to_string(i) + "\r\n");
  batch += post_request("/echo", "{\"n\":6}");
  batch += get_request("/nope");
  REQUIRE(c.send(batch));
  for (int i = 1; i <= 5; ++i) {
    const auto r = c.read_response();
    REQUIRE(r.has_value());
    CHECK(r->json()["id"] == std::to_string(i));
    CHECK(r->header("x-request-id") == "p" + std::to_string(i));
  }
  const auto echoed = c.read_response();
  REQUIRE(echoed.has_value());
  CHECK(echoed->body == "{\"n\":6}");
  const auto nf = c.read_response();
  REQUIRE(nf.has_value());
  CHECK(nf->status == 404);
}

TEST_CASE("Expect: 100-continue gets an interim response before the body is sent") {
  test_app app;
  raw_connection c(app.port());
  REQUIRE(
      c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
             "Expect: 100-continue\r\n\r\n"));
  // The interim response arrives while the body is still unsent.
  pollfd p{c.fd(), POLLIN, 0};
  REQUIRE(::poll(&p, 1, 3000) == 1);
  REQUIRE(c.send("{}"));
  const auto r = c.read_response();
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  CHECK(r->body == "{}");
}

TEST_CASE("a client sending one byte at a time is cut off while others are served") {
  http::server_options o;
  o.header_timeout = 300ms;
  test_app app(o);

  std::promise<std::chrono::milliseconds> cut_after;
  std::thread slow([&] {
    raw_connection c(app.port());
    const auto start = std::chrono::steady_clock::now();
    const std::string request =
        "GET /hello HTTP/1.1\r\nHost: t\r\nX-Long: " + std::string(400, 'a') + "\r\n\r\n";
    for (char ch : request) {
      if (!c.send(std::string_view(&ch, 1)))
        break;
      pollfd p{c.fd(), POLLIN, 0};
      if (::poll(&p, 1, 50) == 1)
        break;  // the server closed (or answered, which would be a failure below)
    }
    const bool closed = c.wait_closed(5s);
    const auto elapsed =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    cut_after.set_value(closed ? elapsed : std::chrono::milliseconds::max());
  });

  // Meanwhile other clients are served promptly.
  for (int i = 0; i < 10; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = roundtrip(app.port(), get_request("/hello"));
    CHECK(r.status == 200);
    CHECK(std::chrono::steady_clock::now() - t0 < 250ms);
  }
  auto f = cut_after.get_future();
  const auto elapsed = f.get();
  slow.join();
  // Sending the whole request would take about 20 s; the header timeout closes it after ~300 ms.
  CHECK(elapsed >= 250ms);
  CHECK(elapsed < 3s);
}

TEST_CASE("an idle keep-alive connection is closed after the keep-alive timeout") {
  http::server_options o;
  o.keep_alive_timeout = 200ms;
  test_app app(o);
  raw_connection c(app.port());
  REQUIRE(c.send(get_request("/hello")));
  REQUIRE(c.read_response().has_value());
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(c.wait_closed(3s));
  CHECK(std::chrono::steady_clock::now() - t0 >= 150ms);
}

TEST_CASE("over max_connections new connections get 503") {
  http::server_options o;
  o.max_connections = 2;
  test_app app(o);
  raw_connection a(app.port());
  raw_connection b(app.port());
  REQUIRE(wait_until([&] { return app.server->connection_count() == 2; }));
  raw_connection c(app.port());
  const auto r = c.read_response(3s);
  REQUIRE(r.has_value());
  check_error_body(*r, 503, "Unavailable");
  CHECK(c.wait_closed(3s));
  // The first two still work.
  REQUIRE(a.send(get_request("/hello")));
  CHECK(a.read_response()->status == 200);
}

TEST_CASE("requests are counted by route template, method and status, with latency") {
  test_app app;
  roundtrip(app.port(), get_request("/items/1"));
  roundtrip(app.port(), get_request("/items/2"));
  roundtrip(app.port(), get_request("/nope"));
  roundtrip(app.port(), post_request("/echo", "{}", "text/plain"));
  const auto text = app.registry.expose();
  INFO(text);
  CHECK(text.find("bkr_http_requests_total{route=\"/items/{id}\",method=\"GET\",status=\"200\"} 2\n") !=
        std::string::npos);
  CHECK(text.find("bkr_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1\n") !=
        std::string::npos);
  CHECK(text.find("bkr_http_requests_total{route=\"/echo\",method=\"POST\",status=\"415\"} 1\n") !=
        std::string::npos);
  CHECK(text.find("bkr_http_request_duration_seconds_count{route=\"/items/{id}\",method=\"GET\"} 2\n") !=
        std::string::npos);
  CHECK(text.find("# TYPE bkr_http_connections gauge") != std::string::npos);
}

TEST_CASE("graceful stop finishes a request in flight, closes idle connections and refuses new ones") {
  test_app app;
  const auto port = app.port();

  raw_connection idle(port);
  REQUIRE(idle.send(get_request("/hello")));
  REQUIRE(idle.read_response().has_value());

  raw_connection busy(port);
  REQUIRE(busy.send(get_request("/slow")));
  REQUIRE(wait_until([&] { return app.slow_gate->entered.load() == 1; }));

  auto stopping = std::async(std::launch::async, [&] { app.server->stop(10s); });
  REQUIRE(wait_until([&] { return app.server->draining(); }));

  CHECK(idle.wait_closed(3s));
  CHECK(wait_until([&] { return try_connect(port) == ECONNREFUSED; }, 3s));
  CHECK(stopping.wait_for(100ms) == std::future_status::timeout);  // still draining the slow request

  app.slow_gate->released = true;
  const auto r = busy.read_response(5s);
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  CHECK(r->json()["slow"] == "done");
  CHECK(r->header("connection") == "close");
  CHECK(busy.wait_closed(3s));
  CHECK(stopping.wait_for(5s) == std::future_status::ready);
}

TEST_CASE("stop cancels requests still in flight at the drain deadline") {
  test_app app;
  raw_connection busy(app.port());
  REQUIRE(busy.send(get_request("/slow")));
  REQUIRE(wait_until([&] { return app.slow_gate->entered.load() == 1; }));
  const auto t0 = std::chrono::steady_clock::now();
  app.server->stop(200ms);
  const auto took = std::chrono::steady_clock::now() - t0;
  CHECK(took >= 150ms);
  CHECK(took < 2s);
  CHECK(busy.wait_closed(2s));
  CHECK(app.server->connection_count() == 0);
}

TEST_CASE("with reuse_port several servers share one port and each is given connections") {
  const auto served = [](metrics::registry& r) {
    return r.expose().find("bkr_http_requests_total{route=\"/hello\",method=\"GET\",status=\"200\"}") !=
           std::string::npos;
  };
  metrics::registry first_registry;
  metrics::registry second_registry;
  const auto quiet = [] { return bkr::logger("http-test", spdlog::level::off); };
  http::server first({.reuse_port = true}, test_routes(std::make_shared<gate>()), first_registry, quiet());
  first.start();
  const auto port = first.port();

  // Without the option, a second listener on the port in use is refused with the port named.
  {
    metrics::registry r;
    http::server plain({.port = port}, test_routes(std::make_shared<gate>()), r, quiet());
    try {
      plain.start();
      FAIL("a second listener without reuse_port started");
    } catch (const std::exception& e) {
      CHECK(std::string(e.what()).find("cannot listen on 127.0.0.1:" + std::to_string(port)) !=
            std::string::npos);
    }
  }

  http::server second({.port = port, .reuse_port = true}, test_routes(std::make_shared<gate>()),
                      second_registry, quiet());
  second.start();
  CHECK(second.port() == port);
  // The kernel spreads new connections by their source port's hash: a few dozen reach both.
  for (int i = 0; i < 200 && !(served(first_registry) && served(second_registry)); ++i)
    CHECK(roundtrip(port, get_request("/hello", "Connection: close\r\n")).status == 200);
  CHECK(served(first_registry));
  CHECK(served(second_registry));
  second.stop(1s);
  first.stop(1s);
}
