// What every stage stamps on the message it publishes, and the type check of what it consumes.
#include "bkr/app/stage.hpp"
#include "bkr/app/errors.hpp"

#include <catch2/catch.hpp>

TEST_CASE("the next message carries the cause's trace id and the producer, keyed by the request",
          "[app][stage]") {
  bkr::manual_clock clock(bkr::timestamp{std::chrono::milliseconds{1'763'806'530'123}});
  bkr::messaging::envelope cause;
  cause.message_id = "0195f0c8-0000-7000-8000-000000000001";
  cause.trace_id = "trace-42";
  const auto m = bkr::app::next_message(bkr::domain::received_message, "backup-request.received", "req-1",
                                        {{"backupRequestId", "req-1"}}, cause, "bkr-create-request", clock);
  CHECK(m.queue == "backup-request.received");
  CHECK(m.message.type == "BackupRequestReceived");
  CHECK(m.message.schema_version == 1);
  CHECK(m.message.key == "req-1");
  CHECK(m.message.trace_id == "trace-42");
  CHECK(m.message.producer == "bkr-create-request");
  CHECK(m.message.occurred_at == clock.now());
  CHECK(m.message.message_id != cause.message_id);
  CHECK(m.delay == std::chrono::milliseconds{0});
  CHECK(m.message.payload == nlohmann::json{{"backupRequestId", "req-1"}});
}

TEST_CASE("a stage accepts only its queue's message type and known schema versions", "[app][stage]") {
  bkr::messaging::envelope m;
  m.type = "BackupRequestAccepted";
  m.schema_version = 1;
  CHECK(bkr::app::check_contract(m, bkr::domain::accepted_message).has_value());
  auto wrong = bkr::app::check_contract(m, bkr::domain::received_message);
  REQUIRE_FALSE(wrong.has_value());
  CHECK(wrong.error().code == bkr::app::errc::unexpected_message);
  CHECK_THAT(wrong.error().message, Catch::Contains("BackupRequestAccepted"));
  m.schema_version = 2;
  auto newer = bkr::app::check_contract(m, bkr::domain::accepted_message);
  REQUIRE_FALSE(newer.has_value());
  CHECK_THAT(newer.error().message, Catch::Contains("schemaVersion 2"));
}
