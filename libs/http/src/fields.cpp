// Header field storage with case-insensitive names.
#include "bkr/http/fields.hpp"

#include <algorithm>

namespace bkr::http {
namespace {

char lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i]))
      return false;
  return true;
}

void fields::add(std::string name, std::string value) {
  items_.emplace_back(std::move(name), std::move(value));
}

void fields::set(std::string name, std::string value) {
  erase(name);
  add(std::move(name), std::move(value));
}

void fields::erase(std::string_view name) {
  std::erase_if(items_, [name](const field& f) { return iequals(f.first, name); });
}

std::optional<std::string_view> fields::get(std::string_view name) const {
  for (const auto& [n, v] : items_)
    if (iequals(n, name))
      return std::string_view(v);
  return std::nullopt;
}

std::size_t fields::count(std::string_view name) const {
  return static_cast<std::size_t>(
      std::count_if(items_.begin(), items_.end(), [name](const field& f) { return iequals(f.first, name); }));
}

}  // namespace bkr::http
