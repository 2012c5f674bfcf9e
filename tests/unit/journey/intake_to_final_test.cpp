// From intake to final status on the pure functions of every stage: for generated POST bodies, either the
// intake refuses with a 400, or each later stage can process the request, with every job the fakes serve
// and any daysToKeep a job may hold, to a final status.
#include "bkr/domain/errors.hpp"
#include "bkr/domain/json.hpp"
#include "bkr/domain/messages.hpp"
#include "bkr/domain/status_machine.hpp"
#include "bkr/domain/store_reply.hpp"
#include "bkr/domain/validation.hpp"
#include "bkr/fake_backup_interface/behaviour.hpp"
#include "bkr/fake_backup_job_service/catalog.hpp"
#include "bkr/http/errors.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <limits>
#include <random>
#include <string>
#include <variant>
#include <vector>

using namespace bkr;
using domain::request_status;
using nlohmann::json;

namespace {

const timestamp now = *parse_timestamp("2026-02-03T10:00:00.000Z");
const std::string request_id = "019b7716-0c7b-7000-8000-0000000000aa";
constexpr domain::date last_date{std::chrono::year{9999}, std::chrono::December, std::chrono::day{31}};

domain::transition_context context(domain::pipeline_stage stage) {
  return {now, std::string(to_string(stage)), "019b7716-0c7b-7000-8000-0000000000bb"};
}

template <class T>
T round_trip(const T& value, result<T> (*parse)(const json&)) {
  auto read = parse(json::parse(json(value).dump()));
  INFO(json(value).dump());
  REQUIRE(read.has_value());
  return *read;
}

domain::backup_request moved(const result<domain::transition>& t, request_status to) {
  REQUIRE(t.has_value());
  const auto* a = std::get_if<domain::applied>(&*t);
  REQUIRE(a != nullptr);
  REQUIRE(a->request.status_type_code == to);
  return a->request;
}

/// The jobs a request may meet: the fake job service's demo jobs (the same as `bkrctl seed-demo`), the
/// end-to-end suite's failing job, and the extremes of daysToKeep.
std::vector<domain::backup_job> job_configs() {
  auto jobs = fake_backup_job_service::demo_jobs();
  jobs.push_back({"e2e-fail", "local/e2e-fail", domain::provider::local, 7, true, false});
  for (const int days : {0, 1, 365, 3650, 36500, 2930000, std::numeric_limits<int>::max()})
    jobs.push_back({"extreme", std::string(250, 'p'), domain::provider::cloud_b, days, true, true});
  return jobs;
}

/// Every stage after the intake on an accepted input with `job` (its id set to the request's): Received,
/// Allowed or NotAllowed, Sent, and the fake interface's success and failure replies through ReceiveStatus.
void follow(const domain::accept_input& input, domain::backup_job job) {
  auto accepted = domain::make_accepted_request(input, request_id, "demo-client", now);
  REQUIRE(accepted.has_value());
  const auto payload = round_trip(domain::to_accepted_payload(*accepted), domain::parse_accepted_payload);
  const auto received = moved(
      domain::receive(domain::to_backup_request(payload), context(domain::pipeline_stage::create_request)),
      request_status::received);
  CHECK(round_trip(received, domain::parse_backup_request) == received);

  job.backup_job_id = received.backup_job_id;
  const auto checked = domain::check_allowed(received, job, context(domain::pipeline_stage::check_allowed));
  if (!job.is_active) {
    moved(checked, request_status::not_allowed);  // final
    return;
  }
  const auto allowed = moved(checked, request_status::allowed);
  const auto sent = moved(domain::mark_sent(allowed, context(domain::pipeline_stage::send_to_interface)),
                          request_status::sent);
  const auto store = domain::make_store_request(sent);
  REQUIRE(store.has_value());
  const auto delivered = round_trip(*store, domain::parse_store_request);

  using fake_backup_interface::failure_cause;
  for (const auto cause : {failure_cause::none, failure_cause::marker}) {
    const auto reply =
        round_trip(fake_backup_interface::make_reply(delivered, cause, now, std::chrono::milliseconds{20}),
                   domain::parse_store_status_reply);
    const auto outcome = domain::apply_store_status_reply(sent, reply, false, job,
                                                          context(domain::pipeline_stage::receive_status),
                                                          "019b7716-0c7b-7000-8000-0000000000cc");
    INFO("dataDate " << domain::format_date(sent.data_date) << ", daysToKeep " << job.days_to_keep);
    REQUIRE(outcome.has_value());
    const bool success = cause == failure_cause::none;
    moved(outcome->request, success ? request_status::succeeded : request_status::failed);
    REQUIRE(outcome->new_backup.has_value() == success);
    if (success) {
      const auto& b = *outcome->new_backup;
      CHECK(b.due_to_delete_date.ok());
      CHECK(b.due_to_delete_date >= b.data_date);
      CHECK(b.due_to_delete_date <= last_date);
      CHECK(b.days_to_keep_count == job.days_to_keep);
    }
  }
}

/// Refused at intake: exactly a 400 with one of the intake's codes.
void check_refusal(const bkr::error& e) {
  const auto m = http::map_error(e.code);
  CHECK(m.status == 400);
  CHECK((m.code == "InvalidJson" || m.code == "InvalidApiVersion" || m.code == "BadData"));
}

std::string format_ymd(int y, int m, int d) {
  auto padded = [](int value, std::size_t width) {
    auto text = std::to_string(value);
    return std::string(text.size() < width ? width - text.size() : 0, '0') + text;
  };
  return padded(y, 4) + "-" + padded(m, 2) + "-" + padded(d, 2);
}

/// Dates around every boundary (first and last representable, leap days, month ends, out of range) and
/// random ones, valid or not.
class date_source {
 public:
  explicit date_source(std::mt19937_64& random) : random_(random) {}

  std::string next() {
    static const std::vector<std::string> edges{
        "0001-01-01", "9999-12-31",  "9999-12-30",           "9999-01-01",
        "2024-02-29", "2023-02-29",  "2000-02-29",           "1900-02-29",
        "2100-02-29", "2400-02-29",  "0004-02-29",           "9996-02-29",
        "0000-01-01", "0000-12-31",  "10000-01-01",          "9999-12-32",
        "9999-13-01", "2026-00-10",  "2026-01-00",           "2026-04-31",
        "2026-02-30", "-001-01-01",  "+2026-01-01",          "2026-1-01",
        "2026-01-1",  " 2026-01-01", "2026-01-01T00:00:00Z", ""};
    switch (pick(4)) {
      case 0:
        return edges[pick(edges.size())];
      case 1:  // near the ends of the range
        return format_ymd(pick(2) == 0 ? 1 + static_cast<int>(pick(3)) : 9997 + static_cast<int>(pick(3)),
                          1 + static_cast<int>(pick(12)), 1 + static_cast<int>(pick(31)));
      case 2:  // any year, months and days slightly out of range too
        return format_ymd(static_cast<int>(pick(10000)), static_cast<int>(pick(14)),
                          static_cast<int>(pick(33)));
      default: {  // garbage of the right length
        std::string s(10, '0');
        for (auto& c : s)
          c = static_cast<char>(0x20 + pick(0x5F));
        return s;
      }
    }
  }

 private:
  std::size_t pick(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(random_); }
  std::mt19937_64& random_;
};

/// Bodies around the intake's rules: the job ids of the seed data and odd ones, every kind of date, paths
/// of every length and character class, wrong types, unknown fields with unusual values.
class body_source {
 public:
  explicit body_source(std::uint64_t seed) : random_(seed), dates_(random_) {}

  std::string next() {
    json body = json::object();
    if (pick(20) != 0)
      body["apiVersion"] = pick(30) == 0 ? json("2022-05-23") : json(domain::accept_api_version);
    set_maybe(body, "backupJobId", job_id());
    set_maybe(body, "dataDate", json(dates_.next()));
    set_maybe(body, "backupDataLocation", json(location()));
    if (pick(4) == 0)
      body["note"] = odd_value();
    auto text = body.dump(-1, ' ', false, json::error_handler_t::replace);
    if (pick(25) == 0)  // numbers and escapes nlohmann would never write
      text.insert(1, pick(2) == 0 ? R"("big":1e999999,)" : R"("s":"\ud800",)");
    return text;
  }

 private:
  std::size_t pick(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(random_); }

  void set_maybe(json& body, const char* name, json value) {
    switch (pick(30)) {
      case 0:
        return;  // absent
      case 1:
        body[name] = nullptr;
        return;
      case 2:
        body[name] = 42;
        return;
      default:
        body[name] = std::move(value);
    }
  }

  json job_id() {
    static const std::vector<std::string> seeded{"demo-local",   "demo-cloud-a",  "demo-cloud-b",
                                                 "demo-on-hold", "demo-inactive", "e2e-fail"};
    if (pick(2) == 0)
      return seeded[pick(seeded.size())];
    std::string id(pick(53), 'x');  // 0..52 characters: the limit is 50
    for (auto& c : id)
      c = static_cast<char>(0x1F + pick(0x61));  // printable ASCII plus space, unit separator and DEL
    return id;
  }

  std::string location() {
    static const std::vector<std::string> pieces{
        "/",  "data", "x",   " ", "\t", "\x7f", "\xc2\x85",    "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x93\xa6",
        "\\", "\"",   "%2F", "?", "#",  "..",   "\xef\xbf\xbe"};
    std::string text;
    const std::size_t count = pick(8) == 0 ? 240 + pick(20) : pick(12);
    for (std::size_t i = 0; i < count; ++i)
      text += pieces[pick(pieces.size())];
    return text;
  }

  json odd_value() {
    switch (pick(5)) {
      case 0:
        return std::numeric_limits<double>::max();
      case 1:
        return json::array({1, json::object()});
      case 2:
        return std::numeric_limits<std::uint64_t>::max();
      case 3:
        return std::string(300, 'z');
      default:
        return nullptr;
    }
  }

  std::mt19937_64 random_;
  date_source dates_;
};

}  // namespace

TEST_CASE("every body the intake accepts reaches a final status with every job, the rest are 400s",
          "[journey][property]") {
  const auto jobs = job_configs();
  body_source bodies(0x5eed'2026'0203ULL);
  int accepted = 0;
  int refused = 0;
  for (int i = 0; i < 10000; ++i) {
    const auto body = bodies.next();
    INFO("body " << body);
    const auto input = domain::parse_accept_body(body);
    if (!input) {
      ++refused;
      check_refusal(input.error());
      continue;
    }
    ++accepted;
    for (const auto& job : jobs)
      follow(*input, job);
  }
  // Both sides of the property were exercised.
  CHECK(accepted > 500);
  CHECK(refused > 500);
}

TEST_CASE(
    "each boundary date is accepted or refused at intake as a calendar says, and accepted ones end final",
    "[journey][property]") {
  const std::vector<std::pair<std::string, bool>> dates{
      {"0001-01-01", true},  {"9999-12-31", true},  {"2024-02-29", true},   {"2000-02-29", true},
      {"0004-02-29", true},  {"9996-02-29", true},  {"2023-02-29", false},  {"1900-02-29", false},
      {"2100-02-29", false}, {"0000-01-01", false}, {"10000-01-01", false}, {"9999-12-32", false},
  };
  const auto jobs = job_configs();
  for (const auto& [date, valid] : dates) {
    INFO(date);
    const json body{{"apiVersion", domain::accept_api_version},
                    {"backupJobId", "demo-cloud-b"},
                    {"dataDate", date},
                    {"backupDataLocation", "/data/x"}};
    const auto input = domain::parse_accept_body(body.dump());
    REQUIRE(input.has_value() == valid);
    if (!valid) {
      check_refusal(input.error());
      CHECK(input.error().message == "dataDate must be a real calendar date in the form YYYY-MM-DD");
      continue;
    }
    for (const auto& job : jobs)
      follow(*input, job);
  }
}
