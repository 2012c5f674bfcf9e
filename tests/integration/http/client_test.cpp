// The HTTP client against our own server over loopback: responses, keep-alive reuse, typed failures.
#include "raw_client.hpp"
#include "test_app.hpp"

#include "bkr/http/client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_future.hpp>
#include <catch2/catch.hpp>

#include <thread>

using namespace bkr;
using namespace bkr::test;
using namespace std::chrono_literals;

namespace {

std::string url(std::uint16_t port, const std::string& path) {
  return "http://127.0.0.1:" + std::to_string(port) + path;
}

/// A port where nothing listens: bound by the OS, then closed.
std::uint16_t closed_port() {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor a(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
  const auto port = a.local_endpoint().port();
  a.close();
  return port;
}

}  // namespace

TEST_CASE("GET and POST JSON return status, headers and body") {
  test_app app;
  http::blocking_client client;
  const auto r = client.get(url(app.port(), "/items/7"), {{"X-Request-Id", "from-client"}});
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  CHECK(nlohmann::json::parse(r->body)["id"] == "7");
  CHECK(r->headers.get("x-request-id") == "from-client");

  const auto p = client.post_json(url(app.port(), "/echo"), "{\"k\":\"v\"}");
  REQUIRE(p.has_value());
  CHECK(p->status == 200);
  CHECK(p->body == "{\"k\":\"v\"}");
  CHECK(p->headers.get("Content-Type") == "application/json");
}

TEST_CASE("error statuses are responses, not client errors") {
  test_app app;
  http::blocking_client client;
  const auto r = client.get(url(app.port(), "/nope"));
  REQUIRE(r.has_value());
  CHECK(r->status == 404);
  CHECK(nlohmann::json::parse(r->body)["code"] == "NotFound");
}

TEST_CASE("connections are kept alive and reused") {
  test_app app;
  http::blocking_client client;
  std::string first_remote;
  for (int i = 0; i < 5; ++i) {
    const auto r = client.get(url(app.port(), "/hello"));
    REQUIRE(r.has_value());
    const auto remote = nlohmann::json::parse(r->body)["remote"].get<std::string>();
    if (i == 0)
      first_remote = remote;
    CHECK(remote == first_remote);
  }
  CHECK(app.server->connection_count() == 1);
}

TEST_CASE("a pooled connection the server closed is replaced transparently") {
  http::server_options o;
  o.keep_alive_timeout = 100ms;
  test_app app(o);
  http::blocking_client client;
  REQUIRE(client.get(url(app.port(), "/hello")).has_value());
  REQUIRE(wait_until([&] { return app.server->connection_count() == 0; }, 3s));
  const auto r = client.get(url(app.port(), "/hello"));
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
}

TEST_CASE("nothing listening is connect_refused") {
  http::blocking_client client;
  const auto r = client.get(url(closed_port(), "/x"));
  REQUIRE(r.has_error());
  CHECK(r.error().code == make_error_code(http::client_errc::connect_refused));
  CHECK(r.error().message.find("connection refused") != std::string::npos);
  CHECK(http::is_transient(http::client_errc::connect_refused));
}

TEST_CASE("a response slower than the request timeout is a timeout") {
  test_app app;
  http::blocking_client client({.request_timeout = 200ms});
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = client.get(url(app.port(), "/slow"));
  const auto took = std::chrono::steady_clock::now() - t0;
  REQUIRE(r.has_error());
  CHECK(r.error().code == make_error_code(http::client_errc::timeout));
  CHECK(took >= 150ms);
  CHECK(took < 2s);
}

TEST_CASE("https and malformed URLs are refused without any I/O") {
  http::blocking_client client;
  const auto tls = client.get("https://127.0.0.1:1/x");
  REQUIRE(tls.has_error());
  CHECK(tls.error().code == make_error_code(http::client_errc::unsupported_scheme));
  CHECK_FALSE(http::is_transient(http::client_errc::unsupported_scheme));
  for (const char* bad : {"not a url", "/relative/path", "http://", "http://user@host/x"}) {
    const auto r = client.get(bad);
    REQUIRE(r.has_error());
    CHECK(r.error().code == make_error_code(http::client_errc::invalid_url));
  }
}

TEST_CASE("an unresolvable host name is resolve_failed") {
  http::blocking_client client({.connect_timeout = 500ms});
  const auto r = client.get("http://no-such-host.invalid/x");
  REQUIRE(r.has_error());
  const bool expected = r.error().code == make_error_code(http::client_errc::resolve_failed) ||
                        r.error().code == make_error_code(http::client_errc::connect_timeout);
  CHECK(expected);
}

TEST_CASE("the async client serves concurrent coroutines on a multi-threaded io_context") {
  test_app app;
  boost::asio::io_context ioc(2);
  http::client client(ioc.get_executor());
  std::vector<std::future<bkr::result<http::client_response>>> results;
  for (int i = 0; i < 20; ++i)
    results.push_back(boost::asio::co_spawn(ioc, client.get(url(app.port(), "/items/" + std::to_string(i))),
                                            boost::asio::use_future));
  std::thread t1([&] { ioc.run(); });
  std::thread t2([&] { ioc.run(); });
  for (int i = 0; i < 20; ++i) {
    auto r = results[static_cast<std::size_t>(i)].get();
    REQUIRE(r.has_value());
    CHECK(nlohmann::json::parse(r->body)["id"] == std::to_string(i));
  }
  t1.join();
  t2.join();
  CHECK(client.idle_connections() >= 1);
  CHECK(client.idle_connections() <= 8);
}
