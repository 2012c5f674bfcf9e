// Metrics registry: registration rules, lock-free updates from many threads and the Prometheus text format.
#include "bkr/common/metrics.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace bkr::metrics;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("a counter family exposes HELP, TYPE and one line per label set") {
  registry r;
  auto& requests = r.add_counter("bkr_requests_total", "Requests served.", {"route", "status"});
  requests.with({"/a", "200"}).inc();
  requests.with({"/a", "200"}).inc(2);
  requests.with({"/b", "404"}).inc();

  const auto text = r.expose();
  CHECK(text ==
        "# HELP bkr_requests_total Requests served.\n"
        "# TYPE bkr_requests_total counter\n"
        "bkr_requests_total{route=\"/a\",status=\"200\"} 3\n"
        "bkr_requests_total{route=\"/b\",status=\"404\"} 1\n");
}

TEST_CASE("an unlabelled metric is exposed as 0 right after registration") {
  registry r;
  r.add_gauge("bkr_queue_depth", "Ready messages.");
  CHECK(r.expose() ==
        "# HELP bkr_queue_depth Ready messages.\n# TYPE bkr_queue_depth gauge\nbkr_queue_depth 0\n");
}

TEST_CASE("gauges go up and down and print shortest decimals") {
  registry r;
  auto& g = r.add_gauge("bkr_g", "A gauge.").with({});
  g.set(2.5);
  g.inc();
  g.dec();
  g.add(-0.25);
  CHECK(g.value() == 2.25);
  CHECK(contains(r.expose(), "bkr_g 2.25\n"));
}

TEST_CASE("a histogram exposes cumulative buckets, +Inf, _sum and _count") {
  registry r;
  auto& h = r.add_histogram("bkr_latency_seconds", "Latency.", {"route"}, {0.01, 0.1, 1}).with({"/x"});
  h.observe(0.005);
  h.observe(0.01);  // upper bounds are inclusive
  h.observe(0.05);
  h.observe(3);
  const auto text = r.expose();
  CHECK(text ==
        "# HELP bkr_latency_seconds Latency.\n"
        "# TYPE bkr_latency_seconds histogram\n"
        "bkr_latency_seconds_bucket{route=\"/x\",le=\"0.01\"} 2\n"
        "bkr_latency_seconds_bucket{route=\"/x\",le=\"0.1\"} 3\n"
        "bkr_latency_seconds_bucket{route=\"/x\",le=\"1\"} 3\n"
        "bkr_latency_seconds_bucket{route=\"/x\",le=\"+Inf\"} 4\n"
        "bkr_latency_seconds_sum{route=\"/x\"} 3.065\n"
        "bkr_latency_seconds_count{route=\"/x\"} 4\n");
}

TEST_CASE("label values and help texts are escaped") {
  registry r;
  r.add_counter("bkr_c", "Help with \\ and\nnewline and \"quotes\".", {"v"}).with({"a\"b\\c\nd"}).inc();
  const auto text = r.expose();
  CHECK(contains(text, "# HELP bkr_c Help with \\\\ and\\nnewline and \"quotes\".\n"));
  CHECK(contains(text, "bkr_c{v=\"a\\\"b\\\\c\\nd\"} 1\n"));
}

TEST_CASE("special values are written as the exposition format spells them") {
  CHECK(format_value(std::numeric_limits<double>::infinity()) == "+Inf");
  CHECK(format_value(-std::numeric_limits<double>::infinity()) == "-Inf");
  CHECK(format_value(std::nan("")) == "NaN");
  CHECK(format_value(0.0005) == "0.0005");
  CHECK(format_value(10) == "10");
  CHECK(format_value(1e21) == "1e+21");
  CHECK(format_value(0.00001) == "1e-05");
  CHECK(format_value(-2.5) == "-2.5");
}

TEST_CASE("registration is idempotent for the same shape and refuses clashes") {
  registry r;
  auto& a = r.add_counter("bkr_x_total", "X.", {"k"});
  auto& b = r.add_counter("bkr_x_total", "X again.", {"k"});
  CHECK(&a == &b);
  CHECK(&a.with({"1"}) == &b.with({"1"}));
  CHECK_THROWS_AS(r.add_gauge("bkr_x_total", "X.", {"k"}), std::invalid_argument);
  CHECK_THROWS_AS(r.add_counter("bkr_x_total", "X.", {"other"}), std::invalid_argument);
  r.add_histogram("bkr_h", "H.", {}, {1, 2});
  CHECK_THROWS_AS(r.add_histogram("bkr_h", "H.", {}, {1, 3}), std::invalid_argument);
}

TEST_CASE("invalid names, label counts and bounds are refused") {
  registry r;
  CHECK_THROWS_AS(r.add_counter("1abc", "."), std::invalid_argument);
  CHECK_THROWS_AS(r.add_counter("a-b", "."), std::invalid_argument);
  CHECK_THROWS_AS(r.add_counter("ok", ".", {"__reserved"}), std::invalid_argument);
  CHECK_THROWS_AS(r.add_counter("ok", ".", {"a", "a"}), std::invalid_argument);
  CHECK_THROWS_AS(r.add_histogram("h1", ".", {"le"}, {1}), std::invalid_argument);
  CHECK_THROWS_AS(r.add_histogram("h2", ".", {}, {}), std::invalid_argument);
  CHECK_THROWS_AS(r.add_histogram("h3", ".", {}, {2, 1}), std::invalid_argument);
  CHECK_THROWS_AS(r.add_histogram("h4", ".", {}, {1, std::numeric_limits<double>::infinity()}),
                  std::invalid_argument);
  auto& f = r.add_counter("ok_total", ".", {"a", "b"});
  CHECK_THROWS_AS(f.with({"only-one"}), std::invalid_argument);
  CHECK(is_valid_metric_name("bkr:rule_total"));
  CHECK_FALSE(is_valid_label_name("a:b"));
}

TEST_CASE("families are exposed in name order") {
  registry r;
  r.add_counter("zeta_total", "Z.");
  r.add_counter("alpha_total", "A.");
  const auto text = r.expose();
  CHECK(text.find("alpha_total") < text.find("zeta_total"));
}

TEST_CASE("concurrent updates are not lost") {
  registry r;
  auto& c = r.add_counter("bkr_hits_total", "Hits.").with({});
  auto& g = r.add_gauge("bkr_level", "Level.").with({});
  auto& h = r.add_histogram("bkr_obs", "Obs.", {}, {0.5}).with({});
  auto& family_ref = r.add_counter("bkr_labelled_total", "Labelled.", {"t"});
  constexpr int threads = 4;
  constexpr int per_thread = 50'000;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      auto& mine = family_ref.with({std::to_string(t % 2)});
      for (int i = 0; i < per_thread; ++i) {
        c.inc();
        g.add(1.0);
        h.observe(i % 2 == 0 ? 0.25 : 1.0);
        mine.inc();
      }
    });
  }
  std::string concurrent_text;
  for (int i = 0; i < 20; ++i)
    concurrent_text = r.expose();  // exposition while updating must be safe
  for (auto& w : workers)
    w.join();
  CHECK(c.value() == threads * per_thread);
  CHECK(g.value() == threads * per_thread);
  const auto snap = h.take_snapshot();
  CHECK(snap.count == threads * per_thread);
  CHECK(snap.cumulative[0] == threads * per_thread / 2);
  CHECK(snap.sum == Approx(threads * per_thread / 2 * 1.25));
  CHECK(family_ref.with({"0"}).value() + family_ref.with({"1"}).value() == threads * per_thread);
}
