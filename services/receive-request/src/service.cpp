// Composition of bkr-receive-request: construction in dependency order, start, graceful stop in reverse.
#include "bkr/receive_request/service.hpp"

#include "bkr/http/client.hpp"
#include "bkr/messaging/postgres/migrations.hpp"
#include "bkr/storage/migration.hpp"

#include <boost/asio/post.hpp>

#include <pqxx/pqxx>

#include <algorithm>
#include <stdexcept>

#ifndef BKR_VERSION
#define BKR_VERSION "0.0.0"
#endif

namespace bkr::receive_request {
namespace {

namespace asio = boost::asio;

/// Reads the JWKS over HTTP (plain http only: libs/http's client has no TLS). Runs on a blocking thread.
auth::jwks_fetcher url_fetcher(std::string url) {
  return [url = std::move(url)] {
    http::blocking_client client;
    auto r = client.get(url);
    if (!r)
      throw infrastructure_error("JWKS fetch failed: " + r.error().message, true);
    if (r->status != 200)
      throw infrastructure_error("JWKS fetch answered HTTP " + std::to_string(r->status), true);
    return std::move(r->body);
  };
}

std::size_t blocking_threads(const settings& s) {
  // Every blocking thread can hold one pooled connection; the writers hold the others.
  return std::max<std::size_t>(1, s.pool_size - s.group_commit.writers);
}

std::unique_ptr<auth::jwks_cache> make_jwks(const settings& s, const bkr::clock& clock,
                                            asio::thread_pool& blocking) {
  auto options = s.auth.jwks;
  options.run_refresh = [ex = blocking.get_executor()](std::function<void()> job) {
    asio::post(ex, std::move(job));
  };
  if (s.auth.jwks_file)
    return std::make_unique<auth::jwks_cache>(auth::jwks_file_fetcher(*s.auth.jwks_file), clock, options);
  if (s.auth.jwks_url)
    return std::make_unique<auth::jwks_cache>(url_fetcher(*s.auth.jwks_url), clock, options);
  return nullptr;
}

std::unique_ptr<auth::jwt_verifier> make_verifier(const settings& s, auth::key_source& keys,
                                                  const bkr::clock& clock) {
  auto v = auth::jwt_verifier::create(s.auth.verifier, keys, clock);
  if (!v)
    throw std::invalid_argument("auth configuration: " + v.error().message);
  return std::move(*v);
}

http::server_options api_options(const settings& s) {
  http::server_options o;
  o.address = s.http_bind;
  o.port = s.http_port;
  o.reuse_port = s.http_reuse_port;
  o.threads = s.http_threads;
  o.body_limit = s.body_limit;
  o.max_connections = s.max_connections;
  return o;
}

}  // namespace

service::service(settings s, bkr::logger log, const bkr::clock& clock)
    : settings_(std::move(s)),
      log_(std::move(log)),
      clock_(clock),
      pool_({.conninfo = with_connect_timeout(settings_.database_url, settings_.connect_timeout),
             .size = settings_.pool_size,
             .acquire_timeout = std::max(settings_.group_commit.timeout, std::chrono::milliseconds{1000}),
             .application_name = "bkr-" + std::string(service_name)}),
      blocking_(blocking_threads(settings_)),
      health_(with_connect_timeout(settings_.database_url, settings_.connect_timeout),
              settings_.health_interval, clock_, registry_, log_),
      jwks_(make_jwks(settings_, clock_, blocking_)),
      verifier_(make_verifier(settings_, jwks_ ? static_cast<auth::key_source&>(*jwks_) : no_keys_, clock_)),
      authorizer_(make_scope_lookup(pool_), clock_, settings_.auth.scopes),
      committer_(pool_, settings_.group_commit, health_, registry_, log_),
      authenticator_(*verifier_, authorizer_, blocking_.get_executor(), registry_),
      endpoints_(committer_, authenticator_, pool_, blocking_.get_executor(), clock_, log_),
      ops_({.address = settings_.ops_bind,
            .port = settings_.ops_port,
            .service = std::string(service_name),
            .version = BKR_VERSION},
           registry_, log_) {}

service::~service() {
  stop();
}

void service::migrate() {
  pqxx::connection conn(with_connect_timeout(settings_.database_url, settings_.connect_timeout));
  const std::vector<storage::migration_set> sets{storage::storage_migrations(),
                                                 messaging::postgres::mq_migrations()};
  const auto applied = storage::migrate(conn, sets);
  log_.info("migrations applied", {{"applied", applied}});
}

void service::register_health() {
  ops_.add_readiness_check("postgres", [this] { return health_.reachable(); });
  ops_.add_health_provider("database", [this] { return health_.to_json(); });
  ops_.add_health_provider("breakers", [this] {
    // Requests fail fast (503) while Postgres is down: the accept path's circuit. Each breaker is an object
    // with its `state`, as in every worker's /healthz.
    return nlohmann::json{{"postgres", {{"state", health_.reachable() ? "closed" : "open"}}}};
  });
  ops_.add_health_provider("groupCommit", [this] {
    const auto& o = committer_.options();
    return nlohmann::json{{"pending", committer_.pending()},
                          {"maxPending", o.max_pending},
                          {"maxBatch", o.max_batch},
                          {"writers", o.writers},
                          {"timeoutMs", o.timeout.count()}};
  });
  ops_.add_health_provider("auth", [this] {
    nlohmann::json j = nlohmann::json::object();
    const auto stats = verifier_->stats();
    j["tokenCache"] = {{"hits", stats.hits}, {"misses", stats.misses}, {"size", stats.size}};
    j["cachedClients"] = authorizer_.cached_clients();
    if (jwks_) {
      const auto st = jwks_->state();
      j["jwks"] = {{"keyCount", st.key_count},
                   {"lastSuccess", st.last_success ? nlohmann::json(format_timestamp(*st.last_success))
                                                   : nlohmann::json(nullptr)},
                   {"lastError", st.last_error}};
    }
    return j;
  });
}

void service::start() {
  if (started_)
    return;
  if (settings_.migrate_on_start)
    migrate();
  if (jwks_) {
    auto loaded = jwks_->refresh();
    if (!loaded && settings_.auth.jwks_file)
      throw std::runtime_error("cannot load auth.jwks_file: " + loaded.error().message);
    if (!loaded)
      log_.warn("JWKS not loaded yet; RS256/ES256 tokens are refused until it is",
                {{"error", loaded.error().message}});
    else
      log_.info("JWKS loaded", {{"keys", *loaded}});
  }
  health_.start();
  if (!health_.reachable())
    log_.warn("postgres is not reachable at start; answering 503 until it is");
  committer_.start();
  register_health();
  ops_.start();
  api_ = std::make_unique<http::server>(
      api_options(settings_), make_routes(endpoints_, authenticator_, settings_.body_limit), registry_, log_);
  api_->start();
  started_ = true;
  log_.info("receive-request started", {{"httpPort", api_->port()},
                                        {"opsPort", ops_.port()},
                                        {"version", BKR_VERSION},
                                        {"groupCommitWriters", settings_.group_commit.writers}});
}

void service::stop() {
  if (!started_ || stopped_)
    return;
  stopped_ = true;
  log_.info("stopping: not ready, draining requests in flight",
            {{"drainDeadlineMs", settings_.drain_deadline.count()}});
  ops_.set_draining(true);
  // Requests in flight finish here, their group commits included: the writers are still running.
  api_->stop(settings_.drain_deadline);
  committer_.stop();
  blocking_.join();
  health_.stop();
  ops_.stop();
  log_.info("stopped");
}

std::uint16_t service::api_port() const noexcept {
  return api_ ? api_->port() : 0;
}

std::uint16_t service::ops_port() const noexcept {
  return ops_.port();
}

}  // namespace bkr::receive_request
