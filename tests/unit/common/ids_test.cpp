// UUIDv7 generation: format, version and variant bits, time prefix, ordering, uniqueness across threads.
#include "bkr/common/ids.hpp"

#include <catch2/catch.hpp>

#include <mutex>
#include <set>
#include <thread>
#include <vector>

TEST_CASE("new_uuid_v7 produces canonical version 7 UUIDs") {
  const auto id = bkr::new_uuid_v7();
  REQUIRE(id.size() == 36);
  CHECK(bkr::is_uuid(id));
  CHECK(id[14] == '7');
  CHECK(std::string("89ab").find(id[19]) != std::string::npos);  // RFC 9562 variant 10xx
  for (char c : id)
    CHECK((c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')));
}

TEST_CASE("the UUIDv7 carries its creation time") {
  const bkr::timestamp t{std::chrono::milliseconds{1'790'000'000'123}};
  const auto id = bkr::new_uuid_v7(t);
  REQUIRE(bkr::uuid_v7_time(id).has_value());
  CHECK(*bkr::uuid_v7_time(id) == t);
}

TEST_CASE("ids from one thread are strictly increasing, also within one millisecond") {
  const bkr::timestamp t{std::chrono::milliseconds{1'790'000'000'000}};
  std::string previous = bkr::new_uuid_v7(t);
  for (int i = 0; i < 20000; ++i) {  // more than the 12-bit counter holds, so it must roll into the next ms
    auto next = bkr::new_uuid_v7(t);
    REQUIRE(next > previous);
    previous = std::move(next);
  }
}

TEST_CASE("ids are unique across threads") {
  std::set<std::string> all;
  std::mutex m;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      std::vector<std::string> mine;
      for (int i = 0; i < 5000; ++i)
        mine.push_back(bkr::new_uuid_v7());
      std::lock_guard lock(m);
      all.insert(mine.begin(), mine.end());
    });
  }
  for (auto& th : threads)
    th.join();
  CHECK(all.size() == 20000);
}

TEST_CASE("is_uuid and uuid_v7_time reject malformed text") {
  CHECK(bkr::is_uuid("01890a5d-ac96-774b-bcce-b302099a8057"));
  CHECK(bkr::is_uuid("01890A5D-AC96-774B-BCCE-B302099A8057"));
  CHECK_FALSE(bkr::is_uuid(""));
  CHECK_FALSE(bkr::is_uuid("01890a5d-ac96-774b-bcce-b302099a805"));
  CHECK_FALSE(bkr::is_uuid("01890a5dac96-774b-bcce-b302099a80577"));
  CHECK_FALSE(bkr::is_uuid("01890a5d-ac96-774b-bcce-b302099a805g"));
  CHECK_FALSE(bkr::uuid_v7_time("01890a5d-ac96-474b-bcce-b302099a8057").has_value());  // version 4
  CHECK_FALSE(bkr::uuid_v7_time("not-a-uuid").has_value());
}
