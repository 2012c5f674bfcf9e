// Blocking loopback sockets for driving the server byte by byte in tests, with deadlines on every read.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

namespace bkr::test {

using namespace std::chrono_literals;

/// One parsed HTTP response. Header names are lower-cased.
struct http_reply {
  unsigned status = 0;
  std::map<std::string, std::string> headers;
  std::string body;

  nlohmann::json json() const { return nlohmann::json::parse(body); }
  std::string header(const std::string& lower_name) const {
    const auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
  bool has_header(const std::string& lower_name) const { return headers.count(lower_name) != 0; }
};

/// connect() to 127.0.0.1:port; returns 0 or the errno of the failure. A `receive_buffer` (bytes, 0: the
/// system's) is set before connecting, so that the window is small from the first segment: shrinking it on
/// a connected socket makes the kernel drop data already in flight, and the stream then stalls erratically.
inline int try_connect(std::uint16_t port, int* out_fd = nullptr, int receive_buffer = 0) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return errno;
  if (receive_buffer > 0)
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    ::close(fd);
    return err;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (out_fd != nullptr)
    *out_fd = fd;
  else
    ::close(fd);
  return 0;
}

/// A client connection to 127.0.0.1:port. Not thread-safe; closes on destruction.
class raw_connection {
 public:
  explicit raw_connection(std::uint16_t port, int receive_buffer = 0) {
    const int err = try_connect(port, &fd_, receive_buffer);
    if (err != 0)
      throw std::runtime_error("connect failed: " + std::to_string(err));
  }
  ~raw_connection() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  raw_connection(const raw_connection&) = delete;
  raw_connection& operator=(const raw_connection&) = delete;

  /// Sends everything; false when the peer has closed or reset the connection.
  bool send(std::string_view data) {
    while (!data.empty()) {
      const auto n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR)
          continue;
        return false;
      }
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  /// Reads one complete response (skipping 1xx interim responses); nullopt on timeout or close first.
  std::optional<http_reply> read_response(std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto header_end = buffer_.find("\r\n\r\n");
      while (header_end == std::string::npos) {
        if (!fill(deadline))
          return std::nullopt;
        header_end = buffer_.find("\r\n\r\n");
      }
      http_reply reply;
      std::string_view head(buffer_.data(), header_end);
      const auto line_end = head.find("\r\n");
      const auto status_line = head.substr(0, line_end);
      if (status_line.size() < 12 || status_line.substr(0, 5) != "HTTP/")
        throw std::runtime_error("bad status line: " + std::string(status_line));
      reply.status = static_cast<unsigned>(std::stoi(std::string(status_line.substr(9, 3))));
      std::string_view rest =
          line_end == std::string_view::npos ? std::string_view() : head.substr(line_end + 2);
      while (!rest.empty()) {
        const auto eol = rest.find("\r\n");
        const auto line = rest.substr(0, eol);
        const auto colon = line.find(':');
        std::string name(line.substr(0, colon));
        for (auto& ch : name)
          ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        auto value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ')
          value.remove_prefix(1);
        reply.headers[name] = std::string(value);
        if (eol == std::string_view::npos)
          break;
        rest.remove_prefix(eol + 2);
      }
      std::size_t length = 0;
      if (reply.has_header("content-length"))
        length = static_cast<std::size_t>(std::stoul(reply.header("content-length")));
      const std::size_t total = header_end + 4 + length;
      while (buffer_.size() < total)
        if (!fill(deadline))
          return std::nullopt;
      reply.body = buffer_.substr(header_end + 4, length);
      buffer_.erase(0, total);
      if (reply.status >= 100 && reply.status < 200)
        continue;
      return reply;
    }
  }

  /// True when the peer closes (EOF or reset) within `timeout`; data arriving meanwhile is kept.
  bool wait_closed(std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const int r = read_some(deadline);
      if (r == 0)
        return true;  // closed
      if (r < 0)
        return false;  // timeout
    }
  }

  int fd() const noexcept { return fd_; }

 private:
  // 1: got bytes, 0: closed/reset, -1: timeout.
  int read_some(std::chrono::steady_clock::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return -1;
    pollfd p{fd_, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready == 0)
      return -1;
    if (ready < 0)
      return errno == EINTR ? 1 : 0;
    char chunk[8192];
    const auto n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0)
      return 0;
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return 1;
  }

  bool fill(std::chrono::steady_clock::time_point deadline) { return read_some(deadline) == 1; }

  int fd_ = -1;
  std::string buffer_;
};

/// Waits until `pred()` holds or `timeout` passes; returns the last value of `pred()`.
template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline)
      return pred();
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

/// `GET <path>` with Host and optional extra header lines (each ending in \r\n).
inline std::string get_request(std::string_view path, std::string_view extra = {}) {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: test\r\n" + std::string(extra) + "\r\n";
}

inline std::string post_request(std::string_view path, std::string_view body,
                                std::string_view content_type = "application/json",
                                std::string_view extra = {}) {
  return "POST " + std::string(path) +
         " HTTP/1.1\r\nHost: test\r\nContent-Type: " + std::string(content_type) +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + std::string(extra) + "\r\n" +
         std::string(body);
}

}  // namespace bkr::test
