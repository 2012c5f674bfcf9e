// Header fields of a request or response: ordered name/value pairs with case-insensitive lookup.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bkr::http {

/// True when `a` and `b` are equal ignoring ASCII case (header names, media types).
bool iequals(std::string_view a, std::string_view b) noexcept;

/// Header fields in arrival order. Names compare case-insensitively. Value type; not synchronized.
class fields {
 public:
  using field = std::pair<std::string, std::string>;

  fields() = default;
  fields(std::initializer_list<field> init) : items_(init) {}

  /// Appends a field (repeated names are kept, as HTTP allows).
  void add(std::string name, std::string value);
  /// Replaces every field of this name by one with `value`.
  void set(std::string name, std::string value);
  /// Removes every field of this name.
  void erase(std::string_view name);
  /// The first value of `name`, if present.
  std::optional<std::string_view> get(std::string_view name) const;
  bool contains(std::string_view name) const { return get(name).has_value(); }
  /// How many fields carry `name` (a singleton field sent twice is ambiguous).
  std::size_t count(std::string_view name) const;

  bool empty() const noexcept { return items_.empty(); }
  std::size_t size() const noexcept { return items_.size(); }
  void reserve(std::size_t n) { items_.reserve(n); }
  auto begin() const noexcept { return items_.begin(); }
  auto end() const noexcept { return items_.end(); }

 private:
  std::vector<field> items_;
};

}  // namespace bkr::http
