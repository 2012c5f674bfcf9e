// Router: exact and templated paths, 404 versus 405 with Allow, precedence and template validation.
#include "bkr/http/router.hpp"

#include <catch2/catch.hpp>

#include <stdexcept>

using namespace bkr::http;

namespace {

boost::asio::awaitable<response> ok(request) {
  co_return response::json(200, {});
}

router sample() {
  router r;
  r.add(method::post, "/api/backup-requests", &ok, {.json_body = true});
  r.add(method::get, "/api/backup-requests/{id}", &ok);
  r.add(method::get, "/api/backup-requests/special", &ok);
  r.add(method::put, "/api/things/{a}/parts/{b}", &ok);
  r.add(method::get, "/", &ok);
  return r;
}

}  // namespace

TEST_CASE("an exact path and method is found") {
  const auto r = sample();
  const auto m = r.match(method::post, "/api/backup-requests");
  REQUIRE(m.kind == match_kind::found);
  CHECK(m.route->path_template == "/api/backup-requests");
  CHECK(m.route->options.json_body);
  CHECK(m.params.size() == 0);
}

TEST_CASE("an unknown path is not found") {
  const auto r = sample();
  CHECK(r.match(method::get, "/nope").kind == match_kind::not_found);
  CHECK(r.match(method::get, "/api").kind == match_kind::not_found);
  CHECK(r.match(method::post, "/api/backup-requests/x/y").kind == match_kind::not_found);
  CHECK(r.match(method::post, "/api/backup-requests/").kind == match_kind::not_found);  // trailing slash
  CHECK(r.match(method::get, "").kind == match_kind::not_found);
  CHECK(r.match(method::get, "api").kind == match_kind::not_found);
}

TEST_CASE("a known path with another method is 405 with the allowed methods") {
  const auto r = sample();
  const auto m = r.match(method::get, "/api/backup-requests");
  CHECK(m.kind == match_kind::method_not_allowed);
  CHECK(m.allow == "POST");
  CHECK(m.route == nullptr);

  const auto d = r.match(method::del, "/api/backup-requests/123");
  CHECK(d.kind == match_kind::method_not_allowed);
  CHECK(d.allow == "GET");

  CHECK(r.match(method::other, "/").kind == match_kind::method_not_allowed);
}

TEST_CASE("Allow lists every method of every matching template once, in a fixed order") {
  router r;
  r.add(method::post, "/x/{id}", &ok);
  r.add(method::get, "/x/{id}", &ok);
  r.add(method::del, "/x/fixed", &ok);
  const auto m = r.match(method::put, "/x/fixed");
  REQUIRE(m.kind == match_kind::method_not_allowed);
  CHECK(m.allow == "GET, POST, DELETE");
}

TEST_CASE("path parameters are captured and percent-decoded") {
  const auto r = sample();
  const auto m = r.match(method::get, "/api/backup-requests/0190a1b2-0000-7000-8000-000000000001");
  REQUIRE(m.kind == match_kind::found);
  CHECK(m.route->path_template == "/api/backup-requests/{id}");
  CHECK(m.params.get("id") == "0190a1b2-0000-7000-8000-000000000001");
  CHECK(m.params.get("missing").empty());

  const auto two = r.match(method::put, "/api/things/a%20b/parts/c%2Fd");
  REQUIRE(two.kind == match_kind::found);
  CHECK(two.params.get("a") == "a b");
  CHECK(two.params.get("b") == "c/d");

  CHECK(r.match(method::put, "/api/things/%zz/parts/1").kind == match_kind::not_found);
  CHECK(r.match(method::put, "/api/things//parts/1").kind == match_kind::not_found);  // empty parameter
}

TEST_CASE("a literal segment wins over a parameter") {
  const auto r = sample();
  const auto m = r.match(method::get, "/api/backup-requests/special");
  REQUIRE(m.kind == match_kind::found);
  CHECK(m.route->path_template == "/api/backup-requests/special");
}

TEST_CASE("the root path is a route of its own") {
  const auto r = sample();
  CHECK(r.match(method::get, "/").kind == match_kind::found);
}

TEST_CASE("malformed or clashing templates are refused") {
  router r;
  CHECK_THROWS_AS(r.add(method::get, "no-slash", &ok), std::invalid_argument);
  CHECK_THROWS_AS(r.add(method::get, "/a/{", &ok), std::invalid_argument);
  CHECK_THROWS_AS(r.add(method::get, "/a/x{id}", &ok), std::invalid_argument);
  CHECK_THROWS_AS(r.add(method::get, "/a/{}", &ok), std::invalid_argument);
  CHECK_THROWS_AS(r.add(method::get, "/a/{id}/{id}", &ok), std::invalid_argument);
  CHECK_THROWS_AS(r.add(method::get, "/a?x=1", &ok), std::invalid_argument);
  CHECK_THROWS_AS(r.add(method::get, "/a", handler{}), std::invalid_argument);
  r.add(method::get, "/a/{id}", &ok);
  CHECK_THROWS_AS(r.add(method::get, "/a/{other}", &ok), std::invalid_argument);
  CHECK_NOTHROW(r.add(method::post, "/a/{other}", &ok));
  CHECK_NOTHROW(r.add(method::get, "/a/literal", &ok));
  CHECK(r.routes().size() == 3);
  CHECK(r.routes()[2].index == 2);
}
