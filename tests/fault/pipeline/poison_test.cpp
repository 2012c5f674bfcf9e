// Poison messages on every queue a stage consumes, mixed into a normal run: each is dead-lettered once with a
// reason naming its problem, nothing else is, and every normal request completes.
//
// Where malformed input is stopped:
//   - text that is not JSON cannot reach a queue: mq payload columns are `json`, so Postgres refuses the
//     row (invalid_text_representation), and the HTTP intakes answer 400 InvalidJson before enqueueing;
//   - JSON that Postgres stores but the consumer cannot read (a number beyond double range such as 1e999, an
//     unpaired surrogate escape) reaches the consumer: it must dead-letter that message alone ("payload is
//     not readable JSON");
//   - JSON that is not an object, a wrong type or schemaVersion, an apiVersion that is no date, bad fields
//     and unknown backupRequestIds reach the stage, which rejects them (libs/app outcome mapping).
#include "fault_harness.hpp"
#include "pg_test_database.hpp"

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include <algorithm>
#include <random>
#include <set>

using namespace bkr::test;
using namespace bkr::fault_test;
using namespace std::chrono_literals;

namespace {

struct poison {
  std::string queue;
  std::string type;
  int schema_version = 1;
  std::string payload;  ///< JSON text as stored
  std::string reason;   ///< what the dead letter's reason must contain
  std::string message_id;
  std::string key;
};

std::string random_uuid() {
  static std::mt19937_64 random{std::random_device{}()};
  static constexpr char hex[] = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20)
      s += '-';
    s += hex[random() & 0xf];
  }
  s[14] = '4';  // version 4
  s[19] = '8';  // RFC 4122 variant
  return s;
}

std::string accepted_payload(const std::string& id, const std::string& date) {
  return nlohmann::json{{"backupRequestId", id},
                        {"backupJobId", "demo-local"},
                        {"dataDate", date},
                        {"preparedDataPathName", "/poison/" + id},
                        {"getOnStartFlag", true},
                        {"transportTypeCode", "HTTP"},
                        {"statusTypeCode", "Accepted"},
                        {"acceptedTimestamp", "2026-01-15T10:00:00.000Z"},
                        {"requesterId", "demo-client"}}
      .dump();
}

std::string reply_payload(const std::string& id, const std::string& api_version) {
  return nlohmann::json{{"apiVersion", api_version},
                        {"backupRequestId", id},
                        {"resultTypeCode", "Succeeded"},
                        {"storagePathName", "local/poison/" + id},
                        {"backupByteCount", 1024},
                        {"copyStartTimestamp", "2026-01-15T10:00:00.000Z"},
                        {"copyEndTimestamp", "2026-01-15T10:00:01.000Z"}}
      .dump();
}

/// One wave: for every queue a stage consumes, each kind of poison that queue can receive.
std::vector<poison> make_wave() {
  const std::string unreadable = R"({"backupRequestId": "x", "size": 1e999})";
  const std::string unpaired_surrogate = R"({"backupRequestId": "\ud800"})";
  const std::string not_an_object = nlohmann::json(R"({"backupRequestId": "trunc)").dump();
  std::vector<poison> wave;
  auto add = [&](std::string queue, std::string type, int version, std::string payload, std::string reason) {
    wave.push_back({std::move(queue), std::move(type), version, std::move(payload), std::move(reason)});
  };
  const auto id = [] { return random_uuid(); };
  // CreateRequest. The accepted message is the request itself (nothing is stored before it), so an id
  // nobody knows is not poison there: a field breaking its rule is.
  add("backup-request.accepted", "BackupRequestAccepted", 1, unreadable, "payload is not readable JSON");
  add("backup-request.accepted", "BackupRequestAccepted", 1, not_an_object, "must be a JSON object");
  add("backup-request.accepted", "BackupRequestAccepted", 99, accepted_payload(id(), "2026-01-15"),
      "unsupported schemaVersion 99");
  add("backup-request.accepted", "BackupRequestReceived", 1, accepted_payload(id(), "2026-01-15"),
      "unexpected message type");
  add("backup-request.accepted", "BackupRequestAccepted", 1, accepted_payload(id(), "2026-02-30"),
      "dataDate");
  // CheckAllowed and SendToInterface.
  for (const auto& [queue, type] :
       std::vector<std::pair<std::string, std::string>>{{"backup-request.received", "BackupRequestReceived"},
                                                        {"backup-request.allowed", "BackupRequestAllowed"}}) {
    add(queue, type, 1, unreadable, "payload is not readable JSON");
    add(queue, type, 1, unpaired_surrogate, "payload is not readable JSON");
    add(queue, type, 1, not_an_object, "must be a JSON object");
    add(queue, type, 99, nlohmann::json{{"backupRequestId", id()}}.dump(), "unsupported schemaVersion 99");
    const auto unknown = id();
    add(queue, type, 1, nlohmann::json{{"backupRequestId", unknown}}.dump(),
        "unknown backupRequestId " + unknown);
  }
  // ReceiveStatus.
  const std::string status_queue = "backup-interface.store-status";
  add(status_queue, "StoreStatusReply", 1, unreadable, "payload is not readable JSON");
  add(status_queue, "StoreStatusReply", 1, not_an_object, "must be a JSON object");
  add(status_queue, "StoreStatusReply", 99, reply_payload(id(), "2022-08-15"),
      "unsupported schemaVersion 99");
  add(status_queue, "StoreStatusReply", 1, reply_payload(id(), "v2"), "apiVersion");
  const auto unknown = id();
  add(status_queue, "StoreStatusReply", 1, reply_payload(unknown, "2022-08-15"),
      "unknown backupRequestId " + unknown);
  // The fake interface's queue (it stands in for a system we do not own, but its consumer is ours).
  add("backup-interface.local.store-request", "StoreRequest", 1, unreadable, "payload is not readable JSON");
  add("backup-interface.local.store-request", "StoreRequest", 1, not_an_object, "invalid store request");
  for (auto& p : wave) {
    p.message_id = random_uuid();
    p.key = p.message_id;
  }
  return wave;
}

/// Appends the wave to the log the way a producer's publish does (same columns and partition, then the
/// doorbell), bypassing the publisher's JSON encoding so that unreadable payloads get in.
void inject(const std::string& conninfo, const std::vector<poison>& wave) {
  pqxx::connection c(conninfo);
  pqxx::work tx(c);
  for (const auto& p : wave) {
    tx.exec_params(
        "INSERT INTO mq.log (queue, part, message_id, type, schema_version, key, occurred_at, trace_id, "
        "producer, payload) VALUES ($2, mod(hashtext($5)::bigint + 2147483648, coalesce((SELECT partitions "
        "FROM mq.log_queues WHERE queue = $2), 1))::smallint, $1::uuid, $3, $4, $5, now(), $6, "
        "'fault-poison', $7::json)",
        p.message_id, p.queue, p.type, p.schema_version, p.key, "poison-" + p.message_id, p.payload);
  }
  tx.commit();
  pqxx::nontransaction ring(c);
  for (const auto& p : wave)
    ring.exec_params("SELECT pg_notify(mq.channel($1), '')", p.queue);
}

}  // namespace

TEST_CASE("poison: malformed messages on every consumed queue are dead-lettered alone, with their reason",
          "[fault][poison]") {
  const auto sc = scale::from_environment();
  const int requests = sc.requests_or(3000);
  const int waves = sc.soak ? 10 : 3;

  pg_test_database db;
  seed(db.conninfo());
  const auto dir = scratch_dir("fault-poison");
  const auto api_port = free_port();
  stack processes(pipeline_apps(db.conninfo(), api_port), dir);
  processes.start_all();
  processes.require_ready(60s);
  const auto token = mint_token(db.conninfo());

  // Text that is not JSON does not get into a queue: the column refuses it, the intakes answer 400.
  {
    pqxx::connection c(db.conninfo());
    pqxx::work tx(c);
    CHECK_THROWS_AS(
        tx.exec_params("INSERT INTO mq.log (queue, part, message_id, type, schema_version, key, "
                       "occurred_at, payload) VALUES ($2, 0, $1::uuid, $3, 1, $4, now(), $5::json)",
                       random_uuid(), "backup-request.received", "BackupRequestReceived", "k",
                       R"({"backupRequestId": )"),
        pqxx::data_exception);
  }
  for (const auto* route : {"/api/backup-requests", "/api/store-status-replies"}) {
    INFO(route);
    const auto r = bkr::rr_test::http_call(api_port, "POST", route, bkr::rr_test::json_headers(token),
                                           std::string(R"({"apiVersion": "2022-05-22", "backupJobId": )"));
    CHECK(r.status == 400);
    CHECK(r.json().at("code") == "InvalidJson");
  }

  const auto started = std::chrono::steady_clock::now();
  supervisor watch(processes, {.restart_delay = 1s});
  load_run load({.api_port = api_port,
                 .token = token,
                 .count = requests,
                 .threads = 4,
                 .rate = 300,
                 .key_prefix = "poison",
                 .job_of = job_mix});
  std::vector<poison> injected;
  for (int w = 0; w < waves; ++w) {
    const long due = static_cast<long>(requests) * (w + 1) / (waves + 1);
    REQUIRE(eventually([&] { return load.progress() >= due; }, 2min, 50ms));
    auto wave = make_wave();
    inject(db.conninfo(), wave);
    injected.insert(injected.end(), wave.begin(), wave.end());
  }
  const auto& submitted = load.result();
  std::map<std::string, std::string> accepted;
  for (const auto& a : submitted.accepted)
    accepted[a.id] = a.job;
  CHECK(submitted.given_up == 0);

  const auto report = settle_and_check(db.conninfo(), accepted, 3min);
  // Every poison message is a dead letter before the queues drain; nothing else is.
  const bool all_dead =
      eventually([&] { return dead_letters(db.conninfo()).size() >= injected.size(); }, 30s, 200ms);
  watch.stop();
  const auto dead = dead_letters(db.conninfo());
  std::map<std::string, const dead_letter*> dead_by_id;
  for (const auto& d : dead)
    dead_by_id[d.message_id] = &d;
  long matched = 0, wrong_reason = 0, not_dead = 0;
  std::string details;  // the first few offenders, for the failure message
  auto detail = [&details](const std::string& line) {
    if (std::count(details.begin(), details.end(), '\n') < 20)
      details += line + "\n";
  };
  for (const auto& p : injected) {
    const auto it = dead_by_id.find(p.message_id);
    if (it == dead_by_id.end()) {
      ++not_dead;
      detail("not dead-lettered: " + p.queue + " " + p.type + " v" + std::to_string(p.schema_version) + " " +
             p.payload);
      continue;
    }
    const auto& d = *it->second;
    if (d.queue != p.queue || d.reason.find(p.reason) == std::string::npos) {
      ++wrong_reason;
      detail("dead letter " + d.queue + " " + d.message_id + " reason '" + d.reason + "', expected '" +
             p.reason + "'");
      continue;
    }
    ++matched;
  }
  std::set<std::string> poison_ids;
  for (const auto& p : injected)
    poison_ids.insert(p.message_id);
  long innocent = 0;
  for (const auto& d : dead) {
    if (!poison_ids.contains(d.message_id)) {
      ++innocent;
      detail("dead letter that is no poison: " + d.queue + " " + d.key + ": " + d.reason);
    }
  }
  long max_attempts = 0;
  for (const auto& d : dead)
    max_attempts = std::max<long>(max_attempts, d.attempts);
  const auto unexpected = watch.unexpected_exits();
  for (const auto& u : unexpected)
    detail("unexpected exit " + u);
  INFO(report.summary() << "\n" << report.example << "\n" << details);

  print_summary(
      "poison",
      "requests=" + std::to_string(requests) + " " + report.summary() +
          " poison=" + std::to_string(injected.size()) + " poison_dead_lettered=" + std::to_string(matched) +
          " wrong_reason=" + std::to_string(wrong_reason) + " not_dead_lettered=" + std::to_string(not_dead) +
          " innocent_dead_letters=" + std::to_string(innocent) +
          " max_dead_letter_attempts=" + std::to_string(max_attempts) +
          " unexpected_exits=" + std::to_string(unexpected.size()) + " seconds=" + seconds_since(started));

  CHECK(all_dead);
  CHECK(matched == static_cast<long>(injected.size()));
  CHECK(innocent == 0);
  CHECK(dead.size() == injected.size());
  // A poison message is rejected on its first delivery: it never loops through retries.
  CHECK(max_attempts == 1);
  check_invariants(report, requests);
  CHECK(unexpected.empty());

  stop_cleanly(processes, dir);
}
