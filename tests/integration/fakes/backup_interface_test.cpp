// The fake backup interface against real Postgres: replies on the queue or over HTTP, the failure split,
// HTTP intake de-duplication, its ops endpoints, and no lost reply when it is killed mid-run.
#include "bkr/common/ids.hpp"
#include "bkr/domain/messages.hpp"
#include "bkr/fake_backup_interface/behaviour.hpp"
#include "bkr/fake_backup_interface/service.hpp"
#include "bkr/http/client.hpp"
#include "bkr/http/server.hpp"
#include "bkr/messaging/postgres/log.hpp"
#include "fakes_support.hpp"
#include "pg_test_database.hpp"
#include "process.hpp"

#include <catch2/catch.hpp>

#include <signal.h>

#include <functional>
#include <mutex>
#include <set>

using namespace bkr;
using namespace bkr::test;
namespace fbi = bkr::fake_backup_interface;

namespace {

const std::string status_queue{domain::store_status_message.queue};
const std::string schema_file{domain::store_status_message.schema_file};

std::string interface_path() {
  return built_executable("tools/fake-backup-interface/bkr-fake-backup-interface");
}

/// Settings for an in-process fake on `db`: any free ports, quick polling, short leases.
fbi::settings test_settings(const pg_test_database& db) {
  fbi::settings s;
  s.database_url = db.conninfo();
  s.http_port = 0;
  s.ops_port = 0;
  s.poll_max = std::chrono::milliseconds{50};
  s.lease = std::chrono::milliseconds{1000};
  s.drain_deadline = std::chrono::milliseconds{2000};
  s.log_level = spdlog::level::warn;
  return s;
}

bkr::logger quiet_log() {
  return bkr::logger("fake-interface-test", spdlog::level::warn);
}

/// Collects what a consumer of `queue` receives, with the time of receipt.
class collector {
 public:
  messaging::handler_result handle(const messaging::delivery& d, messaging::handler_context&) {
    std::lock_guard lock(mutex_);
    received_.push_back({d.message, std::chrono::steady_clock::now()});
    return messaging::handler_result::commit();
  }
  struct item {
    messaging::envelope message;
    std::chrono::steady_clock::time_point at;
  };
  std::vector<item> items() {
    std::lock_guard lock(mutex_);
    return received_;
  }

 private:
  std::mutex mutex_;
  std::vector<item> received_;
};

std::map<std::string, std::string> binary_env(const pg_test_database& db) {
  return {{"BKR_DATABASE_URL", db.conninfo()},
          {"BKR_HTTP_PORT", "0"},
          {"BKR_OPS_PORT", "0"},
          {"BKR_CONSUMER_POLL_MAX", "50ms"},
          {"BKR_DRAIN_DEADLINE", "2s"}};
}

}  // namespace

TEST_CASE("a store request gets exactly one valid reply on the status queue after the reply delay",
          "[fakes][interface]") {
  pg_test_database db;
  storage::connection_pool pool({db.conninfo(), 4, 10s});
  auto settings = test_settings(db);
  settings.rules.reply_delay = std::chrono::milliseconds{600};
  const system_clock clock;
  fbi::service fake(settings, quiet_log(), clock);
  fake.start();

  collector replies;
  messaging::function_handler h(std::bind_front(&collector::handle, &replies));
  messaging::consumer_options o;
  o.queue = status_queue;
  o.poll_min = std::chrono::milliseconds{5};
  o.poll_max = std::chrono::milliseconds{20};
  messaging::postgres::log_consumer reader(pool, db.conninfo(), o, h);
  reader.start();

  const auto id = new_uuid_v7();
  const auto request = sample_store_request(id, domain::provider::cloud_a);
  const auto published = std::chrono::steady_clock::now();
  publish_store_requests(pool, {request});

  REQUIRE(eventually([&] { return replies.items().size() == 1; }, 10s));
  // Once the store request is consumed, every reply it made is committed: nothing more can come.
  REQUIRE(eventually([&] {
    return mq_count(pool, domain::store_request_queue(domain::provider::cloud_a)) == 0 &&
           mq_count(pool, status_queue) == 0;
  }));
  reader.stop(std::chrono::milliseconds{1000});
  const auto got = replies.items();
  REQUIRE(got.size() == 1);

  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(got[0].at - published);
  CHECK(waited >= std::chrono::milliseconds{580});
  CHECK(waited < std::chrono::milliseconds{3600});

  const auto& m = got[0].message;
  CHECK(m.type == "StoreStatusReply");
  CHECK(m.schema_version == 1);
  CHECK(m.key == id);
  CHECK(m.trace_id == "trace-" + id);
  CHECK(m.producer == "bkr-fake-backup-interface");
  CHECK(schema_errors("envelope.schema.json", messaging::to_json(m)).empty());
  INFO(m.payload.dump());
  CHECK(schema_errors(schema_file, m.payload).empty());
  const auto reply = domain::parse_store_status_reply(m.payload);
  REQUIRE(reply.has_value());
  CHECK(reply->backup_request_id == id);
  CHECK(reply->result_type_code == domain::store_result::succeeded);
  CHECK(reply->storage_path_name == request.storage_path_name + "/" + id);
  CHECK(reply->backup_byte_count.value() > 0);
  CHECK(*reply->copy_end_timestamp >= *reply->copy_start_timestamp);
  CHECK(*reply->verify_end_timestamp - *reply->copy_start_timestamp == std::chrono::milliseconds{600});

  const auto exposition = fake.registry().expose();
  CHECK(metric_value(exposition, "bkr_fake_interface_replies_total{result=\"Succeeded\"}") == 1.0);
  CHECK(metric_value(exposition, "bkr_fake_interface_store_requests_total{provider=\"CloudA\"}") == 1.0);
  fake.stop();
}

TEST_CASE("the failure ratio splits by the hash of backupRequestId and marked jobs always fail",
          "[fakes][interface]") {
  pg_test_database db;
  storage::connection_pool pool({db.conninfo(), 4, 10s});
  auto settings = test_settings(db);
  settings.rules.reply_delay = std::chrono::milliseconds{0};
  settings.rules.failure_ratio = 0.3;
  settings.http_enabled = false;

  std::vector<domain::store_request> requests;
  const domain::provider providers[] = {domain::provider::local, domain::provider::cloud_a,
                                        domain::provider::cloud_b};
  for (int i = 0; i < 120; ++i)
    requests.push_back(sample_store_request("split-" + std::to_string(i), providers[i % 3]));
  for (int i = 0; i < 6; ++i)
    requests.push_back(
        sample_store_request("marked-" + std::to_string(i), providers[i % 3], "nightly-fail-job"));
  publish_store_requests(pool, requests);

  const system_clock clock;
  fbi::service fake(settings, quiet_log(), clock);
  fake.start();
  REQUIRE(eventually([&] { return mq_count(pool, status_queue) == requests.size(); }, 15s));

  std::map<std::string, domain::store_result> results;
  for (const auto& row : mq_messages(pool, status_queue)) {
    const auto reply = domain::parse_store_status_reply(row.message.payload);
    REQUIRE(reply.has_value());
    results[reply->backup_request_id] = reply->result_type_code;
  }
  REQUIRE(results.size() == requests.size());
  int failed_by_ratio = 0;
  for (const auto& r : requests) {
    const bool marked = r.backup_job_id == "nightly-fail-job";
    const bool expect_failed = marked || fbi::request_hash_unit(r.backup_request_id) < 0.3;
    INFO(r.backup_request_id);
    CHECK((results[r.backup_request_id] == domain::store_result::failed) == expect_failed);
    failed_by_ratio += !marked && expect_failed ? 1 : 0;
  }
  // The hash spreads these fixed ids near the ratio (the split is the same on every run).
  CHECK(failed_by_ratio >= 24);
  CHECK(failed_by_ratio <= 48);
  const auto exposition = fake.registry().expose();
  CHECK(metric_value(exposition, "bkr_fake_interface_replies_total{result=\"Failed\"}") ==
        failed_by_ratio + 6);
  fake.stop();
}

namespace {

/// Stands in for ReceiveRequest's POST /api/store-status-replies: answers 503 to the first POST of each
/// reply, 400 to replies of ids starting with `refuse-`, and 202 otherwise; records every POST.
struct reply_receiver {
  struct post {
    std::string authorization;
    std::string request_id;
    nlohmann::json body;
  };
  std::mutex mutex;
  std::vector<post> posts;
  std::set<std::string> seen;

  static boost::asio::awaitable<http::response> receive(std::shared_ptr<reply_receiver> self,
                                                        http::request req) {
    auto body = nlohmann::json::parse(req.body, nullptr, false);
    const auto id = body.is_object() ? body.value("backupRequestId", "") : "";
    std::lock_guard lock(self->mutex);
    self->posts.push_back({std::string(req.headers.get("Authorization").value_or("")), req.request_id, body});
    if (id.starts_with("refuse-"))
      co_return http::error_response(http::errc::bad_request, "unknown backupRequestId", req.request_id);
    if (self->seen.insert(id).second) {
      auto r = http::error_response(http::errc::unavailable, "busy", req.request_id);
      r.headers.set("Retry-After", "0");
      co_return r;
    }
    co_return http::response::json(202, {{"backupRequestId", id}});
  }

  std::size_t count_for(const std::string& id) {
    std::lock_guard lock(mutex);
    return static_cast<std::size_t>(std::count_if(posts.begin(), posts.end(), [&](const post& p) {
      return p.body.is_object() && p.body.value("backupRequestId", "") == id;
    }));
  }
};

}  // namespace

TEST_CASE("the http transport POSTs replies with the bearer token, retries 5xx and dead-letters 4xx",
          "[fakes][interface]") {
  pg_test_database db;
  storage::connection_pool pool({db.conninfo(), 4, 10s});
  metrics::registry receiver_metrics;
  auto receiver = std::make_shared<reply_receiver>();
  http::router routes;
  routes.add(http::method::post, "/api/store-status-replies",
             std::bind_front(&reply_receiver::receive, receiver), {.json_body = true});
  http::server receive_request({.port = 0}, std::move(routes), receiver_metrics, quiet_log());
  receive_request.start();

  auto settings = test_settings(db);
  settings.transport = fbi::reply_transport::http;
  settings.reply_url = "http://127.0.0.1:" + std::to_string(receive_request.port());
  settings.reply_token = "test-token";
  settings.rules.reply_delay = std::chrono::milliseconds{100};
  settings.reply_retry.base = std::chrono::milliseconds{50};
  settings.reply_retry.cap = std::chrono::milliseconds{200};
  const system_clock clock;
  fbi::service fake(settings, quiet_log(), clock);
  fake.start();

  const auto ok_id = new_uuid_v7();
  const auto refused_id = "refuse-" + new_uuid_v7().substr(0, 20);
  publish_store_requests(pool, {sample_store_request(ok_id), sample_store_request(refused_id)});

  const std::string outbox{fbi::reply_outbox_queue};
  REQUIRE(eventually([&] {
    return receiver->count_for(ok_id) == 2 && mq_count(pool, outbox) == 0 &&
           mq_dead_letters(pool, outbox).size() == 1;
  }));
  CHECK(receiver->count_for(refused_id) == 1);
  const auto dead = mq_dead_letters(pool, outbox);
  CHECK(dead[0].first == refused_id);
  CHECK_THAT(dead[0].second, Catch::Contains("HTTP 400"));
  CHECK(mq_count(pool, status_queue) == 0);  // nothing on the queue with the http transport

  std::lock_guard lock(receiver->mutex);
  for (const auto& p : receiver->posts) {
    CHECK(p.authorization == "Bearer test-token");
    CHECK(p.request_id == "trace-" + p.body.value("backupRequestId", ""));
    CHECK(schema_errors(schema_file, p.body).empty());
  }
  const auto exposition = fake.registry().expose();
  CHECK(metric_value(exposition, "bkr_fake_interface_reply_posts_total{outcome=\"delivered\"}") == 1.0);
  CHECK(metric_value(exposition, "bkr_fake_interface_reply_posts_total{outcome=\"retried\"}") == 1.0);
  CHECK(metric_value(exposition, "bkr_fake_interface_reply_posts_total{outcome=\"rejected\"}") == 1.0);
  fake.stop();
  receive_request.stop(std::chrono::milliseconds{500});
}

TEST_CASE(
    "the binary takes store requests over HTTP once per backupRequestId, serves ops and stops on SIGTERM",
    "[fakes][interface][process]") {
  pg_test_database db;
  storage::connection_pool pool({db.conninfo(), 4, 10s});
  auto env = binary_env(db);
  env["BKR_FAKE_PROVIDERS"] = "Local,CloudA";
  env["BKR_FAKE_REPLY_DELAY"] = "200ms";
  child_process fake(interface_path(), env);
  const auto started = fake.wait_started();
  const auto base = "http://127.0.0.1:" + std::to_string(started["httpPort"].get<int>());
  const auto ops = "http://127.0.0.1:" + std::to_string(started["opsPort"].get<int>());
  http::blocking_client client;
  REQUIRE(eventually([&] {
    auto r = client.get(ops + "/readyz");
    return r.has_value() && r->status == 200;
  }));

  const auto id = new_uuid_v7();
  const auto body = nlohmann::json(sample_store_request(id, domain::provider::cloud_a)).dump();
  const http::fields keyed{{"Idempotency-Key", id}, {"X-Request-Id", "trace-intake"}};
  const auto first = client.post_json(base + "/store-requests", body, keyed);
  REQUIRE(first.has_value());
  CHECK(first->status == 202);
  const auto first_body = nlohmann::json::parse(first->body);
  CHECK(first_body["duplicate"] == false);
  CHECK(first_body["queue"] == "backup-interface.cloud-a.store-request");
  const auto again = client.post_json(base + "/store-requests", body, keyed);
  REQUIRE(again.has_value());
  CHECK(again->status == 202);
  CHECK(nlohmann::json::parse(again->body)["duplicate"] == true);

  // Refused: no key, a key that is not the id, not a store request, a provider this fake does not serve.
  const auto no_key = client.post_json(base + "/store-requests", body);
  const auto other_key = client.post_json(base + "/store-requests", body, {{"Idempotency-Key", "other"}});
  const auto bad_body = client.post_json(base + "/store-requests", R"({"backupRequestId": 5})", keyed);
  const auto cloud_b_id = new_uuid_v7();
  const auto cloud_b =
      client.post_json(base + "/store-requests",
                       nlohmann::json(sample_store_request(cloud_b_id, domain::provider::cloud_b)).dump(),
                       {{"Idempotency-Key", cloud_b_id}});
  for (const auto* r : {&no_key, &other_key, &bad_body, &cloud_b}) {
    REQUIRE(r->has_value());
    CHECK((*r)->status == 400);
    CHECK(nlohmann::json::parse((*r)->body).contains("code"));
  }

  REQUIRE(eventually([&] {
    return mq_count(pool, "backup-interface.cloud-a.store-request") == 0 && mq_count(pool, status_queue) == 1;
  }));
  const auto rows = mq_messages(pool, status_queue);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].message.key == id);
  CHECK(rows[0].message.trace_id == "trace-intake");
  CHECK(rows[0].delay >= std::chrono::milliseconds{190});
  CHECK(schema_errors(schema_file, rows[0].message.payload).empty());

  const auto metrics = client.get(ops + "/metrics");
  REQUIRE(metrics.has_value());
  CHECK(metric_value(metrics->body, "bkr_fake_interface_intake_total{result=\"accepted\"}") == 1.0);
  CHECK(metric_value(metrics->body, "bkr_fake_interface_intake_total{result=\"duplicate\"}") == 1.0);
  CHECK(metric_value(metrics->body, "bkr_fake_interface_intake_total{result=\"rejected\"}") == 4.0);
  CHECK(metric_value(metrics->body, "bkr_fake_interface_replies_total{result=\"Succeeded\"}") == 1.0);
  const auto live = client.get(ops + "/livez");
  REQUIRE(live.has_value());
  CHECK(live->status == 200);
  const auto health = client.get(ops + "/healthz");
  REQUIRE(health.has_value());
  const auto h = nlohmann::json::parse(health->body);
  CHECK(h["service"] == "bkr-fake-backup-interface");
  CHECK(h["fake"]["queues"] == nlohmann::json::array({"backup-interface.local.store-request",
                                                      "backup-interface.cloud-a.store-request"}));

  fake.signal(SIGTERM);
  CHECK(fake.wait_exit(10s) == 0);
  INFO(fake.output());
  CHECK_FALSE(fake.log_line("stop signal received").is_null());
  CHECK_FALSE(fake.log_line("stopped").is_null());
  CHECK(fake.output().find(db.conninfo()) == std::string::npos);
}

TEST_CASE("a fake interface killed mid-run loses no reply and makes none twice",
          "[fakes][interface][process]") {
  pg_test_database db;
  storage::connection_pool pool({db.conninfo(), 4, 10s});
  std::vector<domain::store_request> requests;
  std::set<std::string> ids;
  const domain::provider providers[] = {domain::provider::local, domain::provider::cloud_a,
                                        domain::provider::cloud_b};
  for (int i = 0; i < 120; ++i) {
    requests.push_back(sample_store_request(new_uuid_v7(), providers[i % 3]));
    ids.insert(requests.back().backup_request_id);
  }
  publish_store_requests(pool, requests);
  auto pending_requests = [&] {
    std::size_t n = 0;
    for (const auto p : providers)
      n += mq_count(pool, domain::store_request_queue(p));
    return n;
  };

  auto env = binary_env(db);
  env["BKR_HTTP_ENABLED"] = "false";
  env["BKR_FAKE_WORK_TIME"] = "10ms";
  env["BKR_FAKE_REPLY_DELAY"] = "300ms";
  env["BKR_CONSUMER_BATCH_SIZE"] = "4";
  env["BKR_CONSUMER_LEASE"] = "1s";
  {
    child_process first(interface_path(), env);
    first.wait_started();
    REQUIRE(eventually([&] { return pending_requests() <= 100; }, 10s));
    first.signal(SIGKILL);
    REQUIRE(first.wait_exit(5s) == -1);
  }
  // Killed with store requests left (some leased by the dead process) and replies still delayed.
  REQUIRE(pending_requests() > 0);

  child_process second(interface_path(), env);
  second.wait_started();
  REQUIRE(eventually(
      [&] { return pending_requests() == 0 && mq_count(pool, status_queue) == requests.size(); }, 20s));
  std::map<std::string, int> replies_per_id;
  for (const auto& row : mq_messages(pool, status_queue))
    ++replies_per_id[row.message.key];
  CHECK(replies_per_id.size() == ids.size());
  for (const auto& [id, n] : replies_per_id) {
    INFO(id);
    CHECK(ids.count(id) == 1);
    CHECK(n == 1);
  }
  CHECK(mq_dead_letters(pool, status_queue).empty());
  second.signal(SIGTERM);
  CHECK(second.wait_exit(10s) == 0);
}

TEST_CASE("the binary prints its keys and refuses bad configuration", "[fakes][interface][process]") {
  const auto help = run_process({interface_path(), "--help"});
  CHECK(help.exit_code == 0);
  for (const auto* key :
       {"BKR_DATABASE_URL", "BKR_FAKE_PROVIDERS", "BKR_FAKE_REPLY_DELAY", "BKR_FAKE_FAILURE_RATIO",
        "BKR_FAKE_REPLY_TRANSPORT", "BKR_FAKE_REPLY_URL", "BKR_FAKE_REPLY_TOKEN", "BKR_HTTP_PORT",
        "BKR_OPS_PORT", "BKR_LOG_LEVEL", "BKR_DRAIN_DEADLINE"})
    CHECK_THAT(help.out, Catch::Contains(key));
  const auto bad = run_process({interface_path()},
                               {{"BKR_DATABASE_URL", "host=127.0.0.1"}, {"BKR_FAKE_FAILURE_RATIO", "half"}});
  CHECK(bad.exit_code == 2);
  CHECK_THAT(bad.err, Catch::Contains("BKR_FAKE_FAILURE_RATIO"));
  const auto shown =
      run_process({interface_path(), "--print-config"},
                  {{"BKR_DATABASE_URL", "host=db password=hunter2"}, {"BKR_FAKE_REPLY_DELAY", "2s"}});
  REQUIRE(shown.exit_code == 0);
  CHECK(shown.out.find("hunter2") == std::string::npos);
  CHECK(nlohmann::json::parse(shown.out)["fake.reply_delay"] == "2000ms");
}
