// UUIDv7 generation (RFC 9562, with a per-thread monotonic sub-millisecond counter) and UUID validation.
#include "bkr/common/ids.hpp"

#include <array>
#include <cstdint>
#include <random>

namespace bkr {
namespace {

struct generator_state {
  std::mt19937_64 rng{std::random_device{}()};
  std::int64_t last_ms = -1;
  std::uint16_t counter = 0;  // 12-bit rand_a, used as a counter within one millisecond
};

thread_local generator_state state;

constexpr char hex_digits[] = "0123456789abcdef";

std::string to_text(const std::array<std::uint8_t, 16>& b) {
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      out.push_back('-');
    out.push_back(hex_digits[b[i] >> 4]);
    out.push_back(hex_digits[b[i] & 0x0f]);
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string new_uuid_v7(timestamp at) {
  std::int64_t ms = at.time_since_epoch().count();
  auto& st = state;
  // Same millisecond, or a small step back of the wall clock: keep ids increasing by bumping the counter
  // (borrowing the next millisecond on overflow). A large step back is an explicit earlier time: honour it.
  constexpr std::int64_t max_clock_step_back_ms = 10'000;
  if (ms <= st.last_ms && st.last_ms - ms < max_clock_step_back_ms) {
    ms = st.last_ms;
    if (++st.counter > 0x0fff) {
      ++ms;
      st.counter = static_cast<std::uint16_t>(st.rng() & 0x01ff);
    }
  } else {
    st.counter = static_cast<std::uint16_t>(st.rng() & 0x01ff);  // random start, headroom for increments
  }
  st.last_ms = ms;
  const std::uint64_t rand_b = st.rng();
  std::array<std::uint8_t, 16> b{};
  for (int i = 0; i < 6; ++i)
    b[static_cast<std::size_t>(i)] =
        static_cast<std::uint8_t>(static_cast<std::uint64_t>(ms) >> (40 - 8 * i));
  b[6] = static_cast<std::uint8_t>(0x70 | ((st.counter >> 8) & 0x0f));
  b[7] = static_cast<std::uint8_t>(st.counter & 0xff);
  for (int i = 0; i < 8; ++i)
    b[static_cast<std::size_t>(8 + i)] = static_cast<std::uint8_t>(rand_b >> (56 - 8 * i));
  b[8] = static_cast<std::uint8_t>(0x80 | (b[8] & 0x3f));  // RFC 9562 variant
  return to_text(b);
}

std::string new_uuid_v7() {
  return new_uuid_v7(system_clock{}.now());
}

bool is_uuid(std::string_view text) {
  if (text.size() != 36)
    return false;
  for (std::size_t i = 0; i < 36; ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-')
        return false;
    } else if (hex_value(text[i]) < 0) {
      return false;
    }
  }
  return true;
}

std::optional<timestamp> uuid_v7_time(std::string_view text) {
  if (!is_uuid(text) || text[14] != '7')
    return std::nullopt;
  std::int64_t ms = 0;
  for (std::size_t i = 0; i < 13; ++i) {
    if (i == 8)
      continue;
    ms = (ms << 4) | hex_value(text[i]);
  }
  return timestamp{std::chrono::milliseconds{ms}};
}

}  // namespace bkr
