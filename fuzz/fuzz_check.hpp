// What the fuzz targets share: property checks that abort (libFuzzer then keeps the input) and byte views.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace bkr::fuzz {

/// Aborts when `condition` is false, naming the broken property. Unlike assert() it is never compiled out,
/// and the abort is a crash to libFuzzer: the input is saved as an artifact.
inline void require(bool condition, std::string_view property) {
  if (condition)
    return;
  std::fprintf(stderr, "fuzz property broken: %.*s\n", static_cast<int>(property.size()), property.data());
  std::fflush(stderr);
  std::abort();
}

/// The fuzz input as text (any bytes; nothing here assumes UTF-8 or a terminating NUL).
inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

/// The first line of `text` (without its '\n'); `text` keeps what follows. `found` says whether there was
/// a '\n' (without one, the whole text is the line and `text` is left empty).
inline std::string_view take_line(std::string_view& text, bool& found) {
  const auto end = text.find('\n');
  found = end != std::string_view::npos;
  const auto line = text.substr(0, end);
  text.remove_prefix(found ? end + 1 : text.size());
  return line;
}

}  // namespace bkr::fuzz
