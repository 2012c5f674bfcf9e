// The stage tests' database fixture, queue helpers, samples and JSON Schema validation.
#include "app_fixture.hpp"

#include "bkr/common/ids.hpp"
#include "bkr/storage/unit_of_work.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

namespace bkr::test {

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition())
      return true;
    std::this_thread::sleep_for(5ms);
  }
  return condition();
}

app_fixture::app_fixture()
    : pool_(storage::pool_options{db_.conninfo(), 8, 10s}), admin_(pool_), notifier_(db_.conninfo()) {
  notifier_.start();
  REQUIRE(notifier_.wait_listening(10s));
}

app_fixture::~app_fixture() {
  notifier_.stop();
}

void app_fixture::publish(std::vector<messaging::outgoing_message> messages) {
  storage::unit_of_work uow(pool_);
  messaging::postgres::log_publisher(uow).publish_many(std::move(messages));
  uow.commit();
}

messaging::consumer_options app_fixture::consumer_options(const std::string& queue, int max_attempts) const {
  messaging::consumer_options o;
  o.queue = queue;
  o.batch_size = 16;
  o.lease = 3s;
  o.poll_min = 5ms;
  o.poll_max = 50ms;
  o.reap_interval = 200ms;
  o.retry.max_attempts = max_attempts;
  o.retry.base = 5ms;
  o.retry.cap = 20ms;
  return o;
}

std::unique_ptr<messaging::consumer> app_fixture::new_consumer(messaging::consumer_options o,
                                                               messaging::handler& h) {
  return std::make_unique<messaging::postgres::log_consumer>(pool_, db_.conninfo(), std::move(o), h);
}

std::unique_ptr<messaging::consumer> app_fixture::start_consumer(const std::string& queue,
                                                                 messaging::handler& h, int max_attempts) {
  auto c = std::make_unique<messaging::postgres::log_consumer>(
      pool_, db_.conninfo(), consumer_options(queue, max_attempts), h, &notifier_);
  c->start();
  return c;
}

bool app_fixture::consume_until(const std::string& queue, messaging::handler& h,
                                const std::function<bool()>& done, int max_attempts) {
  auto c = start_consumer(queue, h, max_attempts);
  const bool ok = eventually(done);
  c->stop(5s);
  return ok;
}

std::vector<queued_message> app_fixture::queued(const std::string& queue) {
  std::vector<queued_message> out;
  for (auto& w : admin_.peek(queue, 10000)) {
    const int attempt = w.message.attempt;
    out.push_back({std::move(w.message), attempt, std::move(w.last_error)});
  }
  return out;
}

std::vector<messaging::dead_letter> app_fixture::dead_letters(const std::string& queue) {
  return admin_.list_dead_letters(queue, 1000);
}

std::size_t app_fixture::depth(const std::string& queue) {
  const auto s = messaging::find_stats(admin_.stats(), queue);
  return static_cast<std::size_t>(s.ready + s.delayed);
}

std::optional<domain::backup_request> app_fixture::request(const std::string& id) {
  storage::unit_of_work uow(pool_);
  return requests.find(uow, id);
}

std::vector<domain::history_entry> app_fixture::history(const std::string& id) {
  storage::unit_of_work uow(pool_);
  return requests.history(uow, id);
}

std::optional<domain::backup> app_fixture::backup_of(const std::string& id) {
  storage::unit_of_work uow(pool_);
  return backups.find_by_request(uow, id);
}

std::size_t app_fixture::backup_count(const std::string& id) {
  storage::unit_of_work uow(pool_);
  return uow.tx()
      .exec_params1("SELECT count(*) FROM backup WHERE backup_request_id = $1", id)[0]
      .as<std::size_t>();
}

void app_fixture::store_request(const domain::backup_request& r) {
  storage::unit_of_work uow(pool_);
  const domain::history_entry first{
      r.backup_request_id, std::nullopt, r.status_type_code, clock_.now(), "test", "", std::nullopt};
  REQUIRE(requests.insert(uow, r, first));
  uow.commit();
}

void app_fixture::store_job(const domain::backup_job& job) {
  storage::unit_of_work uow(pool_);
  jobs.upsert(uow, job);
  uow.commit();
}

// ---- samples ----

domain::backup_job sample_job(std::string id, domain::provider p) {
  return domain::backup_job{std::move(id), "/vault/" + std::string(domain::to_string(p)), p, 30, true, false};
}

domain::accepted_payload sample_accepted(std::string id, std::string job_id) {
  using namespace std::chrono;
  domain::accepted_payload p;
  p.backup_request_id = std::move(id);
  p.backup_job_id = std::move(job_id);
  p.data_date = year{2026} / November / day{21};
  p.prepared_data_path_name = "/prepared/" + p.backup_job_id + "/2026-11-21";
  p.get_on_start_flag = true;
  p.transport_type_code = domain::transport::http;
  p.accepted_timestamp = floor<milliseconds>(std::chrono::system_clock::now());
  p.requester_id = "scheduler@example";
  return p;
}

domain::backup_request sample_request(std::string id, domain::request_status status,
                                      const domain::backup_job& job) {
  using enum domain::request_status;
  auto r = domain::to_backup_request(sample_accepted(std::move(id), job.backup_job_id));
  r.status_type_code = status;
  const auto t = *r.accepted_timestamp;
  if (status != accepted)
    r.received_timestamp = t + 1ms;
  if (status == allowed || status == not_allowed || status == sent || status == succeeded || status == failed)
    r.checked_timestamp = t + 2ms;
  if (status == allowed || status == sent || status == succeeded || status == failed) {
    r.backup_provider_code = job.backup_provider_code;
    r.storage_path_name = job.storage_path_name;
  }
  if (status == sent || status == succeeded || status == failed)
    r.sent_to_interface_timestamp = t + 3ms;
  if (status == succeeded || status == failed)
    r.reply_timestamp = t + 4ms;
  return r;
}

messaging::outgoing_message message_for(const domain::message_contract& contract, const std::string& queue,
                                        const std::string& id, nlohmann::json payload,
                                        const std::string& trace) {
  static const bkr::system_clock clock;
  auto e = messaging::make_envelope(std::string(contract.type), id, std::move(payload), "test", trace, clock);
  return {queue, std::move(e)};
}

messaging::outgoing_message accepted_message(const domain::accepted_payload& p, const std::string& trace) {
  return message_for(domain::accepted_message, std::string(domain::accepted_message.queue),
                     p.backup_request_id, nlohmann::json(p), trace);
}

messaging::outgoing_message received_message(const std::string& id) {
  return message_for(domain::received_message, std::string(domain::received_message.queue), id,
                     nlohmann::json(domain::received_payload{id}));
}

messaging::outgoing_message allowed_message(const std::string& id) {
  return message_for(domain::allowed_message, std::string(domain::allowed_message.queue), id,
                     nlohmann::json(domain::allowed_payload{id}));
}

messaging::outgoing_message status_message(const nlohmann::json& reply) {
  const auto id = reply.value("backupRequestId", std::string("?"));
  return message_for(domain::store_status_message, std::string(domain::store_status_message.queue), id,
                     reply);
}

nlohmann::json success_reply(const std::string& id) {
  return {{"apiVersion", "2022-08-15"},
          {"backupRequestId", id},
          {"resultTypeCode", "Succeeded"},
          {"storagePathName", "/vault/copies/" + id},
          {"backupByteCount", 123456789012LL},
          {"copyStartTimestamp", "2026-11-22T10:00:00.000Z"},
          {"copyEndTimestamp", "2026-11-22T10:05:00.000Z"},
          {"verifyStartTimestamp", "2026-11-22T10:05:00.000Z"},
          {"verifyEndTimestamp", "2026-11-22T10:06:00.000Z"},
          {"verifiedHash", "sha256:abc"},
          {"messageText", "stored"}};
}

nlohmann::json failure_reply(const std::string& id, const std::string& text) {
  return {{"apiVersion", "2022-08-15"},
          {"backupRequestId", id},
          {"resultTypeCode", "Failed"},
          {"messageText", text}};
}

}  // namespace bkr::test
