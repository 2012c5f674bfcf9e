// The stages' batch paths against real Postgres: a batch of mixed messages gets the verdicts and the writes
// that handle() gives them one by one, in a handful of statements; batches they cannot take are declined;
// a batch that fails is undone and handled message by message.
#include "app_fixture.hpp"
#include "bkr/app/check_allowed.hpp"
#include "bkr/app/create_request.hpp"
#include "bkr/app/errors.hpp"
#include "bkr/app/outcome_mapping.hpp"
#include "bkr/app/receive_status.hpp"
#include "bkr/app/send_to_interface.hpp"
#include "bkr/common/ids.hpp"
#include "bkr/messaging/postgres/log.hpp"
#include "bkr/storage/unit_of_work.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <mutex>

using namespace bkr;
using namespace bkr::test;
using domain::request_status;

namespace {

using batch_results = std::optional<std::vector<result<app::stage_outcome>>>;

/// Runs `stage.handle_batch` over `messages` in one committed transaction.
batch_results run_batch(app_fixture& f, app::stage& stage,
                        const std::vector<messaging::outgoing_message>& in) {
  std::vector<messaging::envelope> messages;
  for (const auto& m : in)
    messages.push_back(m.message);
  storage::unit_of_work uow(f.pool());
  messaging::postgres::log_publisher out(uow);
  auto r = stage.handle_batch(uow, out, messages);
  uow.commit();
  return r;
}

bool is(const result<app::stage_outcome>& r, app::stage_outcome o) {
  return r.has_value() && *r == o;
}

bool is_error(const result<app::stage_outcome>& r, app::errc e) {
  return !r.has_value() && r.error().code == app::make_error_code(e);
}

/// Counts the lookups that reach the local job table.
class counting_jobs final : public app::backup_job_service {
 public:
  explicit counting_jobs(const storage::backup_job_repository& jobs) : local_(jobs) {}
  app::job_lookup find(storage::unit_of_work& uow, std::string_view id) override {
    ++calls[std::string(id)];
    return local_.find(uow, id);
  }
  std::map<std::string, int> calls;

 private:
  app::local_backup_job_service local_;
};

/// An interface that calls out before the transaction, like the HTTP adapter: its hand-over may refuse.
class calling_interface final : public app::backup_interface {
 public:
  bool wants_prepare() const override { return true; }
  result<void> hand_over(messaging::publisher&, const domain::store_request&,
                         const messaging::envelope&) override {
    return {};
  }
};

}  // namespace

TEST_CASE("CreateRequest's batch: new, stored at intake, redelivered and bad messages, as one by one",
          "[app][batch]") {
  app_fixture f;
  app::create_request stage{f.requests, f.clock(), "bkr-create-request"};
  const auto fresh_a = new_uuid_v7(), fresh_b = new_uuid_v7(), at_intake = new_uuid_v7(),
             done = new_uuid_v7();
  f.store_request(domain::to_backup_request(sample_accepted(at_intake)));
  f.store_request(sample_request(done, request_status::received));
  auto bad = accepted_message(sample_accepted(new_uuid_v7()));
  bad.message.payload["dataDate"] = "2026-02-30";
  auto foreign = received_message(new_uuid_v7());
  const std::vector<messaging::outgoing_message> batch{
      accepted_message(sample_accepted(fresh_a)), bad,     accepted_message(sample_accepted(at_intake)),
      accepted_message(sample_accepted(done)),    foreign, accepted_message(sample_accepted(fresh_b))};

  const auto r = run_batch(f, stage, batch);
  REQUIRE(r);
  REQUIRE(r->size() == batch.size());
  CHECK(is((*r)[0], app::stage_outcome::applied));
  CHECK(app::to_handler_result((*r)[1]).kind == messaging::outcome::reject);
  CHECK(is((*r)[2], app::stage_outcome::applied));
  CHECK(is((*r)[3], app::stage_outcome::already_done));
  CHECK(is_error((*r)[4], app::errc::unexpected_message));
  CHECK(is((*r)[5], app::stage_outcome::applied));

  for (const auto& id : {fresh_a, fresh_b, at_intake, done})
    CHECK(f.request(id)->status_type_code == request_status::received);
  CHECK(f.history(fresh_a).size() == 1);
  CHECK(f.history(fresh_a)[0].message_id == batch[0].message.message_id);
  CHECK(f.history(at_intake).size() == 2);
  CHECK(f.history(done).size() == 1);
  CHECK_FALSE(f.request(batch[1].message.key));
  std::vector<std::string> published;
  for (const auto& m : f.queued(std::string(domain::received_message.queue)))
    published.push_back(m.message.key);
  std::sort(published.begin(), published.end());
  std::vector<std::string> expected{fresh_a, fresh_b, at_intake};
  std::sort(expected.begin(), expected.end());
  CHECK(published == expected);

  // The same batch again: every request is already Received; nothing more is written or published.
  const auto again = run_batch(f, stage, batch);
  REQUIRE(again);
  for (std::size_t i : {0, 2, 3, 5})
    CHECK(is((*again)[i], app::stage_outcome::already_done));
  CHECK(f.history(fresh_a).size() == 1);
  CHECK(f.queued(std::string(domain::received_message.queue)).size() == 3);
}

TEST_CASE("a batch naming one request twice is declined: its messages run one by one, in order",
          "[app][batch]") {
  app_fixture f;
  app::create_request stage{f.requests, f.clock(), "bkr-create-request"};
  const auto id = new_uuid_v7();
  const auto m = accepted_message(sample_accepted(id));
  auto copy = m;
  copy.message.message_id = new_uuid_v7();
  CHECK_FALSE(run_batch(f, stage, {m, copy}));
  CHECK_FALSE(f.request(id));
}

TEST_CASE("CheckAllowed's batch: Allowed, NotAllowed, redelivered and unknown, each job asked once",
          "[app][batch]") {
  app_fixture f;
  counting_jobs jobs(f.jobs);
  app::check_allowed stage{f.pool(), f.requests, jobs, f.clock(), "bkr-check-allowed"};
  auto inactive = sample_job("job-off");
  inactive.is_active = false;
  f.store_job(sample_job("job-7", domain::provider::cloud_a));
  f.store_job(inactive);
  const auto a = new_uuid_v7(), b = new_uuid_v7(), c = new_uuid_v7(), no_job = new_uuid_v7(),
             already = new_uuid_v7();
  for (const auto& id : {a, b})
    f.store_request(sample_request(id, request_status::received));
  auto off = sample_request(c, request_status::received);
  off.backup_job_id = "job-off";
  f.store_request(off);
  auto missing = sample_request(no_job, request_status::received);
  missing.backup_job_id = "job-none";
  f.store_request(missing);
  f.store_request(sample_request(already, request_status::allowed));
  const auto unknown = new_uuid_v7();
  const std::vector<messaging::outgoing_message> batch{received_message(a),       received_message(c),
                                                       received_message(unknown), received_message(no_job),
                                                       received_message(already), received_message(b)};
  const auto r = run_batch(f, stage, batch);
  REQUIRE(r);
  CHECK(is((*r)[0], app::stage_outcome::applied));
  CHECK(is((*r)[1], app::stage_outcome::applied));
  CHECK(is_error((*r)[2], app::errc::unknown_request));
  CHECK(is((*r)[3], app::stage_outcome::applied));
  CHECK(is((*r)[4], app::stage_outcome::already_done));
  CHECK(is((*r)[5], app::stage_outcome::applied));

  CHECK(f.request(a)->status_type_code == request_status::allowed);
  CHECK(f.request(a)->backup_provider_code == domain::provider::cloud_a);
  CHECK(f.request(b)->status_type_code == request_status::allowed);
  CHECK(f.request(c)->status_type_code == request_status::not_allowed);
  CHECK(f.history(c).back().reason == "JobInactive");
  CHECK(f.request(no_job)->status_type_code == request_status::not_allowed);
  CHECK(f.history(no_job).back().reason == "JobNotFound");
  CHECK(f.history(already).size() == 1);
  CHECK(jobs.calls == std::map<std::string, int>{{"job-7", 1}, {"job-off", 1}, {"job-none", 1}});
  std::vector<std::string> published;
  for (const auto& m : f.queued(std::string(domain::allowed_message.queue)))
    published.push_back(m.message.key);
  std::sort(published.begin(), published.end());
  std::vector<std::string> expected{a, b};
  std::sort(expected.begin(), expected.end());
  CHECK(published == expected);
}

TEST_CASE("SendToInterface's batch hands over the Allowed ones, an interface that calls out is declined",
          "[app][batch]") {
  app_fixture f;
  const auto job = sample_job("job-7", domain::provider::cloud_b);
  const auto a = new_uuid_v7(), sent = new_uuid_v7(), early = new_uuid_v7();
  f.store_request(sample_request(a, request_status::allowed, job));
  f.store_request(sample_request(sent, request_status::sent, job));
  f.store_request(sample_request(early, request_status::received, job));
  const std::vector<messaging::outgoing_message> batch{allowed_message(a), allowed_message(sent),
                                                       allowed_message(early)};
  {
    calling_interface calling;
    app::send_to_interface stage{f.pool(), f.requests, calling, f.clock()};
    CHECK_FALSE(run_batch(f, stage, batch));
    CHECK(f.request(a)->status_type_code == request_status::allowed);
  }
  app::queue_backup_interface queue_interface(f.clock(), "bkr-send-to-interface");
  app::send_to_interface stage{f.pool(), f.requests, queue_interface, f.clock()};
  const auto r = run_batch(f, stage, batch);
  REQUIRE(r);
  CHECK(is((*r)[0], app::stage_outcome::applied));
  CHECK(is((*r)[1], app::stage_outcome::already_done));
  CHECK(app::to_handler_result((*r)[2]).kind == messaging::outcome::retry);  // too early: not Allowed yet
  CHECK(f.request(a)->status_type_code == request_status::sent);
  CHECK(f.request(early)->status_type_code == request_status::received);
  const auto store = f.queued(domain::store_request_queue(domain::provider::cloud_b));
  REQUIRE(store.size() == 1);
  CHECK(store[0].message.key == a);
}

TEST_CASE(
    "ReceiveStatus's batch: Backups and final statuses as one by one, two replies for one request "
    "are declined",
    "[app][batch]") {
  app_fixture f;
  counting_jobs jobs(f.jobs);
  app::receive_status stage{f.pool(), f.requests, f.backups, jobs, f.clock()};
  const auto job = sample_job("job-7", domain::provider::cloud_a);
  f.store_job(job);
  const auto ok = new_uuid_v7(), ok2 = new_uuid_v7(), failed = new_uuid_v7(), early = new_uuid_v7(),
             done = new_uuid_v7();
  for (const auto& id : {ok, ok2, failed})
    f.store_request(sample_request(id, request_status::sent, job));
  f.store_request(sample_request(early, request_status::allowed, job));
  f.store_request(sample_request(done, request_status::failed, job));
  const std::vector<messaging::outgoing_message> batch{
      status_message(success_reply(ok)), status_message(failure_reply(failed)),
      status_message(success_reply(early)), status_message(failure_reply(done)),
      status_message(success_reply(ok2))};
  const auto r = run_batch(f, stage, batch);
  REQUIRE(r);
  CHECK(is((*r)[0], app::stage_outcome::applied));
  CHECK(is((*r)[1], app::stage_outcome::applied));
  CHECK(app::to_handler_result((*r)[2]).kind == messaging::outcome::retry);
  CHECK(is((*r)[3], app::stage_outcome::already_done));
  CHECK(is((*r)[4], app::stage_outcome::applied));
  CHECK(f.request(ok)->status_type_code == request_status::succeeded);
  CHECK(f.request(ok2)->status_type_code == request_status::succeeded);
  CHECK(f.request(failed)->status_type_code == request_status::failed);
  CHECK(f.request(failed)->reply_message_text == "disk full");
  CHECK(f.request(early)->status_type_code == request_status::allowed);
  CHECK(f.backup_count(ok) == 1);
  CHECK(f.backup_count(ok2) == 1);
  CHECK(f.backup_count(failed) == 0);
  CHECK(f.backup_count(early) == 0);
  CHECK(jobs.calls == std::map<std::string, int>{{"job-7", 1}});

  // A success then a failure for one request in one batch must be applied in order, one by one.
  const auto twice = new_uuid_v7();
  f.store_request(sample_request(twice, request_status::sent, job));
  CHECK_FALSE(
      run_batch(f, stage, {status_message(success_reply(twice)), status_message(failure_reply(twice))}));
  CHECK(f.request(twice)->status_type_code == request_status::sent);
}

TEST_CASE("a batch that fails is undone whole and handled message by message", "[app][batch]") {
  app_fixture f;
  const std::string queue = "test.batch-fallback";
  // Writes one row per message in both paths; the batch path then fails.
  struct failing_batch final : messaging::handler {
    std::atomic<int> batches{0}, singles{0};
    static void write(messaging::handler_context& ctx, const messaging::delivery& d, const char* how) {
      ctx.native<storage::unit_of_work>().tx().exec_params(
          "INSERT INTO batch_marks (message_id, how) VALUES ($1, $2)", d.message.message_id,
          std::string(how));
    }
    messaging::handler_result handle(const messaging::delivery& d, messaging::handler_context& ctx) override {
      ++singles;
      write(ctx, d, "single");
      return messaging::handler_result::commit();
    }
    std::optional<std::vector<messaging::handler_result>> handle_batch(
        std::span<const messaging::delivery> batch, messaging::handler_context& ctx) override {
      ++batches;
      for (const auto& d : batch)
        write(ctx, d, "batch");
      throw std::runtime_error("batch path broken");
    }
  } handler;
  {
    storage::unit_of_work uow(f.pool());
    uow.tx().exec0("CREATE TABLE batch_marks (message_id uuid, how text)");
    uow.commit();
  }
  std::vector<messaging::outgoing_message> messages;
  for (int i = 0; i < 5; ++i)
    messages.push_back(message_for(domain::received_message, queue, new_uuid_v7(), {{"n", i}}));
  f.publish(messages);
  REQUIRE(f.consume_until(queue, handler, [&] { return f.depth(queue) == 0; }));
  CHECK(handler.batches >= 1);
  CHECK(handler.singles == 5);
  storage::unit_of_work uow(f.pool());
  const auto rows =
      uow.tx().exec("SELECT how, count(*), count(DISTINCT message_id) FROM batch_marks GROUP BY how");
  REQUIRE(rows.size() == 1);
  CHECK(rows[0][0].as<std::string>() == "single");
  CHECK(rows[0][1].as<int>() == 5);
  CHECK(rows[0][2].as<int>() == 5);
  CHECK(f.dead_letters(queue).empty());
}

TEST_CASE("a settlement waits for the WAL flush only when its consumer asks for it", "[app][batch]") {
  app_fixture f;
  const std::string queue = "test.settlement-commit";
  struct recording final : messaging::handler {
    std::mutex m;
    std::vector<std::string> seen;
    messaging::handler_result handle(const messaging::delivery&, messaging::handler_context& ctx) override {
      const auto r =
          ctx.native<storage::unit_of_work>().tx().exec("SELECT current_setting('synchronous_commit')");
      std::lock_guard lock(m);
      seen.push_back(r[0][0].as<std::string>());
      return messaging::handler_result::commit();
    }
    std::vector<std::string> values() {
      std::lock_guard lock(m);
      return seen;
    }
  };
  for (const bool synchronous : {false, true}) {
    recording handler;
    auto options = f.consumer_options(queue);
    options.synchronous_commit = synchronous;
    auto c = f.new_consumer(options, handler);
    c->start();
    f.publish(message_for(domain::received_message, queue, new_uuid_v7(), {{"n", 1}}));
    const bool done = eventually([&] { return f.depth(queue) == 0; });
    c->stop(5s);
    REQUIRE(done);
    CHECK(handler.values() == std::vector<std::string>{synchronous ? "on" : "off"});
  }
}
