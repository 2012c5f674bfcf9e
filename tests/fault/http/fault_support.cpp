// The attacked service, contract checks of its error answers, non-blocking raw exchanges, /proc readings.
#include "fault_support.hpp"

#include "openapi_contract.hpp"
#include "queue_rows.hpp"
#include "tokens.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <fstream>
#include <random>
#include <sstream>

namespace bkr::fault_test {
namespace {

using steady = std::chrono::steady_clock;

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::map<std::string, std::string> prepared_environment(const bkr::test::pg_test_database& db,
                                                        const std::map<std::string, std::string>& overrides) {
  rr_test::seed_clients(db.conninfo());
  auto env = rr_test::service_environment(db.conninfo());
  // Development tokens only, as a local run with `bkrctl token` would have them.
  env.erase("BKR_AUTH_JWKS_FILE");
  env["BKR_AUTH_ALGORITHMS"] = "HS256";
  env["BKR_AUTH_HS256_SECRET"] = dev_secret();
  for (const auto& [k, v] : overrides)
    env[k] = v;
  return env;
}

// Fragments that only appear in an answer when something internal escaped into it.
constexpr std::string_view internal_markers[] = {
    "exception", "what()", "nlohmann", "boost", "beast",       "asio",         "pqxx",      "libpq",
    "postgres",  "sql",    "std::",    ".cpp",  ".hpp",        "/work/",       "/usr/",     "segmentation",
    "errno",     "stack",  "terminat", "abort", "parse_error", "syntax error", "type_error"};

}  // namespace

const std::string& dev_secret() {
  static const std::string secret = [] {
    std::random_device rd;
    std::string s;
    static constexpr char hex[] = "0123456789abcdef";
    for (int i = 0; i < 48; ++i)
      s.push_back(hex[rd() % 16]);
    return s;
  }();
  return secret;
}

std::string dev_token(std::string_view subject) {
  return rr_test::hs256_token(dev_secret(), rr_test::claims_for(subject));
}

fault_service::fault_service(const std::map<std::string, std::string>& overrides)
    : process_(prepared_environment(db_, overrides)) {}

rr_test::reply to_reply(const bkr::test::http_reply& r) {
  rr_test::reply out;
  out.status = r.status;
  out.headers = r.headers;
  out.body = r.body;
  return out;
}

std::vector<std::string> leaked_internals(const rr_test::reply& r, const std::vector<std::string>& secrets) {
  std::vector<std::string> problems;
  std::string text = r.body;
  for (const auto& [name, value] : r.headers)
    text += "\n" + name + ": " + value;
  const std::string low = lower(text);
  for (const auto marker : internal_markers) {
    if (low.find(marker) != std::string::npos)
      problems.push_back("the answer mentions '" + std::string(marker) + "': " + text);
  }
  std::vector<std::string> hidden = secrets;
  hidden.push_back(dev_secret());
  for (const auto& s : hidden) {
    // A recognisable piece is enough to count as leaked.
    const auto piece = s.substr(0, std::min<std::size_t>(s.size(), 24));
    if (piece.size() >= 8 && text.find(piece) != std::string::npos)
      problems.push_back("the answer echoes a secret the client sent: " + text);
  }
  return problems;
}

namespace {

void check_error_shape(const rr_test::reply& r, unsigned status, std::string_view code,
                       const std::vector<std::string>& secrets) {
  INFO("answer " << r.status << " " << r.body);
  CHECK(r.status == status);
  CHECK_THAT(r.header("content-type"), Catch::StartsWith("application/json"));
  const auto body = nlohmann::json::parse(r.body, nullptr, false);
  REQUIRE(body.is_object());
  CHECK(body.value("code", "") == code);
  CHECK((body.contains("message") && body["message"].is_string()));
  REQUIRE((body.contains("requestId") && body["requestId"].is_string()));
  CHECK_FALSE(body["requestId"].get<std::string>().empty());
  CHECK(body["requestId"] == r.header("x-request-id"));
  for (const auto& p : leaked_internals(r, secrets))
    FAIL_CHECK(p);
}

}  // namespace

void check_error(const rr_test::reply& r, unsigned status, std::string_view code, std::string_view method,
                 std::string_view path_template, const std::vector<std::string>& secrets) {
  check_error_shape(r, status, code, secrets);
  for (const auto& p : rr_test::openapi_contract::instance().check(method, path_template, r))
    FAIL_CHECK(p);
}

void check_component_error(const rr_test::reply& r, unsigned status, std::string_view code,
                           std::string_view component) {
  check_error_shape(r, status, code, {});
  for (const auto& p : rr_test::openapi_contract::instance().check_component(component, r))
    FAIL_CHECK(p);
}

std::string check_still_serving(const fault_service& svc, std::string_view job) {
  CHECK(rr_test::http_call(svc.ops_port(), "GET", "/livez").status == 200);
  const auto r = rr_test::http_call(svc.port(), "POST", post_route, rr_test::json_headers(dev_token()),
                                    rr_test::accept_body(job, "/data/" + std::string(job)));
  REQUIRE(r.status == 202);
  rr_test::require_conforms("POST", post_route, r);
  const std::string id = r.json().at("backupRequestId");
  const auto messages = rr_test::queued_messages(svc.conninfo());
  CHECK(std::any_of(messages.begin(), messages.end(), [&](const auto& m) {
    return m.message_id == id && m.payload.value("backupJobId", "") == job;
  }));
  // Nothing the clients did was an internal failure: no error lines, and every line is still JSON.
  std::istringstream lines(svc.process().log());
  for (std::string line; std::getline(lines, line);) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    INFO("log line: " << line);
    REQUIRE(j.is_object());
    CHECK(j.value("level", "") != "error");
    CHECK(j.value("level", "") != "critical");
  }
  return id;
}

double api_connections(const fault_service& svc) {
  return rr_test::metric_value(rr_test::http_call(svc.ops_port(), "GET", "/metrics").body,
                               "bkr_http_connections");
}

bool wait_api_connections_at_most(const fault_service& svc, double n, std::chrono::milliseconds timeout) {
  return rr_test::eventually([&] { return api_connections(svc) <= n; }, timeout);
}

memory_sample read_memory(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  memory_sample m;
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string key;
    long kb = 0;
    fields >> key >> kb;
    if (key == "VmRSS:")
      m.rss_kb = kb;
    else if (key == "VmHWM:")
      m.hwm_kb = kb;
  }
  return m;
}

std::vector<rr_test::reply> parse_replies(std::string_view bytes) {
  std::vector<rr_test::reply> out;
  for (;;) {
    const auto header_end = bytes.find("\r\n\r\n");
    if (header_end == std::string_view::npos)
      return out;
    const auto head = bytes.substr(0, header_end);
    auto line_end = head.find("\r\n");
    const auto status_line = head.substr(0, line_end);
    if (status_line.size() < 12 || !status_line.starts_with("HTTP/1."))
      throw std::runtime_error("not an HTTP response: " + std::string(status_line));
    rr_test::reply r;
    r.status = static_cast<unsigned>(std::stoul(std::string(status_line.substr(9, 3))));
    while (line_end != std::string_view::npos) {
      const auto start = line_end + 2;
      line_end = head.find("\r\n", start);
      const auto line = head.substr(start, line_end == std::string_view::npos ? line_end : line_end - start);
      const auto colon = line.find(':');
      if (colon == std::string_view::npos)
        continue;
      auto value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ')
        value.remove_prefix(1);
      r.headers[lower(line.substr(0, colon))] = std::string(value);
    }
    const std::size_t length = r.has_header("content-length") ? std::stoul(r.header("content-length")) : 0;
    if (bytes.size() < header_end + 4 + length)
      return out;
    r.body = std::string(bytes.substr(header_end + 4, length));
    bytes.remove_prefix(header_end + 4 + length);
    if (r.status >= 200)
      out.push_back(std::move(r));
  }
}

exchange_result exchange(int fd, std::string_view bytes, std::chrono::milliseconds timeout,
                         std::size_t want_responses) {
  const int flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  exchange_result res;
  const auto deadline = steady::now() + timeout;
  while (!res.closed) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
    if (left.count() <= 0)
      break;
    const bool sending = res.sent < bytes.size() && !res.send_failed;
    pollfd p{fd, static_cast<short>(POLLIN | (sending ? POLLOUT : 0)), 0};
    if (::poll(&p, 1, static_cast<int>(std::min<long>(left.count(), 50))) < 0 && errno != EINTR)
      break;
    if ((p.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      char chunk[16384];
      for (;;) {
        const auto n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n > 0) {
          res.received.append(chunk, static_cast<std::size_t>(n));
          continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
          break;
        res.closed = true;  // EOF or reset
        break;
      }
    }
    if (want_responses > 0 && parse_replies(res.received).size() >= want_responses)
      break;
    if (sending && (p.revents & POLLOUT) != 0) {
      const auto n = ::send(fd, bytes.data() + res.sent, bytes.size() - res.sent, MSG_NOSIGNAL);
      if (n > 0)
        res.sent += static_cast<std::size_t>(n);
      else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        res.send_failed = true;
    }
  }
  ::fcntl(fd, F_SETFL, flags);
  return res;
}

std::string json_post(std::string_view target, std::string_view body, const std::string& token,
                      std::string_view extra) {
  std::string out;
  out.reserve(256 + token.size() + body.size() + extra.size());
  out.append("POST ").append(target).append(" HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ");
  out.append(token).append("\r\nContent-Type: application/json\r\nContent-Length: ");
  out.append(std::to_string(body.size())).append("\r\n").append(extra).append("\r\n").append(body);
  return out;
}

}  // namespace bkr::fault_test
