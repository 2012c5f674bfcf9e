// Slow and stalled clients against the real binary: cut off by the header, body and write timeouts (5 s,
// 10 s and 10 s, libs/http defaults) without an answer, while a well-behaved client is served throughout.
#include "fault_support.hpp"
#include "openapi_contract.hpp"
#include "queue_rows.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

using namespace bkr::fault_test;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

enum class pace {
  byte_per_tick,      // the whole request, one byte every tick
  body_per_tick,      // the header at once, then the body one byte every tick
  silent,             // connects and sends nothing
  partial_then_wait,  // the start of a header block, then waits
  half_body_stalls,   // the header and half of the body, then nothing
  never_reads,        // pipelines thousands of requests and never reads an answer
};

struct slow_client {
  std::string name;
  pace how;
  std::chrono::milliseconds expected_cut;  // after `timer_start`
  std::unique_ptr<bkr::test::raw_connection> conn;
  std::string request;
  std::size_t sent = 0;
  steady::time_point timer_start{};  // when the server's timeout starts to run
  std::optional<steady::time_point> closed_at;
  std::string received;
  std::string server_socket;  // never_reads: the inode of the server's end
};

constexpr auto tick = 100ms;
constexpr std::chrono::milliseconds header_timeout{5'000};
constexpr std::chrono::milliseconds body_timeout{10'000};
constexpr std::chrono::milliseconds write_timeout{10'000};

bool send_bytes(slow_client& c, std::size_t n) {
  n = std::min(n, c.request.size() - c.sent);
  if (n == 0)
    return true;
  const auto r = ::send(c.conn->fd(), c.request.data() + c.sent, n, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (r < 0)
    return errno == EAGAIN || errno == EWOULDBLOCK;
  c.sent += static_cast<std::size_t>(r);
  return true;
}

std::uint16_t local_port(int fd) {
  sockaddr_storage a{};
  socklen_t n = sizeof a;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n) != 0)
    return 0;
  if (a.ss_family == AF_INET)
    return ntohs(reinterpret_cast<const sockaddr_in*>(&a)->sin_port);
  return ntohs(reinterpret_cast<const sockaddr_in6*>(&a)->sin6_port);
}

/// The socket inode of the server's end of the connection from `client_port` ("" until the server has
/// accepted it): read from the kernel's TCP tables, which may skip a row while connections come and go, so
/// only used to find the socket, not to see it go.
std::string server_socket(std::uint16_t server_port, std::uint16_t client_port) {
  const auto port_of = [](const std::string& address) {
    const auto colon = address.rfind(':');
    return colon == std::string::npos ? 0UL : std::stoul(address.substr(colon + 1), nullptr, 16);
  };
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // the column names
    while (std::getline(in, line)) {
      std::istringstream f(line);
      std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
      f >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode;
      if (port_of(local) == server_port && port_of(remote) == client_port && inode != "0")
        return inode;
    }
  }
  return {};
}

/// Whether process `pid` still has socket `inode` open. A client that never reads cannot always tell that
/// the server closed its connection: a reset aimed past its full receive window is dropped, and once it has
/// sent everything it provokes no other.
bool holds_socket(pid_t pid, const std::string& inode) {
  const std::string wanted = "socket:[" + inode + "]";
  std::error_code ec;
  for (const auto& fd : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    std::error_code link_ec;
    if (std::filesystem::read_symlink(fd.path(), link_ec).string() == wanted)
      return true;
  }
  return false;
}

}  // namespace

TEST_CASE(
    "slow clients are cut off after the header, body or write timeout without an answer, while others are "
    "served",
    "[fault][http][slow]") {
  fault_service svc;
  const std::string token = dev_token();

  // Bodies of 300 bytes: a byte per tick would take 30 s, far past either timeout.
  const auto slow_body = [&](const std::string& job) {
    auto j = nlohmann::json::parse(bkr::rr_test::accept_body(job));
    j["padding"] = "";
    j["padding"] = std::string(300 - j.dump().size(), 'p');
    return json_post(post_route, j.dump(), token);
  };
  const std::string partial = "POST /api/backup-requests HTTP/1.1\r\nHost: t\r\nContent-Le";

  std::vector<slow_client> clients;
  for (int i = 0; i < 8; ++i)
    clients.push_back({"byte-per-tick-" + std::to_string(i), pace::byte_per_tick, header_timeout, nullptr,
                       slow_body("slow-header-" + std::to_string(i))});
  for (int i = 0; i < 8; ++i)
    clients.push_back({"body-per-tick-" + std::to_string(i), pace::body_per_tick, body_timeout, nullptr,
                       slow_body("slow-body-" + std::to_string(i))});
  for (int i = 0; i < 4; ++i)
    clients.push_back({"silent-" + std::to_string(i), pace::silent, header_timeout, nullptr, ""});
  for (int i = 0; i < 2; ++i)
    clients.push_back(
        {"partial-header-" + std::to_string(i), pace::partial_then_wait, header_timeout, nullptr, partial});
  // About 3 MB of requests whose answers (some 17 MB) fill every buffer on the way back.
  std::string pipelined;
  for (int i = 0; i < 100'000; ++i)
    pipelined += "GET /n HTTP/1.1\r\nHost: t\r\n\r\n";
  for (int i = 0; i < 2; ++i)
    clients.push_back(
        {"never-reads-" + std::to_string(i), pace::never_reads, write_timeout, nullptr, pipelined});
  for (int i = 0; i < 2; ++i)
    clients.push_back({"half-body-" + std::to_string(i), pace::half_body_stalls, body_timeout, nullptr,
                       slow_body("stalled-" + std::to_string(i))});

  // The well-behaved client, on its own thread for the whole time.
  std::atomic<bool> done{false};
  std::vector<unsigned> served_statuses;
  std::chrono::milliseconds slowest{0};
  std::string served_error;
  std::thread served([&] {
    try {
      bkr::rr_test::http_connection conn(svc.port(), 10s);
      for (int i = 0; !done; ++i) {
        const auto t0 = steady::now();
        const auto r = conn.request("POST", post_route, bkr::rr_test::json_headers(token),
                                    bkr::rr_test::accept_body("served-" + std::to_string(i)));
        const auto live = bkr::rr_test::http_call(svc.ops_port(), "GET", "/livez");
        slowest =
            std::max(slowest, std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t0));
        served_statuses.push_back(r.status == 202 && live.status == 200 ? 202 : r.status);
        std::this_thread::sleep_for(50ms);  // pacing of the served client, not a wait for a condition
      }
    } catch (const std::exception& e) {
      served_error = e.what();
    }
  });

  // Start every slow client.
  for (auto& c : clients) {
    // A client that never reads has a small receive window, so that the answers back up quickly.
    c.conn = std::make_unique<bkr::test::raw_connection>(svc.port(), c.how == pace::never_reads ? 4096 : 0);
    c.timer_start = steady::now();
    bool ok = true;
    switch (c.how) {
      case pace::byte_per_tick:
        ok = send_bytes(c, 1);
        break;
      case pace::body_per_tick:
      case pace::half_body_stalls: {
        const auto header_end = c.request.find("\r\n\r\n") + 4;
        const auto body_size = c.request.size() - header_end;
        ok = send_bytes(c, header_end + (c.how == pace::half_body_stalls ? body_size / 2 : 0));
        c.timer_start = steady::now();
        break;
      }
      case pace::partial_then_wait:
        ok = send_bytes(c, c.request.size());
        break;
      case pace::never_reads:
        ok = send_bytes(c, c.request.size());
        break;
      case pace::silent:
        break;
    }
    REQUIRE(ok);
  }

  // The server's end of each connection that never reads, to see it closed from the server's side.
  for (auto& c : clients)
    if (c.how == pace::never_reads) {
      const auto port = local_port(c.conn->fd());
      REQUIRE(bkr::rr_test::eventually(
          [&] { return !(c.server_socket = server_socket(svc.port(), port)).empty(); }, 5s));
    }

  // Feed them at their pace until the server has cut every one of them off (or far past the timeouts).
  const auto give_up = steady::now() + std::max(body_timeout, write_timeout) + 10s;
  auto next_tick = steady::now() + tick;
  for (;;) {
    std::vector<pollfd> fds;
    std::vector<slow_client*> live;
    for (auto& c : clients) {
      if (!c.closed_at) {
        // A client that never reads learns of the end from the hang-up, if at all (see holds_socket).
        fds.push_back({c.conn->fd(), static_cast<short>(c.how == pace::never_reads ? POLLRDHUP : POLLIN), 0});
        live.push_back(&c);
      }
    }
    if (live.empty() || steady::now() > give_up)
      break;
    ::poll(fds.data(), fds.size(), 20);
    const auto now = steady::now();
    for (auto* c : live)
      if (c->how == pace::never_reads && !holds_socket(svc.pid(), c->server_socket))
        c->closed_at = now;
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if ((fds[i].revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)) == 0)
        continue;
      if (live[i]->how == pace::never_reads) {
        live[i]->closed_at = now;
        continue;
      }
      char buf[4096];
      const auto n = ::recv(fds[i].fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0)
        live[i]->received.append(buf, static_cast<std::size_t>(n));  // an answer: checked below
      else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
        live[i]->closed_at = now;
    }
    if (now >= next_tick) {
      next_tick += tick;
      for (auto* c : live) {
        if (c->closed_at ||
            (c->how != pace::byte_per_tick && c->how != pace::body_per_tick && c->how != pace::never_reads))
          continue;
        if (!send_bytes(*c, c->how == pace::never_reads ? c->request.size() : 1))
          c->closed_at = now;  // reset while sending: cut off
      }
    }
  }
  done = true;
  served.join();

  for (const auto& c : clients) {
    INFO(c.name << " (sent " << c.sent << " of " << c.request.size() << " bytes)");
    REQUIRE(c.closed_at.has_value());
    const auto after = std::chrono::duration_cast<std::chrono::milliseconds>(*c.closed_at - c.timer_start);
    INFO("cut off after " << after.count() << " ms, expected about " << c.expected_cut.count() << " ms");
    CHECK(after >= c.expected_cut - 500ms);
    // The write timeout starts once the answers have backed up, a little after the first request.
    CHECK(after <= c.expected_cut + (c.how == pace::never_reads ? 6s : 4s));
    CHECK(c.received.empty());  // no answer, not even a 408
    if (c.how == pace::byte_per_tick || c.how == pace::body_per_tick)
      CHECK(c.sent < c.request.size());  // cut off before it could finish
  }

  INFO("served client: " << served_error);
  CHECK(served_error.empty());
  REQUIRE(served_statuses.size() >= 20);
  CHECK(std::all_of(served_statuses.begin(), served_statuses.end(), [](unsigned s) { return s == 202; }));
  INFO("slowest served round trip " << slowest.count() << " ms");
  CHECK(slowest < 2s);

  // Only the served client's requests exist; none of the slow ones was ever executed.
  const auto messages = bkr::rr_test::queued_messages(svc.conninfo());
  CHECK(messages.size() == served_statuses.size());
  for (const auto& m : messages)
    CHECK_THAT(m.payload.value("backupJobId", ""), Catch::StartsWith("served-"));
  CHECK(wait_api_connections_at_most(svc, 0, 5s));
  check_still_serving(svc);
}
