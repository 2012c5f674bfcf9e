// HTTP/1.1 server on Beast and C++20 coroutines: accept loop, per-connection loop, limits, graceful stop.
#include "bkr/http/server.hpp"

#include "bkr/common/error.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <array>
#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>
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

std::string_view sv(beast::string_view s) noexcept {
  return {s.data(), s.size()};
}

std::optional<std::string_view> header(const bhttp::request_header<>& h, std::string_view name) {
  const auto it = h.find(beast::string_view(name.data(), name.size()));
  if (it == h.end())
    return std::nullopt;
  return sv(it->value());
}

/// The first of the singleton fields whose meaning would depend on which copy we read, when it came more
/// than once: two Hosts (RFC 9112 3.2) or two Content-Types. Beast itself refuses differing Content-Lengths.
std::optional<std::string_view> repeated_singleton(const bhttp::request_header<>& h) {
  for (const std::string_view name : {"Host", "Content-Type"}) {
    if (h.count(beast::string_view(name.data(), name.size())) > 1)
      return name;
  }
  return std::nullopt;
}

/// The value of a field that identifies the request, or none when it came more than once: two
/// `X-Request-Id`s name no one request, and two `traceparent`s combine (RFC 9110 5.3) into a list that is no
/// valid traceparent (W3C Trace Context 3.2), so the request gets its own id and a new trace.
std::optional<std::string_view> single_header(const bhttp::request_header<>& h, std::string_view name) {
  if (h.count(beast::string_view(name.data(), name.size())) > 1)
    return std::nullopt;
  return header(h, name);
}

std::string endpoint_text(const tcp::endpoint& ep) {
  const auto address = ep.address();
  return (address.is_v6() ? "[" + address.to_string() + "]" : address.to_string()) + ":" +
         std::to_string(ep.port());
}

constexpr std::chrono::milliseconds linger_timeout{1'000};
constexpr std::size_t linger_bytes = 1024 * 1024;
constexpr std::size_t method_count = 8;  // http::method values, `other` included

/// One accepted connection. Every member except `id` is used only on the connection's strand.
struct connection {
  connection(std::uint64_t i, tcp::socket s) : id(i), stream(std::move(s)) {}

  const std::uint64_t id;
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  std::string remote;
  bool idle = true;                  // waiting for the first byte of the next request
  asio::cancellation_signal cancel;  // forced stop: cancels whatever the coroutine awaits
};

/// Metric handles of one route (or of the unmatched requests of one method). Each label set is resolved
/// on its first use (so unused ones are not exposed) and then read with one atomic load.
struct route_metrics {
  route_metrics(metrics::counter_family& f, metrics::histogram_family& h, std::string route,
                std::string method)
      : requests(f), durations(h), route_label(std::move(route)), method_label(std::move(method)) {}

  void record(unsigned status, steady::time_point started) {
    if (status >= by_status.size())
      status = 500;
    auto* c = by_status[status].load(std::memory_order_acquire);
    if (c == nullptr) {
      c = &requests.with({route_label, method_label, std::to_string(status)});
      by_status[status].store(c, std::memory_order_release);
    }
    c->inc();
    auto* h = latency.load(std::memory_order_acquire);
    if (h == nullptr) {
      h = &durations.with({route_label, method_label});
      latency.store(h, std::memory_order_release);
    }
    h->observe(std::chrono::duration<double>(steady::now() - started).count());
  }

  metrics::counter_family& requests;
  metrics::histogram_family& durations;
  std::string route_label;
  std::string method_label;
  std::atomic<metrics::histogram*> latency{nullptr};
  std::array<std::atomic<metrics::counter*>, 600> by_status{};
};

/// What to do with the connection after a request.
enum class next_step { keep_alive, close, linger_close };

}  // namespace

struct server::impl {
  impl(server_options o, http::router r, metrics::registry& registry, bkr::logger l)
      : opts(std::move(o)),
        routes(std::move(r)),
        log(std::move(l)),
        ioc(static_cast<int>(opts.threads == 0 ? 1 : opts.threads)),
        accept_strand(asio::make_strand(ioc)),
        acceptor(accept_strand),
        requests_family(registry.add_counter(opts.metrics_prefix + "_requests_total",
                                             "HTTP requests answered, by route template, method and status.",
                                             {"route", "method", "status"})),
        latency_family(
            registry.add_histogram(opts.metrics_prefix + "_request_duration_seconds",
                                   "Time from a complete request header to the response ready to send.",
                                   {"route", "method"}, opts.latency_buckets)),
        connections_gauge(
            registry.add_gauge(opts.metrics_prefix + "_connections", "Open HTTP connections.").with({})),
        refused_counter(registry
                            .add_counter(opts.metrics_prefix + "_connections_refused_total",
                                         "Connections answered 503 because max_connections was reached.")
                            .with({})) {
    for (const auto& rt : routes.routes())
      per_route.push_back(std::make_unique<route_metrics>(requests_family, latency_family, rt.path_template,
                                                          std::string(to_string(rt.method))));
    for (std::size_t m = 0; m < method_count; ++m)
      unmatched[m] = std::make_unique<route_metrics>(requests_family, latency_family, "unmatched",
                                                     std::string(to_string(static_cast<method>(m))));
  }

  // ---- lifecycle ----
  void start();
  void stop(std::chrono::milliseconds drain);
  void run_thread();

  // ---- coroutines (parameters by value; `this` outlives them because stop() waits for every one) ----
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve(std::shared_ptr<connection> c);
  asio::awaitable<next_step> serve_one(std::shared_ptr<connection> c);
  asio::awaitable<bool> write(std::shared_ptr<connection> c, response r, request_identity ident,
                              unsigned version, bool keep_alive, bool head_only = false);
  asio::awaitable<void> refuse(std::shared_ptr<connection> c);
  asio::awaitable<void> linger_close(std::shared_ptr<connection> c);

  void open_connection(tcp::socket socket);
  void connection_finished(std::uint64_t id, std::exception_ptr e);
  std::vector<std::shared_ptr<connection>> snapshot_connections() const;

  server_options opts;
  http::router routes;
  bkr::logger log;
  asio::io_context ioc;
  asio::strand<asio::io_context::executor_type> accept_strand;
  tcp::acceptor acceptor;
  std::vector<std::thread> threads;
  std::atomic<bool> running{false};
  std::atomic<bool> draining{false};
  std::atomic<std::uint16_t> bound_port{0};

  metrics::counter_family& requests_family;
  metrics::histogram_family& latency_family;
  metrics::gauge& connections_gauge;
  metrics::counter& refused_counter;
  std::vector<std::unique_ptr<route_metrics>> per_route;
  std::array<std::unique_ptr<route_metrics>, method_count> unmatched;

  mutable std::mutex mutex;  // guards `connections` and `next_id`; never held across an await
  std::condition_variable connections_changed;
  std::unordered_map<std::uint64_t, std::shared_ptr<connection>> connections;
  std::uint64_t next_id = 0;
};

// ---- lifecycle ----

void server::impl::start() {
  error_code ec;
  const auto address = asio::ip::make_address(opts.address, ec);
  if (ec)
    throw bkr::infrastructure_error("invalid listen address '" + opts.address + "'", false);
  const tcp::endpoint endpoint{address, opts.port};
  acceptor.open(endpoint.protocol(), ec);
  if (!ec)
    acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec && opts.reuse_port)
    acceptor.set_option(asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true), ec);
  if (!ec)
    acceptor.bind(endpoint, ec);
  if (!ec)
    acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    throw bkr::infrastructure_error("cannot listen on " + endpoint_text(endpoint) + ": " + ec.message(),
                                    false);
  bound_port = acceptor.local_endpoint().port();

  asio::co_spawn(accept_strand, accept_loop(), [this](std::exception_ptr e) {
    if (!e)
      return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      log.error("accept loop failed", {{"error", ex.what()}});
    }
  });
  running = true;
  const auto n = opts.threads == 0 ? 1 : opts.threads;
  for (std::size_t i = 0; i < n; ++i)
    threads.emplace_back([this] { run_thread(); });
  log.info("http server listening", {{"address", opts.address}, {"port", bound_port.load()}, {"threads", n}});
}

void server::impl::run_thread() {
  for (;;) {
    try {
      ioc.run();
      return;
    } catch (const std::exception& e) {
      log.error("uncaught exception on an I/O thread", {{"error", e.what()}});
    }
  }
}

void server::impl::stop(std::chrono::milliseconds drain) {
  if (!running.exchange(false))
    return;
  draining = true;
  const auto deadline = steady::now() + drain;

  // 1. Stop accepting: once this returns, new connections are refused by the kernel.
  {
    std::promise<void> closed;
    asio::post(accept_strand, [this, &closed] {
      error_code ec;
      acceptor.close(ec);
      closed.set_value();
    });
    closed.get_future().wait();
  }

  // 2. Close idle keep-alive connections; busy ones close themselves after their response.
  for (auto& c : snapshot_connections()) {
    asio::post(c->stream.get_executor(), [c] {
      if (c->idle)
        c->stream.close();
    });
  }

  // 3. Drain: wait for requests in flight up to the deadline.
  std::unique_lock lock(mutex);
  const bool drained = connections_changed.wait_until(lock, deadline, [this] { return connections.empty(); });
  lock.unlock();

  // 4. Cancel the rest: handlers see operation_aborted at their current await; sockets are closed.
  if (!drained) {
    auto left = snapshot_connections();
    log.warn("cancelling requests still in flight after the drain deadline", {{"connections", left.size()}});
    for (auto& c : left) {
      asio::post(c->stream.get_executor(), [c] {
        c->cancel.emit(asio::cancellation_type::terminal);
        c->stream.close();
      });
    }
    lock.lock();
    // A handler that ignores cancellation cannot hold the process: after this, the io_context is stopped.
    connections_changed.wait_for(lock, std::chrono::seconds(2), [this] { return connections.empty(); });
    lock.unlock();
  }

  ioc.stop();
  for (auto& t : threads)
    t.join();
  threads.clear();
  log.info("http server stopped", {{"port", bound_port.load()}});
}

std::vector<std::shared_ptr<connection>> server::impl::snapshot_connections() const {
  std::lock_guard lock(mutex);
  std::vector<std::shared_ptr<connection>> out;
  out.reserve(connections.size());
  for (const auto& [id, c] : connections)
    out.push_back(c);
  return out;
}

// ---- accepting ----

asio::awaitable<void> server::impl::accept_loop() {
  for (;;) {
    error_code ec;
    tcp::socket socket = co_await acceptor.async_accept(asio::make_strand(ioc), use_ec(ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open())
        co_return;
      // Typically out of file descriptors: back off rather than spin.
      log.warn("accept failed", {{"error", ec.message()}});
      asio::steady_timer pause(accept_strand, std::chrono::milliseconds(50));
      co_await pause.async_wait(use_ec(ec));
      continue;
    }
    open_connection(std::move(socket));
  }
}

void server::impl::open_connection(tcp::socket socket) {
  error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  const auto remote = socket.remote_endpoint(ec);
  bool over_limit = false;
  std::shared_ptr<connection> c;
  {
    std::lock_guard lock(mutex);
    over_limit = opts.max_connections != 0 && connections.size() >= opts.max_connections;
    c = std::make_shared<connection>(next_id++, std::move(socket));
    connections.emplace(c->id, c);
  }
  c->remote = ec ? std::string("unknown") : endpoint_text(remote);
  connections_gauge.inc();
  // Start on the connection's strand so that the cancellation slot is installed where stop() emits.
  asio::post(c->stream.get_executor(), [this, c, over_limit] {
    asio::co_spawn(c->stream.get_executor(), over_limit ? refuse(c) : serve(c),
                   asio::bind_cancellation_slot(
                       c->cancel.slot(), [this, c](std::exception_ptr e) { connection_finished(c->id, e); }));
  });
}

void server::impl::connection_finished(std::uint64_t id, std::exception_ptr e) {
  if (e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      log.error("connection failed", {{"error", ex.what()}});
    } catch (...) {
      log.error("connection failed");
    }
  }
  connections_gauge.dec();
  {
    std::lock_guard lock(mutex);
    connections.erase(id);
  }
  connections_changed.notify_all();
}

// ---- serving ----

asio::awaitable<void> server::impl::serve(std::shared_ptr<connection> c) {
  bool first = true;
  next_step step = next_step::close;
  try {
    for (;;) {
      if (c->buffer.size() == 0) {
        if (draining)
          break;
        // Wait for the next request under the idle timeout; the header timeout starts with its first byte.
        c->idle = true;
        c->stream.expires_after(first ? opts.header_timeout : opts.keep_alive_timeout);
        error_code ec;
        const auto n = co_await c->stream.async_read_some(c->buffer.prepare(4096), use_ec(ec));
        c->idle = false;
        if (ec || !c->stream.socket().is_open())
          break;
        c->buffer.commit(n);
      }
      first = false;
      step = co_await serve_one(c);
      if (step != next_step::keep_alive)
        break;
      if (c->buffer.size() == 0 && c->buffer.capacity() > 64 * 1024)
        c->buffer.shrink_to_fit();
    }
  } catch (const boost::system::system_error& e) {
    // Cancelled by a forced stop: nothing to answer any more.
    if (e.code() != asio::error::operation_aborted)
      throw;
    step = next_step::close;
  }
  if (step == next_step::linger_close) {
    co_await linger_close(c);
  } else {
    error_code ec;
    c->stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    c->stream.close();
  }
}

asio::awaitable<next_step> server::impl::serve_one(std::shared_ptr<connection> c) {
  bhttp::request_parser<bhttp::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(opts.header_limit));
  // No body limit yet: the parser would fail on a large Content-Length before we know the route's limit.
  parser.body_limit(boost::none);

  error_code ec;
  c->stream.expires_after(opts.header_timeout);
  co_await bhttp::async_read_header(c->stream, c->buffer, parser, use_ec(ec));
  const auto started = steady::now();
  if (ec) {
    if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message ||
        ec.category() != bhttp::make_error_code(bhttp::error::end_of_stream).category())
      co_return next_step::close;  // timeout, reset or a client that went away: nobody to answer
    auto& metrics_of = *unmatched[static_cast<std::size_t>(method::other)];
    const auto ident = identify_request(std::nullopt, std::nullopt);
    auto r = (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow)
                 ? error_response(errc::header_too_large,
                                  "request headers are over " + std::to_string(opts.header_limit) + " bytes",
                                  ident.request_id)
                 : error_response(errc::bad_request, "malformed HTTP request", ident.request_id);
    metrics_of.record(r.status, started);
    co_await write(c, std::move(r), ident, 11, false);
    co_return next_step::linger_close;
  }

  const auto& head = parser.get();
  const auto ident =
      identify_request(single_header(head, "X-Request-Id"), single_header(head, "traceparent"));
  const auto m = parse_method(sv(head.method_string()));
  const unsigned version = head.version();
  const bool client_keep_alive = head.keep_alive();
  const std::string_view target = sv(head.target());
  const auto cl = parser.content_length();
  const bool chunked = parser.chunked();
  const bool has_body = chunked || (cl && *cl > 0);

  // Answers an error found before the body was read. An unread body makes the connection unusable.
  route_metrics* rm = unmatched[static_cast<std::size_t>(m)].get();
  auto early = [&](errc e, std::string message) {
    return error_response(e, std::move(message), ident.request_id);
  };
  std::optional<response> early_answer;
  next_step after_early = has_body ? next_step::linger_close : next_step::keep_alive;

  const auto query_at = target.find('?');
  const auto path = target.substr(0, query_at);
  route_match match;
  if (target.empty() || target.front() != '/') {
    early_answer = early(errc::bad_request, "the request target must be an absolute path");
    after_early = next_step::linger_close;
  } else {
    match = routes.match(m, path);
    if (match.kind == match_kind::not_found) {
      early_answer = early(errc::not_found, "no route for this path");
    } else if (match.kind == match_kind::method_not_allowed) {
      early_answer = early(errc::method_not_allowed,
                           std::string(to_string(m)) + " is not allowed here; allowed: " + match.allow);
      early_answer->headers.set("Allow", match.allow);
    }
  }

  const route* rt = match.route;
  std::size_t limit = opts.body_limit;
  if (!early_answer) {
    rm = per_route[rt->index].get();
    limit = rt->options.body_limit.value_or(opts.body_limit);
    const bool body_method = m == method::post || m == method::put || m == method::patch;
    if (const auto repeated = repeated_singleton(head)) {
      early_answer = early(errc::bad_request, "the " + std::string(*repeated) + " field must be sent once");
    } else if (chunked) {
      early_answer =
          early(errc::length_required, "chunked request bodies are not accepted; send Content-Length");
    } else if (body_method && !cl) {
      early_answer = early(errc::length_required, "Content-Length is required");
    } else if (cl && *cl > limit) {
      early_answer = early(errc::payload_too_large, "the body is over " + std::to_string(limit) + " bytes");
      after_early = next_step::linger_close;
    } else if (rt->options.json_body && body_method) {
      const auto ct = header(head, "Content-Type");
      if (!ct || !is_json_media_type(*ct))
        early_answer = early(errc::unsupported_media_type, "Content-Type must be application/json");
    }
  }

  if (early_answer) {
    const bool keep = client_keep_alive && after_early == next_step::keep_alive && !draining;
    rm->record(early_answer->status, started);
    const bool written = co_await write(c, std::move(*early_answer), ident, version, keep, m == method::head);
    if (!written)
      co_return next_step::close;
    co_return keep                         ? next_step::keep_alive
    : after_early == next_step::keep_alive ? next_step::close
                                           : after_early;
  }

  if (!parser.is_done()) {
    const auto expect = header(head, "Expect");
    if (expect && iequals(*expect, "100-continue")) {
      bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, version};
      c->stream.expires_after(opts.write_timeout);
      co_await bhttp::async_write(c->stream, cont, use_ec(ec));
      if (ec)
        co_return next_step::close;
    }
    parser.body_limit(limit);
    c->stream.expires_after(opts.body_timeout);
    co_await bhttp::async_read(c->stream, c->buffer, parser, use_ec(ec));
    if (ec == bhttp::error::body_limit) {
      auto r = early(errc::payload_too_large, "the body is over " + std::to_string(limit) + " bytes");
      rm->record(413, started);
      co_await write(c, std::move(r), ident, version, false);
      co_return next_step::linger_close;
    }
    if (ec)
      co_return next_step::close;  // timeout or the client went away mid-body
  }

  request req;
  req.method = m;
  req.target = std::string(target);
  req.path = std::string(path);
  if (query_at != std::string_view::npos)
    req.query = std::string(target.substr(query_at + 1));
  req.route = rt->path_template;
  req.params = std::move(match.params);
  req.headers.reserve(static_cast<std::size_t>(std::distance(head.begin(), head.end())));
  for (const auto& f : head)
    req.headers.add(std::string(sv(f.name_string())), std::string(sv(f.value())));
  req.body = std::move(parser.get().body());
  req.request_id = ident.request_id;
  req.trace = ident.trace;
  req.remote_address = c->remote;

  std::optional<response> res;
  std::exception_ptr failure;
  try {
    if (rt->options.before) {
      auto admitted = co_await rt->options.before(std::move(req));
      if (admitted)
        req = std::move(*admitted);
      else
        res = error_response(admitted.error(), ident.request_id);
    }
    if (!res)
      res = co_await rt->handler(std::move(req));
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure) {
    if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none)
      std::rethrow_exception(failure);  // a forced stop: the connection is going away
    const auto err = error_from_exception(failure);
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    log.error("request failed", {{"requestId", ident.request_id},
                                 {"route", rt->path_template},
                                 {"method", to_string(m)},
                                 {"error", what}});
    res = error_response(err, ident.request_id);
  }
  if (res->status < 100 || res->status > 999) {
    log.error("handler returned an invalid status",
              {{"requestId", ident.request_id}, {"status", res->status}});
    res = error_response(errc::internal, "", ident.request_id);
  }

  const bool keep = client_keep_alive && !draining;
  // Recorded before the write, so a client that has its response also finds it counted.
  rm->record(res->status, started);
  const bool written = co_await write(c, std::move(*res), ident, version, keep, m == method::head);
  co_return (written && keep) ? next_step::keep_alive : next_step::close;
}

asio::awaitable<bool> server::impl::write(std::shared_ptr<connection> c, response r, request_identity ident,
                                          unsigned version, bool keep_alive, bool head_only) {
  bhttp::response<bhttp::string_body> out;
  out.version(version);
  out.result(r.status);
  for (const auto& [name, value] : r.headers)
    out.insert(beast::string_view(name.data(), name.size()), beast::string_view(value.data(), value.size()));
  if (!r.content_type.empty() && out.find(bhttp::field::content_type) == out.end())
    out.set(bhttp::field::content_type, r.content_type);
  out.set("X-Request-Id", ident.request_id);
  if (ident.trace)
    out.set("traceparent", ident.trace->header);
  out.body() = std::move(r.body);
  out.keep_alive(keep_alive);
  out.prepare_payload();
  error_code ec;
  c->stream.expires_after(opts.write_timeout);
  if (head_only) {
    // An answer to HEAD has the headers of the full answer (Content-Length included) and no body: a body
    // would be read by the client as the start of the next response on a kept-alive connection.
    bhttp::response_serializer<bhttp::string_body> serializer{out};
    co_await bhttp::async_write_header(c->stream, serializer, use_ec(ec));
  } else {
    co_await bhttp::async_write(c->stream, out, use_ec(ec));
  }
  co_return !ec;
}

asio::awaitable<void> server::impl::refuse(std::shared_ptr<connection> c) {
  // Answer at once without reading: an overloaded server should spend as little as possible here.
  refused_counter.inc();
  const auto ident = identify_request(std::nullopt, std::nullopt);
  co_await write(c, error_response(errc::unavailable, "", ident.request_id), ident, 11, false);
  co_await linger_close(c);
}

asio::awaitable<void> server::impl::linger_close(std::shared_ptr<connection> c) {
  // Closing with unread input makes the kernel send a reset, which can destroy the response before the
  // client reads it. So: end our side, then discard what the client still sends, briefly and boundedly.
  error_code ec;
  c->stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (!ec) {
    std::array<char, 4096> sink;
    std::size_t total = 0;
    c->stream.expires_after(linger_timeout);
    while (total < linger_bytes) {
      const auto n = co_await c->stream.async_read_some(asio::buffer(sink), use_ec(ec));
      if (ec)
        break;
      total += n;
    }
  }
  c->stream.close();
}

// ---- server ----

server::server(server_options options, router routes, metrics::registry& registry, bkr::logger log)
    : impl_(std::make_shared<impl>(std::move(options), std::move(routes), registry, std::move(log))) {}

server::~server() {
  impl_->stop(std::chrono::milliseconds(0));
}

void server::start() {
  impl_->start();
}

std::uint16_t server::port() const noexcept {
  return impl_->bound_port.load();
}

void server::stop(std::chrono::milliseconds drain) {
  impl_->stop(drain);
}

bool server::draining() const noexcept {
  return impl_->draining.load();
}

std::size_t server::connection_count() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->connections.size();
}

boost::asio::any_io_executor server::executor() const {
  return impl_->ioc.get_executor();
}

}  // namespace bkr::http
