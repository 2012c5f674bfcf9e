// Scope checks against a cached view of client_authorization; lookup failures stay distinct from "forbidden".
#include "bkr/auth/scope_authorizer.hpp"

#include <algorithm>

namespace bkr::auth {

std::string_view to_string(decision d) noexcept {
  switch (d) {
    case decision::allowed:
      return "allowed";
    case decision::forbidden:
      return "forbidden";
    case decision::unavailable:
      return "unavailable";
  }
  return "?";
}

scope_authorizer::scope_authorizer(scope_lookup lookup, const bkr::clock& clock,
                                   scope_authorizer_options options)
    : lookup_(std::move(lookup)), clock_(clock), options_(options) {}

decision scope_authorizer::authorize(std::string_view subject, std::string_view required_scope) const {
  auto decide = [&](const std::optional<std::set<std::string>>& scopes) {
    // Linear: a client holds a handful of scopes, and this avoids building a std::string per request.
    const bool held = scopes && std::any_of(scopes->begin(), scopes->end(),
                                            [&](const std::string& s) { return s == required_scope; });
    return held ? decision::allowed : decision::forbidden;
  };
  {
    std::lock_guard lock(mutex_);
    if (auto it = cache_.find(subject); it != cache_.end()) {
      if (clock_.now() < it->second.valid_until)
        return decide(it->second.scopes);
      cache_.erase(it);
    }
  }

  std::optional<std::set<std::string>> scopes;
  try {
    scopes = lookup_(subject);
  } catch (...) {
    // Not knowing is not the same as not allowed: the caller answers 503, and nothing is cached.
    return decision::unavailable;
  }

  const timestamp now = clock_.now();
  const timestamp until = now + (scopes ? options_.ttl : options_.negative_ttl);
  const decision answer = decide(scopes);
  if (options_.capacity == 0)
    return answer;
  std::lock_guard lock(mutex_);
  if (cache_.size() >= options_.capacity && cache_.find(subject) == cache_.end()) {
    std::erase_if(cache_, [now](const auto& e) { return e.second.valid_until <= now; });
    // Still full of live entries: dropping one costs one more lookup later.
    if (cache_.size() >= options_.capacity)
      cache_.erase(cache_.begin());
  }
  cache_.insert_or_assign(std::string(subject), entry{std::move(scopes), until});
  return answer;
}

void scope_authorizer::forget(std::string_view subject) {
  std::lock_guard lock(mutex_);
  if (auto it = cache_.find(subject); it != cache_.end())
    cache_.erase(it);
}

std::size_t scope_authorizer::cached_clients() const {
  std::lock_guard lock(mutex_);
  return cache_.size();
}

}  // namespace bkr::auth
