// JWKS parsing and the refreshing key cache that serves the last good key set.
#include "bkr/auth/jwks.hpp"

#include "bkr/auth/errors.hpp"
#include "key_factory.hpp"

#include <nlohmann/json.hpp>

#include <fstream>
#include <mutex>
#include <sstream>

namespace bkr::auth {
namespace {

bkr::error set_error(std::string message) {
  return {make_error_code(errc::invalid_key_set), std::move(message)};
}

constexpr long long never = 0;

long long ms(timestamp t) {
  return t.time_since_epoch().count();
}

}  // namespace

result<key_set> parse_jwks(std::string_view document) {
  const auto doc = nlohmann::json::parse(document, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded())
    return set_error("JWKS is not valid JSON");
  if (!doc.is_object())
    return set_error("JWKS must be a JSON object");
  const auto keys = doc.find("keys");
  if (keys == doc.end() || !keys->is_array())
    return set_error("JWKS has no `keys` array");
  std::vector<verification_key> usable;
  std::size_t index = 0;
  for (const auto& jwk : *keys) {
    auto key = key_factory::read_jwk(jwk);
    if (!key)
      return set_error("JWKS key #" + std::to_string(index) + ": " + key.error().message);
    if (*key)
      usable.push_back(std::move(**key));
    ++index;
  }
  if (usable.empty())
    return set_error("JWKS holds no RS256 or ES256 signing key");
  return key_set::make(std::move(usable));
}

jwks_fetcher jwks_file_fetcher(std::string path) {
  return [path = std::move(path)]() -> std::string {
    std::ifstream in(path, std::ios::binary);
    if (!in)
      throw infrastructure_error("cannot open JWKS file " + path, true);
    std::ostringstream body;
    body << in.rdbuf();
    if (in.bad())
      throw infrastructure_error("cannot read JWKS file " + path, true);
    return body.str();
  };
}

struct jwks_cache::shared_state {
  shared_state(jwks_fetcher f, const bkr::clock& c, jwks_cache_options o)
      : fetch(std::move(f)), clock(c), options(std::move(o)) {}

  const jwks_fetcher fetch;
  const bkr::clock& clock;
  const jwks_cache_options options;

  mutable std::mutex mutex;
  std::shared_ptr<const key_set> keys = std::make_shared<const key_set>();
  bool refreshing = false;  // one refresh at a time; readers keep the current set meanwhile
  long long next_periodic_ms = never;
  long long last_missing_key_attempt_ms = never;
  bool missing_key_attempted = false;
  jwks_cache::status status;

  // Performs a fetch; the caller has set `refreshing`. Never throws.
  result<std::size_t> run() {
    std::string failure;
    errc code = errc::key_set_unavailable;
    std::shared_ptr<const key_set> fresh;
    try {
      auto parsed = parse_jwks(fetch());
      if (parsed) {
        fresh = std::make_shared<const key_set>(std::move(*parsed));
      } else {
        code = errc::invalid_key_set;
        failure = parsed.error().message;
      }
    } catch (const std::exception& e) {
      failure = std::string("JWKS fetch failed: ") + e.what();
    } catch (...) {
      failure = "JWKS fetch failed";
    }
    const timestamp now = clock.now();
    std::lock_guard lock(mutex);
    refreshing = false;
    if (fresh) {
      keys = fresh;
      next_periodic_ms = ms(now) + options.refresh_period.count();
      status.key_count = fresh->size();
      status.last_success = now;
      status.last_error.clear();
      return fresh->size();
    }
    next_periodic_ms = ms(now) + std::min(options.retry_after_failure, options.refresh_period).count();
    status.last_failure = now;
    status.last_error = failure;
    return bkr::error{make_error_code(code), failure};
  }

  // Starts a refresh through options.run_refresh (or inline) unless one is running.
  void start(std::unique_lock<std::mutex>& lock, const std::shared_ptr<shared_state>& self) {
    refreshing = true;
    lock.unlock();
    if (!options.run_refresh) {
      run();
      return;
    }
    try {
      options.run_refresh([self] { self->run(); });
    } catch (...) {
      // The job never ran: let the next caller try again.
      std::lock_guard relock(mutex);
      refreshing = false;
    }
  }
};

jwks_cache::jwks_cache(jwks_fetcher fetch, const bkr::clock& clock, jwks_cache_options options)
    : state_(std::make_shared<shared_state>(std::move(fetch), clock, std::move(options))) {}

jwks_cache::~jwks_cache() = default;

result<std::size_t> jwks_cache::refresh() {
  {
    std::lock_guard lock(state_->mutex);
    // A refresh already running would race this one; its result is as fresh, so report the current set.
    if (state_->refreshing)
      return state_->keys->size();
    state_->refreshing = true;
  }
  return state_->run();
}

std::shared_ptr<const key_set> jwks_cache::current() {
  std::unique_lock lock(state_->mutex);
  if (!state_->refreshing && ms(state_->clock.now()) >= state_->next_periodic_ms)
    state_->start(lock, state_);
  if (!lock.owns_lock())
    lock.lock();
  return state_->keys;
}

std::shared_ptr<const key_set> jwks_cache::refresh_for_missing_key() {
  std::unique_lock lock(state_->mutex);
  const long long now = ms(state_->clock.now());
  const bool allowed = !state_->missing_key_attempted || now - state_->last_missing_key_attempt_ms >=
                                                             state_->options.missing_key_min_interval.count();
  if (allowed && !state_->refreshing) {
    state_->missing_key_attempted = true;
    state_->last_missing_key_attempt_ms = now;
    state_->start(lock, state_);
  }
  if (!lock.owns_lock())
    lock.lock();
  return state_->keys;
}

jwks_cache::status jwks_cache::state() const {
  std::lock_guard lock(state_->mutex);
  return state_->status;
}

}  // namespace bkr::auth
