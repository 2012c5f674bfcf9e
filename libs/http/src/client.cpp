// HTTP/1.1 client on Beast: URL parsing, connect and request timeouts, a keep-alive pool, typed errors.
#include "bkr/http/client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>

#include <mutex>
#include <unordered_map>

namespace bkr::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using steady = std::chrono::steady_clock;

inline auto use_ec(error_code& ec) {
  return asio::redirect_error(asio::use_awaitable, ec);
}

class client_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "bkr.http.client"; }
  std::string message(int value) const override {
    switch (static_cast<client_errc>(value)) {
      case client_errc::invalid_url:
        return "invalid URL";
      case client_errc::unsupported_scheme:
        return "unsupported URL scheme (only http)";
      case client_errc::resolve_failed:
        return "host name does not resolve";
      case client_errc::connect_refused:
        return "connection refused";
      case client_errc::connect_timeout:
        return "connect timed out";
      case client_errc::connect_failed:
        return "connect failed";
      case client_errc::timeout:
        return "request timed out";
      case client_errc::connection_closed:
        return "connection closed before a complete response";
      case client_errc::protocol_error:
        return "invalid HTTP response";
      case client_errc::body_too_large:
        return "response body too large";
      case client_errc::network:
        return "network error";
    }
    return "unknown client error";
  }
};

struct target_url {
  std::string host;         // without brackets, for resolving
  std::string port;         // decimal
  std::string host_header;  // as the Host header wants it
  std::string target;       // path and query, at least "/"
  std::string key;          // pool key: host:port
};

bkr::error fail(client_errc e, std::string_view url, std::string_view detail = {}) {
  std::string message =
      std::string(client_category_impl().message(static_cast<int>(e))) + ": " + std::string(url);
  if (!detail.empty())
    message += " (" + std::string(detail) + ")";
  return {make_error_code(e), std::move(message)};
}

bkr::result<target_url> parse_target(std::string_view url) {
  auto parsed = boost::urls::parse_absolute_uri(boost::core::string_view(url.data(), url.size()));
  if (!parsed)
    return fail(client_errc::invalid_url, url);
  const auto& u = *parsed;
  if (u.scheme_id() != boost::urls::scheme::http)
    return fail(client_errc::unsupported_scheme, url);
  if (!u.has_authority() || u.encoded_host().empty() || u.has_userinfo())
    return fail(client_errc::invalid_url, url);
  target_url t;
  const auto host = u.encoded_host_address();
  t.host = std::string(host.data(), host.size());
  const auto port = u.port_number();
  t.port = std::to_string(u.has_port() ? port : 80);
  if (u.has_port() && port == 0)
    return fail(client_errc::invalid_url, url);
  const auto encoded_host = u.encoded_host();
  t.host_header = std::string(encoded_host.data(), encoded_host.size());
  if (u.has_port())
    t.host_header += ":" + t.port;
  const auto target = u.encoded_target();
  t.target = std::string(target.data(), target.size());
  if (t.target.empty() || t.target.front() != '/')
    t.target.insert(0, "/");
  t.key = t.host_header + "|" + t.port;
  return t;
}

bool idempotent(method m) {
  return m == method::get || m == method::head || m == method::put || m == method::del ||
         m == method::options;
}

bhttp::verb to_verb(method m) {
  switch (m) {
    case method::get:
      return bhttp::verb::get;
    case method::head:
      return bhttp::verb::head;
    case method::post:
      return bhttp::verb::post;
    case method::put:
      return bhttp::verb::put;
    case method::patch:
      return bhttp::verb::patch;
    case method::del:
      return bhttp::verb::delete_;
    case method::options:
      return bhttp::verb::options;
    case method::other:
      break;
  }
  return bhttp::verb::get;
}

bool is_closed_error(const error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::connection_aborted;
}

client_errc classify_request_error(const error_code& ec) {
  if (ec == beast::error::timeout)
    return client_errc::timeout;
  if (ec == bhttp::error::body_limit)
    return client_errc::body_too_large;
  if (is_closed_error(ec))
    return client_errc::connection_closed;
  if (ec.category() == bhttp::make_error_code(bhttp::error::end_of_stream).category())
    return client_errc::protocol_error;
  return client_errc::network;
}

/// True when a pooled connection still looks usable: no EOF and no unexpected bytes waiting.
bool still_open(tcp::socket& s) {
  error_code ec;
  s.non_blocking(true, ec);
  if (ec)
    return false;
  char probe = 0;
  s.receive(asio::buffer(&probe, 1), tcp::socket::message_peek, ec);
  const bool alive = ec == asio::error::would_block || ec == asio::error::try_again;
  s.non_blocking(false, ec);
  return alive && !ec;
}

using stream_ptr = std::unique_ptr<beast::tcp_stream>;

}  // namespace

const std::error_category& client_category() noexcept {
  static const client_category_impl instance;
  return instance;
}

bool is_transient(client_errc e) noexcept {
  switch (e) {
    case client_errc::invalid_url:
    case client_errc::unsupported_scheme:
    case client_errc::protocol_error:
    case client_errc::body_too_large:
      return false;
    default:
      return true;
  }
}

struct client::impl {
  impl(asio::any_io_executor e, client_options o) : executor(std::move(e)), options(std::move(o)) {}

  struct pooled {
    stream_ptr stream;
    steady::time_point since;
  };

  stream_ptr take(const std::string& key) {
    std::lock_guard lock(mutex);
    auto it = idle.find(key);
    if (it == idle.end())
      return nullptr;
    const auto now = steady::now();
    while (!it->second.empty()) {
      auto p = std::move(it->second.back());
      it->second.pop_back();
      if (now - p.since < options.idle_timeout && still_open(p.stream->socket()))
        return std::move(p.stream);
    }
    return nullptr;
  }

  void give_back(const std::string& key, stream_ptr s) {
    std::lock_guard lock(mutex);
    auto& list = idle[key];
    if (list.size() < options.max_idle_per_host)
      list.push_back({std::move(s), steady::now()});
  }

  static asio::awaitable<bkr::result<stream_ptr>> connect(std::shared_ptr<impl> self, target_url t,
                                                          std::string url) {
    using namespace asio::experimental::awaitable_operators;
    const auto deadline = steady::now() + self->options.connect_timeout;
    auto strand = asio::make_strand(self->executor);
    tcp::resolver::results_type endpoints;
    error_code ec;
    const auto address = asio::ip::make_address(t.host, ec);
    if (!ec) {
      endpoints = tcp::resolver::results_type::create(
          tcp::endpoint(address, static_cast<std::uint16_t>(std::stoi(t.port))), t.host, t.port);
    } else {
      tcp::resolver resolver(strand);
      asio::steady_timer timer(strand, self->options.connect_timeout);
      try {
        auto r = co_await (resolver.async_resolve(t.host, t.port, asio::use_awaitable) ||
                           timer.async_wait(asio::use_awaitable));
        if (r.index() == 1)
          co_return fail(client_errc::connect_timeout, url, "name resolution");
        endpoints = std::get<0>(std::move(r));
      } catch (const boost::system::system_error& e) {
        co_return fail(client_errc::resolve_failed, url, e.code().message());
      }
    }
    auto stream = std::make_unique<beast::tcp_stream>(strand);
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
    stream->expires_after(std::max(left, std::chrono::milliseconds(1)));
    co_await stream->async_connect(endpoints, use_ec(ec));
    if (ec) {
      if (ec == beast::error::timeout)
        co_return fail(client_errc::connect_timeout, url);
      if (ec == asio::error::connection_refused)
        co_return fail(client_errc::connect_refused, url);
      co_return fail(client_errc::connect_failed, url, ec.message());
    }
    stream->socket().set_option(tcp::no_delay(true), ec);
    co_return stream;
  }

  static asio::awaitable<bkr::result<client_response>> run(std::shared_ptr<impl> self, client_request req) {
    auto parsed = parse_target(req.url);
    if (!parsed)
      co_return parsed.error();
    const target_url t = std::move(*parsed);

    bhttp::request<bhttp::string_body> out{to_verb(req.method), t.target, 11};
    out.set(bhttp::field::host, t.host_header);
    if (!self->options.user_agent.empty())
      out.set(bhttp::field::user_agent, self->options.user_agent);
    for (const auto& [name, value] : req.headers)
      out.insert(beast::string_view(name.data(), name.size()),
                 beast::string_view(value.data(), value.size()));
    if (!req.body.empty() && !req.content_type.empty())
      out.set(bhttp::field::content_type, req.content_type);
    out.body() = std::move(req.body);
    out.keep_alive(true);
    out.prepare_payload();

    const auto timeout = req.timeout.value_or(self->options.request_timeout);
    for (int attempt = 0;; ++attempt) {
      auto stream = self->take(t.key);
      const bool reused = stream != nullptr;
      if (!stream) {
        auto connected = co_await connect(self, t, req.url);
        if (!connected)
          co_return connected.error();
        stream = std::move(*connected);
      }
      // A pooled connection the server closed meanwhile fails before any response byte; an idempotent
      // request is then safe to send once more on a fresh connection.
      const bool may_retry = reused && attempt == 0 && idempotent(req.method);

      error_code ec;
      stream->expires_after(timeout);
      co_await bhttp::async_write(*stream, out, use_ec(ec));
      if (ec) {
        if (may_retry && is_closed_error(ec))
          continue;
        co_return fail(classify_request_error(ec), req.url, ec.message());
      }
      beast::flat_buffer buffer;
      bhttp::response_parser<bhttp::string_body> parser;
      parser.header_limit(64 * 1024);
      parser.body_limit(self->options.body_limit);
      if (req.method == method::head)
        parser.skip(true);
      co_await bhttp::async_read(*stream, buffer, parser, use_ec(ec));
      if (ec) {
        if (may_retry && is_closed_error(ec) && !parser.got_some())
          continue;
        co_return fail(classify_request_error(ec), req.url, ec.message());
      }
      auto message = parser.release();
      client_response res;
      res.status = message.result_int();
      for (const auto& f : message) {
        const auto name = f.name_string();
        const auto value = f.value();
        res.headers.add(std::string(name.data(), name.size()), std::string(value.data(), value.size()));
      }
      res.body = std::move(message.body());
      if (message.keep_alive() && buffer.size() == 0)
        self->give_back(t.key, std::move(stream));
      co_return res;
    }
  }

  asio::any_io_executor executor;
  client_options options;
  mutable std::mutex mutex;  // guards `idle`
  std::unordered_map<std::string, std::vector<pooled>> idle;
};

client::client(boost::asio::any_io_executor executor, client_options options)
    : impl_(std::make_shared<impl>(std::move(executor), std::move(options))) {}

client::~client() = default;

boost::asio::awaitable<bkr::result<client_response>> client::send(client_request req) {
  return impl::run(impl_, std::move(req));
}

boost::asio::awaitable<bkr::result<client_response>> client::get(std::string url, http::fields headers) {
  client_request req;
  req.method = method::get;
  req.url = std::move(url);
  req.headers = std::move(headers);
  return impl::run(impl_, std::move(req));
}

boost::asio::awaitable<bkr::result<client_response>> client::post_json(std::string url, std::string body,
                                                                       http::fields headers) {
  client_request req;
  req.method = method::post;
  req.url = std::move(url);
  req.headers = std::move(headers);
  req.body = std::move(body);
  req.content_type = "application/json";
  return impl::run(impl_, std::move(req));
}

std::size_t client::idle_connections() const {
  std::lock_guard lock(impl_->mutex);
  std::size_t n = 0;
  for (const auto& [key, list] : impl_->idle)
    n += list.size();
  return n;
}

// ---- blocking_client ----

struct blocking_client::impl {
  explicit impl(client_options o) : async(ioc.get_executor(), std::move(o)) {}

  bkr::result<client_response> run(boost::asio::awaitable<bkr::result<client_response>> call) {
    auto future = asio::co_spawn(ioc, std::move(call), asio::use_future);
    ioc.restart();
    ioc.run();
    return future.get();
  }

  asio::io_context ioc{1};
  client async;
};

blocking_client::blocking_client(client_options options)
    : impl_(std::make_unique<impl>(std::move(options))) {}

blocking_client::~blocking_client() = default;

bkr::result<client_response> blocking_client::send(client_request req) {
  return impl_->run(impl_->async.send(std::move(req)));
}

bkr::result<client_response> blocking_client::get(std::string url, http::fields headers) {
  return impl_->run(impl_->async.get(std::move(url), std::move(headers)));
}

bkr::result<client_response> blocking_client::post_json(std::string url, std::string body,
                                                        http::fields headers) {
  return impl_->run(impl_->async.post_json(std::move(url), std::move(body), std::move(headers)));
}

}  // namespace bkr::http
