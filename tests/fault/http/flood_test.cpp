// Thousands of abusive connections against the real binary, many at once: afterwards it is still up, its
// open connections are back to zero, its resident memory grew by less than a stated bound, and not one of
// the bad requests reached mq.
#include "fault_support.hpp"
#include "queue_rows.hpp"

#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <iostream>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

using namespace bkr::fault_test;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

/// Growth of VmRSS allowed between the end of the warm-up and the end of the flood.
constexpr long rss_growth_bound_kb = 16 * 1024;

#if defined(__SANITIZE_ADDRESS__)
// AddressSanitizer's quarantine keeps freed memory resident by design: the figures are reported only.
constexpr bool rss_is_meaningful = false;
#else
constexpr bool rss_is_meaningful = true;
#endif

/// One kind of abuse: the bytes sent on one connection, how many answers to expect, which statuses are
/// acceptable, and whether the client hangs up right after sending.
struct abuse {
  std::string name;
  std::string bytes;
  std::size_t answers = 1;      // 0: none expected (the client hangs up)
  std::set<unsigned> statuses;  // acceptable statuses of each answer
  bool closes = true;           // the server closes the connection after the answer
  bool may_be_reset = false;    // the client keeps sending after the answer, so a reset may eat it
  bool hang_up = false;
};

std::vector<abuse> abuse_kinds(const std::string& token, unsigned seed) {
  std::mt19937 rng(seed);
  std::string noise(512 + rng() % 3000, '\0');
  for (auto& ch : noise)
    ch = static_cast<char>(rng() % 256);
  for (auto& ch : noise)
    if (ch == '\r' || ch == '\n')
      ch = 'x';  // no early end of a header block

  const std::string valid = bkr::rr_test::accept_body("flood");
  const auto repeat = [](const std::string& one, int n) {
    std::string s;
    for (int i = 0; i < n; ++i)
      s += one;
    return s;
  };
  std::string many_headers;
  for (int i = 0; i < 2000; ++i)
    many_headers += "X-H" + std::to_string(i) + ": v\r\n";

  const std::string head = "POST /api/backup-requests HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " + token +
                           "\r\nContent-Type: application/json\r\n";
  return {
      {"garbage", noise + "\r\n\r\n", 1, {400}},
      {"64 KiB header line",
       json_post(post_route, valid, token, "X-Big: " + std::string(64 * 1024, 'b') + "\r\n"),
       1,
       {431},
       true,
       true},
      {"2,000 headers", json_post(post_route, valid, token, many_headers), 1, {431}, true, true},
      {"1 MiB announced, 256 KiB pushed",
       head + "Content-Length: 1048576\r\n\r\n" + std::string(256 * 1024, 'x'),
       1,
       {413},
       true,
       true},
      {"5 malformed JSON bodies",
       repeat(json_post(post_route, "{\"apiVersion\":", token), 5),
       5,
       {400},
       false},
      {"5 invalid UTF-8 bodies",
       repeat(json_post(post_route,
                        R"({"apiVersion":"2022-05-22","backupJobId":"j","dataDate":"2026-01-15",)"
                        "\"backupDataLocation\":\"/\xff\xfe\"}",
                        token),
              5),
       5,
       {400},
       false},
      {"5 bad tokens", repeat(json_post(post_route, valid, "x.y.z"), 5), 5, {401}, false},
      {"wrong routes and methods",
       "GET /nope HTTP/1.1\r\nHost: t\r\n\r\nDELETE /api/backup-requests HTTP/1.1\r\nHost: t\r\n\r\n"
       "GET /api/store-status-replies HTTP/1.1\r\nHost: t\r\n\r\n",
       3,
       {404, 405},
       false},
      {"text/plain body",
       head.substr(0, head.find("Content-Type")) +
           "Content-Type: text/plain\r\nContent-Length: " + std::to_string(valid.size()) + "\r\n\r\n" + valid,
       1,
       {415}},
      {"chunked with a request inside",
       head + "Transfer-Encoding: chunked\r\n\r\n100\r\n" + json_post(post_route, valid, token),
       1,
       {411}},
      {"body cut short, then gone",
       head + "Content-Length: 500\r\n\r\n" + valid.substr(0, 40),
       0,
       {},
       false,
       false,
       true},
      {"half a header, then gone",
       "POST /api/backup-requests HTTP/1.1\r\nHost: t\r\nContent-Ty",
       0,
       {},
       false,
       false,
       true},
  };
}

struct tally {
  std::mutex mutex;
  std::size_t connections = 0;
  std::size_t requests = 0;
  std::map<unsigned, std::size_t> statuses;
  std::vector<std::string> problems;

  void problem(std::string p) {
    std::lock_guard lock(mutex);
    if (problems.size() < 20)
      problems.push_back(std::move(p));
  }
};

void run_one(const fault_service& svc, const abuse& a, tally& t) {
  bkr::test::raw_connection c(svc.port());
  exchange_result got;
  if (a.hang_up) {
    c.send(a.bytes);
  } else {
    got = exchange(c.fd(), a.bytes, 15s, a.answers);
    if (a.closes && !got.closed) {
      auto rest = exchange(c.fd(), "", 5s);
      got.received += rest.received;
      got.closed = rest.closed;
    }
  }
  std::vector<bkr::rr_test::reply> replies;
  try {
    replies = parse_replies(got.received);
  } catch (const std::exception& e) {
    t.problem(a.name + ": " + e.what());
  }
  {
    std::lock_guard lock(t.mutex);
    ++t.connections;
    t.requests += std::max<std::size_t>(a.answers, 1);
    for (const auto& r : replies)
      ++t.statuses[r.status];
  }
  if (a.hang_up)
    return;
  if (a.closes && !got.closed)
    t.problem(a.name + ": the connection was not closed");
  const bool reset_ok = a.may_be_reset && replies.empty() && got.closed;
  if (replies.size() != a.answers && !reset_ok)
    t.problem(a.name + ": " + std::to_string(replies.size()) + " answers");
  for (const auto& r : replies) {
    if (!a.statuses.count(r.status))
      t.problem(a.name + ": status " + std::to_string(r.status) + " " + r.body);
    const auto body = nlohmann::json::parse(r.body, nullptr, false);
    if (!body.is_object() || !body.contains("code") || !body.contains("message") ||
        !body.contains("requestId"))
      t.problem(a.name + ": not a JSON error body: " + r.body);
    for (const auto& leak : leaked_internals(r, {}))
      t.problem(a.name + ": " + leak);
  }
}

// Opens `count` connections that send the start of a header and then stall, and holds them until the
// server cuts each one off (its header timeout). Returns how many were cut off.
std::size_t hold_stalled(const fault_service& svc, std::size_t count, tally& t) {
  std::vector<std::unique_ptr<bkr::test::raw_connection>> conns;
  for (std::size_t i = 0; i < count; ++i) {
    conns.push_back(std::make_unique<bkr::test::raw_connection>(svc.port()));
    conns.back()->send("POST /api/backup-requests HTTP/1.1\r\nHost: t\r\nX-Stalled: " + std::to_string(i));
  }
  std::vector<bool> cut(count, false);
  std::size_t cut_count = 0;
  const auto deadline = steady::now() + 15s;
  while (cut_count < count && steady::now() < deadline) {
    std::vector<pollfd> fds;
    std::vector<std::size_t> index;
    for (std::size_t i = 0; i < count; ++i) {
      if (!cut[i]) {
        fds.push_back({conns[i]->fd(), POLLIN, 0});
        index.push_back(i);
      }
    }
    ::poll(fds.data(), fds.size(), 100);
    for (std::size_t k = 0; k < fds.size(); ++k) {
      if ((fds[k].revents & (POLLIN | POLLHUP | POLLERR)) == 0)
        continue;
      char buf[512];
      const auto n = ::recv(fds[k].fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0)
        t.problem("a stalled client got an answer: " + std::string(buf, static_cast<std::size_t>(n)));
      cut[index[k]] = true;
      ++cut_count;
    }
  }
  std::lock_guard lock(t.mutex);
  t.connections += count;
  t.requests += count;
  return cut_count;
}

// Runs `total` abusive connections over `workers` threads (kinds in turn) while `stalled` connections are
// held open at the same time.
void flood(const fault_service& svc, const std::string& token, std::size_t total, std::size_t workers,
           std::size_t stalled, tally& t) {
  std::atomic<std::size_t> next{0};
  std::size_t stalled_cut = 0;
  std::vector<std::thread> threads;
  threads.emplace_back([&] { stalled_cut = hold_stalled(svc, stalled, t); });
  for (std::size_t w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      const auto kinds = abuse_kinds(token, static_cast<unsigned>(w));
      for (std::size_t i = next++; i < total; i = next++) {
        try {
          run_one(svc, kinds[i % kinds.size()], t);
        } catch (const std::exception& e) {
          t.problem(kinds[i % kinds.size()].name + ": " + e.what());
        }
      }
    });
  }
  for (auto& th : threads)
    th.join();
  if (stalled_cut != stalled)
    t.problem(std::to_string(stalled - stalled_cut) + " stalled connections were never cut off");
}

std::string describe(const tally& t) {
  std::ostringstream s;
  s << t.connections << " connections, " << t.requests << " requests; answers:";
  for (const auto& [status, n] : t.statuses)
    s << " " << status << "x" << n;
  return s.str();
}

}  // namespace

TEST_CASE("thousands of abusive connections leave the service up, its memory bounded and mq untouched",
          "[fault][http][flood]") {
  fault_service svc;
  const std::string token = dev_token();
  const auto at_start = read_memory(svc.pid());

  // Warm-up: valid traffic and one smaller round of every abuse, so that caches, metric label sets,
  // connection buffers and the allocator's arenas have reached their working size.
  int accepted = 0;
  {
    bkr::rr_test::http_connection conn(svc.port(), 10s);
    for (int i = 0; i < 200; ++i) {
      const auto r = conn.request("POST", post_route, bkr::rr_test::json_headers(token),
                                  bkr::rr_test::accept_body("warm-" + std::to_string(i)));
      accepted += r.status == 202 ? 1 : 0;
    }
  }
  REQUIRE(accepted == 200);
  tally warm;
  flood(svc, token, 600, 32, 200, warm);
  INFO("warm-up: " << describe(warm));
  for (const auto& p : warm.problems)
    FAIL_CHECK(p);
  REQUIRE(wait_api_connections_at_most(svc, 0, 10s));
  const auto before = read_memory(svc.pid());

  const auto t0 = steady::now();
  tally main;
  flood(svc, token, 2400, 48, 400, main);
  const auto flood_time = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t0);
  INFO("flood: " << describe(main) << " in " << flood_time.count() << " ms");
  for (const auto& p : main.problems)
    FAIL_CHECK(p);
  CHECK(main.connections >= 2000);
  REQUIRE(wait_api_connections_at_most(svc, 0, 10s));
  const auto after = read_memory(svc.pid());

  const long growth = after.rss_kb - before.rss_kb;
  std::cout << "bkr_fault_http memory: VmRSS " << at_start.rss_kb << " kB at start, " << before.rss_kb
            << " kB after warm-up, " << after.rss_kb << " kB after the flood (growth " << growth
            << " kB, bound " << rss_growth_bound_kb << " kB); VmHWM " << before.hwm_kb << " kB -> "
            << after.hwm_kb << " kB; " << describe(main) << " in " << flood_time.count() << " ms\n";
  INFO("VmRSS " << before.rss_kb << " kB -> " << after.rss_kb << " kB, VmHWM " << before.hwm_kb << " kB -> "
                << after.hwm_kb << " kB");
  if (rss_is_meaningful)
    CHECK(growth < rss_growth_bound_kb);
  else
    WARN("sanitized build: resident memory growth of " << growth << " kB not checked");

  // Not one bad request became a message: only the warm-up's 200 valid ones exist.
  CHECK(bkr::rr_test::message_count(svc.conninfo()) == 200);
  check_still_serving(svc, "after-flood");
  CHECK(bkr::rr_test::message_count(svc.conninfo()) == 201);
}
