// bkrctl as operators run it: migrate, seed-demo and token against a real database, and its error messages.
#include "pg_test_database.hpp"
#include "process.hpp"

#include "bkr/common/ids.hpp"
#include "bkr/domain/status_machine.hpp"
#include "bkr/domain/validation.hpp"
#include "bkr/messaging/postgres/log.hpp"
#include "bkr/storage/backup_request_repository.hpp"
#include "bkr/storage/connection_pool.hpp"
#include "bkr/storage/unit_of_work.hpp"

#include <openssl/hmac.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

using bkr::test::built_executable;
using bkr::test::pg_test_database;
using bkr::test::run_process;

namespace {

const std::string secret = "0123456789abcdef0123456789abcdef-test";

std::string bkrctl() {
  return built_executable("tools/bkrctl/bkrctl");
}

std::string base64url_decode(std::string in) {
  for (auto& c : in)
    c = c == '-' ? '+' : c == '_' ? '/' : c;
  while (in.size() % 4)
    in.push_back('=');
  std::string out(in.size(), '\0');
  const int n =
      EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  REQUIRE(n >= 0);
  out.resize(static_cast<std::size_t>(n));
  while (!in.empty() && in.back() == '=') {
    in.pop_back();
    out.pop_back();
  }
  return out;
}

std::string base64url_encode(const unsigned char* data, std::size_t len) {
  std::string out(4 * ((len + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(len));
  out.resize(static_cast<std::size_t>(n));
  while (!out.empty() && out.back() == '=')
    out.pop_back();
  for (auto& c : out)
    c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

template <class T>
T scalar(pqxx::work& tx, const std::string& sql) {
  return tx.exec1(sql)[0].as<T>();
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      parts.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return parts;
}

}  // namespace

TEST_CASE("migrate applies every component once and is idempotent") {
  pg_test_database db(bkr::test::empty_database);
  auto first = run_process({bkrctl(), "migrate"}, {{"BKR_DATABASE_URL", db.conninfo()}});
  INFO(first.err);
  REQUIRE(first.exit_code == 0);
  CHECK_THAT(first.out, Catch::Contains("applied storage/0001"));
  CHECK_THAT(first.out, Catch::Contains("applied mq/0001"));
  auto second = run_process({bkrctl(), "migrate"}, {{"BKR_DATABASE_URL", db.conninfo()}});
  REQUIRE(second.exit_code == 0);
  CHECK_THAT(second.out, Catch::Contains("up to date"));

  pqxx::connection conn(db.conninfo());
  pqxx::work tx(conn);
  CHECK(scalar<int>(tx, "SELECT count(*) FROM bkr_schema_migrations WHERE component = 'storage'") >= 1);
  CHECK(scalar<int>(
            tx, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'backup_request'") == 1);
  CHECK(scalar<int>(tx, "SELECT count(*) FROM information_schema.schemata WHERE schema_name = 'mq'") == 1);
}

TEST_CASE("seed-demo writes the demo jobs and clients, and can run again") {
  pg_test_database db;
  for (int run = 0; run < 2; ++run) {
    auto r = run_process({bkrctl(), "seed-demo"}, {{"BKR_DATABASE_URL", db.conninfo()}});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  }
  pqxx::connection conn(db.conninfo());
  pqxx::work tx(conn);
  CHECK(scalar<int>(tx, "SELECT count(*) FROM backup_job") == 5);
  CHECK(scalar<int>(tx, "SELECT count(*) FROM backup_job WHERE is_active") == 4);
  CHECK(scalar<int>(tx, "SELECT count(*) FROM backup_job WHERE hold_flag") == 1);
  CHECK(scalar<int>(tx, "SELECT count(DISTINCT backup_provider_code) FROM backup_job") == 3);
  CHECK(scalar<int>(
            tx, "SELECT cardinality(scopes) FROM client_authorization WHERE client_id = 'demo-client'") == 4);
}

TEST_CASE("token mints a verifiable HS256 token with the configured claims") {
  auto r = run_process(
      {bkrctl(), "token", "--client", "demo-client", "--scopes", "post-backup-request,admin", "--ttl", "15m"},
      {{"BKR_AUTH_HS256_SECRET", secret},
       {"BKR_AUTH_ISSUERS", "issuer-one,issuer-two"},
       {"BKR_AUTH_AUDIENCE", "aud-x"}});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  std::string token = r.out;
  while (!token.empty() && token.back() == '\n')
    token.pop_back();
  const auto parts = split(token, '.');
  REQUIRE(parts.size() == 3);
  const auto header = nlohmann::json::parse(base64url_decode(parts[0]));
  const auto payload = nlohmann::json::parse(base64url_decode(parts[1]));
  CHECK(header["alg"] == "HS256");
  CHECK(payload["sub"] == "demo-client");
  CHECK(payload["iss"] == "issuer-one");
  CHECK(payload["aud"] == "aud-x");
  CHECK(payload["scope"] == "post-backup-request admin");
  CHECK(payload["exp"].get<long long>() - payload["iat"].get<long long>() == 900);

  const std::string signing_input = parts[0] + "." + parts[1];
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(), mac, &mac_len);
  CHECK(base64url_encode(mac, mac_len) == parts[2]);
}

TEST_CASE("token refuses missing or weak secrets and bad arguments, naming the problem") {
  auto no_secret =
      run_process({bkrctl(), "token", "--client", "c"}, {{"BKR_AUTH_HS256_SECRET", std::nullopt}});
  CHECK(no_secret.exit_code == 2);
  CHECK_THAT(no_secret.err, Catch::Contains("BKR_AUTH_HS256_SECRET"));
  CHECK(no_secret.out.empty());

  auto weak = run_process({bkrctl(), "token", "--client", "c"}, {{"BKR_AUTH_HS256_SECRET", "short-secret"}});
  CHECK(weak.exit_code == 2);
  CHECK_THAT(weak.err, Catch::Contains("at least 32"));
  CHECK(weak.err.find("short-secret") == std::string::npos);

  auto no_client = run_process({bkrctl(), "token"}, {{"BKR_AUTH_HS256_SECRET", secret}});
  CHECK(no_client.exit_code == 2);
  CHECK_THAT(no_client.err, Catch::Contains("--client is required"));

  auto bad_scope = run_process({bkrctl(), "token", "--client", "c", "--scopes", "root"},
                               {{"BKR_AUTH_HS256_SECRET", secret}});
  CHECK(bad_scope.exit_code == 2);
  CHECK_THAT(bad_scope.err, Catch::Contains("unknown scope 'root'"));

  auto bad_ttl = run_process({bkrctl(), "token", "--client", "c", "--ttl", "forever"},
                             {{"BKR_AUTH_HS256_SECRET", secret}});
  CHECK(bad_ttl.exit_code == 2);
  CHECK_THAT(bad_ttl.err, Catch::Contains("token.ttl"));
}

TEST_CASE("database commands explain a missing or unreachable database") {
  auto unset = run_process({bkrctl(), "migrate"}, {{"BKR_DATABASE_URL", std::nullopt}});
  CHECK(unset.exit_code == 1);
  CHECK_THAT(unset.err, Catch::Contains("BKR_DATABASE_URL is not set"));

  // A port nothing listens on (the fixture's cluster never uses port 1).
  auto unreachable = run_process(
      {bkrctl(), "migrate"},
      {{"BKR_DATABASE_URL", "host=127.0.0.1 port=1 dbname=x user=x password=hunter2 connect_timeout=2"}});
  CHECK(unreachable.exit_code == 1);
  CHECK_THAT(unreachable.err, Catch::Contains("cannot connect"));
  CHECK(unreachable.err.find("hunter2") == std::string::npos);

  auto unknown = run_process({bkrctl(), "frobnicate"});
  CHECK(unknown.exit_code == 2);
  CHECK_THAT(unknown.err, Catch::Contains("unknown command 'frobnicate'"));
}

TEST_CASE("status prints a stored request's journey, and says when there is none") {
  pg_test_database db;
  bkr::storage::connection_pool pool({.conninfo = db.conninfo(), .size = 1});
  const bkr::timestamp now{std::chrono::milliseconds{1'790'000'000'000}};
  const std::string id = bkr::new_uuid_v7(now);
  auto accepted = bkr::domain::make_accepted_request({.backup_job_id = "demo-local",
                                                      .data_date = *bkr::domain::parse_date("2026-11-20"),
                                                      .prepared_data_path_name = "/data/x"},
                                                     id, "demo-client", now);
  REQUIRE(accepted.has_value());
  auto moved = bkr::domain::receive(*accepted, {.now = now, .stage = "create-request", .message_id = "m-1"});
  REQUIRE(moved.has_value());
  const auto& applied = std::get<bkr::domain::applied>(*moved);
  {
    bkr::storage::unit_of_work uow(pool);
    REQUIRE(bkr::storage::backup_request_repository{}.insert(uow, applied.request, applied.history));
    uow.commit();
  }
  auto text = run_process({bkrctl(), "status", id}, {{"BKR_DATABASE_URL", db.conninfo()}});
  INFO(text.err);
  REQUIRE(text.exit_code == 0);
  CHECK_THAT(text.out, Catch::Contains(id + ": Received"));
  CHECK_THAT(text.out, Catch::Contains("Received"));
  CHECK_THAT(text.out, Catch::Contains("create-request"));

  auto json = run_process({bkrctl(), "status", id, "--json"}, {{"BKR_DATABASE_URL", db.conninfo()}});
  REQUIRE(json.exit_code == 0);
  const auto j = nlohmann::json::parse(json.out);
  CHECK(j["statusTypeCode"] == "Received");
  CHECK(j["history"].size() == 1);
  CHECK(j["backup"].is_null());

  auto none = run_process({bkrctl(), "status", "no-such-request"}, {{"BKR_DATABASE_URL", db.conninfo()}});
  CHECK(none.exit_code == 1);
  CHECK_THAT(none.err, Catch::Contains("no backup request no-such-request"));
}

TEST_CASE("recover re-publishes a request stalled in Received, once, and validates its flags") {
  pg_test_database db;
  bkr::storage::connection_pool pool({.conninfo = db.conninfo(), .size = 1});
  const auto long_ago = bkr::system_clock{}.now() - std::chrono::minutes{10};
  const std::string id = bkr::new_uuid_v7(long_ago);
  auto accepted = bkr::domain::make_accepted_request({.backup_job_id = "demo-local",
                                                      .data_date = *bkr::domain::parse_date("2026-11-20"),
                                                      .prepared_data_path_name = "/data/x"},
                                                     id, "demo-client", long_ago);
  REQUIRE(accepted.has_value());
  auto moved =
      bkr::domain::receive(*accepted, {.now = long_ago, .stage = "create-request", .message_id = "m-1"});
  REQUIRE(moved.has_value());
  const auto& applied = std::get<bkr::domain::applied>(*moved);
  {
    bkr::storage::unit_of_work uow(pool);
    REQUIRE(bkr::storage::backup_request_repository{}.insert(uow, applied.request, applied.history));
    uow.commit();
  }
  auto first =
      run_process({bkrctl(), "recover", "--older-than", "1m"}, {{"BKR_DATABASE_URL", db.conninfo()}});
  INFO(first.err);
  REQUIRE(first.exit_code == 0);
  const auto report = nlohmann::json::parse(first.out);
  CHECK(report["leader"] == true);
  CHECK(report["received"] == 1);
  {
    const auto waiting = bkr::messaging::postgres::log_admin(pool).peek("backup-request.received", 10);
    REQUIRE(waiting.size() == 1);
    CHECK(waiting[0].message.key == id);
  }
  // The message is still pending, so a second run leaves it alone.
  auto second =
      run_process({bkrctl(), "recover", "--older-than", "1m"}, {{"BKR_DATABASE_URL", db.conninfo()}});
  REQUIRE(second.exit_code == 0);
  CHECK(nlohmann::json::parse(second.out)["received"] == 0);
  CHECK(nlohmann::json::parse(second.out)["pending"] == 1);

  auto bad = run_process({bkrctl(), "recover", "--limit", "0"}, {{"BKR_DATABASE_URL", db.conninfo()}});
  CHECK(bad.exit_code == 2);
  CHECK_THAT(bad.err, Catch::Contains("--limit must be an integer between 1 and 100000"));
}

TEST_CASE("status finds an Accepted request still on the log, queues stats counts it and partitions grow") {
  pg_test_database db;
  bkr::storage::connection_pool pool({.conninfo = db.conninfo(), .size = 1});
  const std::map<std::string, std::optional<std::string>> env{{"BKR_DATABASE_URL", db.conninfo()}};
  const bkr::system_clock clock;
  const std::string id = bkr::new_uuid_v7(clock.now());
  {
    bkr::messaging::outgoing_message m;
    m.queue = "backup-request.accepted";
    m.message = bkr::messaging::make_envelope("BackupRequestAccepted", id, {{"backupRequestId", id}}, "test",
                                              "trace", clock);
    bkr::storage::unit_of_work uow(pool);
    bkr::messaging::postgres::log_publisher(uow).publish(std::move(m));
    uow.commit();
  }
  auto status = run_process({bkrctl(), "status", id}, env);
  INFO(status.err);
  REQUIRE(status.exit_code == 0);
  CHECK_THAT(status.out, Catch::Contains(id + ": Accepted"));

  auto stats = run_process({bkrctl(), "queues", "stats", "--json"}, env);
  REQUIRE(stats.exit_code == 0);
  const auto all = nlohmann::json::parse(stats.out);
  REQUIRE(all.size() == 1);
  CHECK(all[0]["queue"] == "backup-request.accepted");
  CHECK(all[0]["ready"] == 1);
  // Held back only while a write transaction elsewhere in the cluster (another test) is older than it.
  CHECK(all[0]["heldBack"].get<int>() <= 1);

  auto grow = run_process({bkrctl(), "queues", "partitions", "backup-request.accepted", "4"}, env);
  INFO(grow.err);
  CHECK(grow.exit_code == 0);
  CHECK_THAT(grow.out, Catch::Contains("has 4 partition(s)"));
  // Per partition: the one message stays in partition 0, where it was written before the queue grew.
  auto parts = run_process({bkrctl(), "queues", "stats", "--json"}, env);
  REQUIRE(parts.exit_code == 0);
  const auto by_part = nlohmann::json::parse(parts.out).at(0).at("partitions");
  REQUIRE(by_part.size() == 4);
  int lag = 0;
  for (const auto& p : by_part) {
    lag += p.at("lag").get<int>();
    CHECK(p.at("lagAgeMs").is_null() == (p.at("lag").get<int>() == 0));
  }
  CHECK(lag == 1);
  auto text = run_process({bkrctl(), "queues", "stats", "--partitions"}, env);
  REQUIRE(text.exit_code == 0);
  CHECK_THAT(text.out, Catch::Contains("partition 3: lag "));
  auto shrink = run_process({bkrctl(), "queues", "partitions", "backup-request.accepted", "2"}, env);
  CHECK(shrink.exit_code == 1);
  CHECK_THAT(shrink.err, Catch::Contains("may only grow"));
  auto word = run_process({bkrctl(), "queues", "partitions", "backup-request.accepted", "four"}, env);
  CHECK(word.exit_code == 2);
  CHECK_THAT(word.err, Catch::Contains("N must be a whole number"));
}
