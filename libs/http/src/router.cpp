// Path template parsing and matching, most specific template first, 404 vs 405.
#include "bkr/http/router.hpp"

#include <array>
#include <stdexcept>

namespace bkr::http {
namespace {

// Splits `/a/b` into `a`, `b`; `/` is one empty segment, and a trailing slash adds an empty segment, so
// `/a` and `/a/` stay different paths.
template <class Fn>
void for_each_segment(std::string_view path, Fn&& fn) {
  path.remove_prefix(1);
  for (;;) {
    const auto slash = path.find('/');
    fn(path.substr(0, slash));
    if (slash == std::string_view::npos)
      return;
    path.remove_prefix(slash + 1);
  }
}

bool is_param_name(std::string_view s) {
  if (s.empty())
    return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
      return false;
  return true;
}

constexpr std::array<method, 7> allow_order{method::get,   method::head, method::post,   method::put,
                                            method::patch, method::del,  method::options};

}  // namespace

std::vector<router::segment> router::parse_template(std::string_view t) {
  if (t.empty() || t.front() != '/')
    throw std::invalid_argument("path template must start with '/': " + std::string(t));
  if (t.find_first_of("?#") != std::string_view::npos)
    throw std::invalid_argument("path template may not contain a query or fragment: " + std::string(t));
  std::vector<segment> out;
  for_each_segment(t, [&](std::string_view s) {
    const bool has_brace = s.find_first_of("{}") != std::string_view::npos;
    if (!has_brace) {
      out.push_back({std::string(s), false});
      return;
    }
    if (s.size() < 3 || s.front() != '{' || s.back() != '}' || !is_param_name(s.substr(1, s.size() - 2)))
      throw std::invalid_argument("a template parameter must be a whole segment {name}: " + std::string(t));
    const auto name = s.substr(1, s.size() - 2);
    for (const auto& seg : out)
      if (seg.param && seg.text == name)
        throw std::invalid_argument("duplicate parameter {" + std::string(name) + "} in " + std::string(t));
    out.push_back({std::string(name), true});
  });
  return out;
}

router& router::add(http::method m, std::string path_template, http::handler h, route_options options) {
  if (!h)
    throw std::invalid_argument("route " + path_template + " has no handler");
  auto segs = parse_template(path_template);
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    if (routes_[i].method != m || segments_[i].size() != segs.size())
      continue;
    bool same_shape = true;
    for (std::size_t k = 0; k < segs.size() && same_shape; ++k)
      same_shape =
          segs[k].param == segments_[i][k].param && (segs[k].param || segs[k].text == segments_[i][k].text);
    if (same_shape)
      throw std::invalid_argument(std::string(to_string(m)) + " " + path_template + " clashes with " +
                                  routes_[i].path_template);
  }
  routes_.push_back(route{.index = routes_.size(),
                          .method = m,
                          .path_template = std::move(path_template),
                          .handler = std::move(h),
                          .options = std::move(options)});
  segments_.push_back(std::move(segs));
  return *this;
}

route_match router::match(http::method m, std::string_view path) const {
  route_match out;
  if (path.empty() || path.front() != '/')
    return out;

  std::vector<std::string_view> parts;
  for_each_segment(path, [&](std::string_view s) { parts.push_back(s); });

  std::array<bool, allow_order.size()> allowed{};
  const std::vector<segment>* best = nullptr;
  std::size_t best_index = 0;
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    const auto& segs = segments_[i];
    if (segs.size() != parts.size())
      continue;
    bool matches = true;
    for (std::size_t k = 0; k < segs.size() && matches; ++k)
      matches = segs[k].param ? !parts[k].empty() : segs[k].text == parts[k];
    if (!matches)
      continue;
    if (routes_[i].method != m) {
      for (std::size_t a = 0; a < allow_order.size(); ++a)
        if (allow_order[a] == routes_[i].method)
          allowed[a] = true;
      continue;
    }
    // Most specific wins: the first segment where the two differ decides, literal over parameter.
    bool better = best == nullptr;
    for (std::size_t k = 0; k < segs.size() && !better; ++k) {
      if (segs[k].param != (*best)[k].param) {
        better = !segs[k].param;
        break;
      }
    }
    if (better) {
      best = &segs;
      best_index = i;
    }
  }

  if (best != nullptr) {
    path_params params;
    for (std::size_t k = 0; k < best->size(); ++k) {
      if (!(*best)[k].param)
        continue;
      auto decoded = percent_decode(parts[k]);
      if (!decoded)
        return out;  // a malformed escape cannot name a resource
      params.add((*best)[k].text, std::move(*decoded));
    }
    out.kind = match_kind::found;
    out.route = &routes_[best_index];
    out.params = std::move(params);
    return out;
  }

  for (std::size_t a = 0; a < allow_order.size(); ++a) {
    if (!allowed[a])
      continue;
    if (!out.allow.empty())
      out.allow += ", ";
    out.allow += to_string(allow_order[a]);
  }
  if (!out.allow.empty())
    out.kind = match_kind::method_not_allowed;
  return out;
}

}  // namespace bkr::http
