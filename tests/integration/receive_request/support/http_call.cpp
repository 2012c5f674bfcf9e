// Blocking loopback HTTP/1.1 for tests: POSIX sockets with receive/send timeouts and a small response parser.
#include "http_call.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <barrier>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <thread>

namespace bkr::rr_test {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return std::string(s);
}

int open_socket(std::uint16_t port, std::chrono::milliseconds timeout) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    ::close(fd);
    throw std::runtime_error("connect to port " + std::to_string(port) + " failed: " + std::strerror(err));
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}

}  // namespace

nlohmann::json reply::json() const {
  return nlohmann::json::parse(body);
}

std::string reply::header(const std::string& lower_name) const {
  const auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

struct http_connection::impl {
  int fd = -1;
  std::string buffer;

  // Reads more bytes into buffer; false on EOF.
  bool fill() {
    char chunk[8192];
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        throw std::runtime_error("timed out waiting for the response");
      if (errno == ECONNRESET)
        return false;
      throw std::runtime_error(std::string("recv failed: ") + std::strerror(errno));
    }
    if (n == 0)
      return false;
    buffer.append(chunk, static_cast<std::size_t>(n));
    return true;
  }
};

http_connection::http_connection(std::uint16_t port, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<impl>()) {
  impl_->fd = open_socket(port, timeout);
}

http_connection::~http_connection() {
  if (impl_->fd >= 0)
    ::close(impl_->fd);
}

void http_connection::send(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(impl_->fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0)
      throw std::runtime_error(std::string("send failed: ") + std::strerror(errno));
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

reply http_connection::read() {
  auto& buf = impl_->buffer;
  std::size_t header_end = std::string::npos;
  while ((header_end = buf.find("\r\n\r\n")) == std::string::npos) {
    if (!impl_->fill())
      throw std::runtime_error("connection closed before a response");
  }
  reply r;
  const std::string head = buf.substr(0, header_end);
  std::size_t line_end = head.find("\r\n");
  const std::string status_line = head.substr(0, line_end);
  const auto sp = status_line.find(' ');
  if (sp == std::string::npos)
    throw std::runtime_error("bad status line: " + status_line);
  r.status = static_cast<unsigned>(std::stoul(status_line.substr(sp + 1, 3)));
  while (line_end != std::string::npos) {
    const std::size_t start = line_end + 2;
    line_end = head.find("\r\n", start);
    const std::string line =
        head.substr(start, line_end == std::string::npos ? std::string::npos : line_end - start);
    const auto colon = line.find(':');
    if (colon != std::string::npos)
      r.headers[lower(line.substr(0, colon))] = trim(std::string_view(line).substr(colon + 1));
  }
  std::size_t length = 0;
  if (r.has_header("content-length"))
    length = std::stoul(r.header("content-length"));
  const std::size_t body_start = header_end + 4;
  while (buf.size() < body_start + length) {
    if (!impl_->fill())
      throw std::runtime_error("connection closed in the middle of a body");
  }
  r.body = buf.substr(body_start, length);
  buf.erase(0, body_start + length);
  return r;
}

reply http_connection::raw(std::string_view bytes) {
  send(bytes);
  return read();
}

reply http_connection::request(std::string_view method, std::string_view target, const header_list& headers,
                               std::optional<std::string> body) {
  std::string out;
  out.reserve(512 + (body ? body->size() : 0));
  out.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  for (const auto& [name, value] : headers)
    out.append(name).append(": ").append(value).append("\r\n");
  if (body || method == "POST" || method == "PUT")
    out.append("Content-Length: ").append(std::to_string(body ? body->size() : 0)).append("\r\n");
  out.append("\r\n");
  if (body)
    out.append(*body);
  return raw(out);
}

bool http_connection::closed_by_peer() {
  pollfd p{impl_->fd, POLLIN, 0};
  if (::poll(&p, 1, 2000) <= 0)
    return false;
  char c = 0;
  const ssize_t n = ::recv(impl_->fd, &c, 1, MSG_PEEK);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

reply http_call(std::uint16_t port, std::string_view method, std::string_view target,
                const header_list& headers, std::optional<std::string> body) {
  http_connection c(port);
  return c.request(method, target, headers, std::move(body));
}

bool port_open(std::uint16_t port) {
  try {
    const int fd = open_socket(port, std::chrono::milliseconds{500});
    ::close(fd);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

std::string accept_body(std::string_view job, std::string_view location, std::string_view date) {
  return nlohmann::json{{"apiVersion", "2022-05-22"},
                        {"backupJobId", job},
                        {"dataDate", date},
                        {"backupDataLocation", location}}
      .dump();
}

std::vector<reply> post_concurrently(std::uint16_t port, std::string_view target, const header_list& headers,
                                     const std::function<std::string(int)>& body_of, int count) {
  std::vector<std::unique_ptr<http_connection>> connections;
  for (int i = 0; i < count; ++i)
    connections.push_back(std::make_unique<http_connection>(port));
  std::vector<reply> replies(static_cast<std::size_t>(count));
  std::barrier start(count);
  std::vector<std::thread> threads;
  for (int i = 0; i < count; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      const auto at = static_cast<std::size_t>(i);
      replies[at] = connections[at]->request("POST", target, headers, body_of(i));
    });
  }
  for (auto& t : threads)
    t.join();
  return replies;
}

header_list json_headers(const std::string& token, header_list extra) {
  header_list h{{"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}};
  h.insert(h.end(), extra.begin(), extra.end());
  return h;
}

}  // namespace bkr::rr_test
