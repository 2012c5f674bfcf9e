// Answering store requests (reply in the settlement transaction) and POSTing replies from the outbox.
#include "bkr/fake_backup_interface/handlers.hpp"

#include "bkr/http/client.hpp"
#include "bkr/http/request_id.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <charconv>
#include <future>
#include <thread>
#include <utility>
#include <vector>

namespace bkr::fake_backup_interface {

interface_metrics::interface_metrics(metrics::registry& registry)
    : store_requests(registry.add_counter("bkr_fake_interface_store_requests_total",
                                          "Store requests answered, by provider", {"provider"})),
      replies(registry.add_counter("bkr_fake_interface_replies_total",
                                   "Replies produced, by result (Succeeded, Failed)", {"result"})),
      intake(registry.add_counter("bkr_fake_interface_intake_total",
                                  "HTTP intake of store requests, by result (accepted, duplicate, rejected)",
                                  {"result"})),
      reply_posts(registry.add_counter("bkr_fake_interface_reply_posts_total",
                                       "POSTs of replies (http transport), by outcome (delivered, retried, "
                                       "rejected)",
                                       {"outcome"})) {}

// ---- store requests ----

store_request_handler::store_request_handler(const settings& s, const bkr::clock& clock,
                                             interface_metrics& metrics, bkr::logger log,
                                             messaging::random_source random)
    : rules_(s.rules),
      work_time_(s.work_time),
      reply_queue_(s.transport == reply_transport::queue ? std::string(domain::store_status_message.queue)
                                                         : std::string(reply_outbox_queue)),
      clock_(clock),
      metrics_(metrics),
      log_(std::move(log)),
      random_(random ? std::move(random) : messaging::default_random_source()) {}

messaging::handler_result store_request_handler::handle(const messaging::delivery& d,
                                                        messaging::handler_context& ctx) {
  const auto& m = d.message;
  if (m.type != domain::store_request_message.type)
    return messaging::handler_result::reject("unexpected message type " + m.type + " on " + d.queue +
                                             " (expected StoreRequest)");
  auto request = domain::parse_store_request(m.payload);
  if (!request)
    return messaging::handler_result::reject("invalid store request: " + request.error().message);

  // Simulated copying: the lease stays ours meanwhile, so a kill here hands the request to the next run.
  const auto until = std::chrono::steady_clock::now() + work_time_;
  while (std::chrono::steady_clock::now() < until) {
    if (ctx.stop_requested())
      return messaging::handler_result::retry("stopped while working", std::chrono::milliseconds{0});
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        until - std::chrono::steady_clock::now(), std::chrono::milliseconds{10}));
  }

  const auto cause = decide_failure(rules_, *request, rules_.mode == failure_mode::random ? random_() : 0.0);
  const auto reply = make_reply(*request, cause, clock_.now(), rules_.reply_delay);
  auto envelope = reply_envelope(reply, std::string(service_name), m.trace_id, clock_);
  ctx.publish({reply_queue_, std::move(envelope), rules_.reply_delay});

  ctx.after_commit([this, provider = std::string(domain::to_string(request->backup_provider_code)),
                    result = std::string(domain::to_string(reply.result_type_code)),
                    id = request->backup_request_id, trace = m.trace_id] {
    metrics_.store_requests.with({provider}).inc();
    metrics_.replies.with({result}).inc();
    log_.debug("store request answered", {{"backupRequestId", id},
                                          {"trace_id", trace},
                                          {"provider", provider},
                                          {"result", result},
                                          {"replyQueue", reply_queue_},
                                          {"replyDelayMs", rules_.reply_delay.count()}});
  });
  return messaging::handler_result::commit();
}

// ---- replies over HTTP ----

post_outcome classify_reply_status(unsigned status, std::string_view retry_after) {
  post_outcome o;
  o.detail = "HTTP " + std::to_string(status);
  if (status >= 200 && status < 300) {
    o.delivered = true;
    return o;
  }
  if (status == 408 || status == 429 || status >= 500) {
    long long seconds = 0;
    const auto* end = retry_after.data() + retry_after.size();
    const auto [ptr, ec] = std::from_chars(retry_after.data(), end, seconds);
    if (!retry_after.empty() && ec == std::errc{} && ptr == end && seconds >= 0)
      o.retry_after = std::chrono::milliseconds{std::min<long long>(seconds, 300) * 1000};
    return o;
  }
  o.permanent = true;
  return o;
}

namespace {

boost::asio::awaitable<post_outcome> post_reply(http::client* client, http::client_request req) {
  auto r = co_await client->send(std::move(req));
  if (!r) {
    post_outcome o;
    o.detail = r.error().message;
    const auto& code = r.error().code;
    o.permanent = code.category() == http::client_category() &&
                  !http::is_transient(static_cast<http::client_errc>(code.value()));
    co_return o;
  }
  auto o = classify_reply_status(r->status, r->headers.get("Retry-After").value_or(""));
  if (!o.delivered && !r->body.empty())
    o.detail += ": " + r->body.substr(0, 200);
  co_return o;
}

}  // namespace

struct reply_poster::impl {
  impl(std::string endpoint_url, std::string bearer, std::chrono::milliseconds request_timeout)
      : endpoint(std::move(endpoint_url)),
        token(std::move(bearer)),
        timeout(request_timeout),
        guard(io.get_executor()),
        client(io.get_executor(), http::client_options{.request_timeout = request_timeout,
                                                       .user_agent = std::string(service_name)}),
        thread([this] { io.run(); }) {}
  ~impl() {
    guard.reset();
    io.stop();
    thread.join();
  }

  std::string endpoint;
  std::string token;
  std::chrono::milliseconds timeout;
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard;
  http::client client;
  std::thread thread;
};

reply_poster::reply_poster(std::string endpoint, std::string token, std::chrono::milliseconds timeout,
                           interface_metrics& metrics, bkr::logger log)
    : impl_(std::make_unique<impl>(std::move(endpoint), std::move(token), timeout)),
      metrics_(metrics),
      log_(std::move(log)) {}

reply_poster::~reply_poster() = default;

void reply_poster::prepare(std::span<const messaging::delivery> batch) {
  std::vector<std::pair<std::string, std::future<post_outcome>>> pending;
  pending.reserve(batch.size());
  for (const auto& d : batch) {
    http::client_request req;
    req.method = http::method::post;
    req.url = impl_->endpoint;
    req.body = d.message.payload.dump();
    req.content_type = "application/json";
    req.timeout = impl_->timeout;
    req.headers.set("Authorization", "Bearer " + impl_->token);
    if (http::is_valid_request_id(d.message.trace_id))
      req.headers.set("X-Request-Id", d.message.trace_id);
    pending.emplace_back(d.message.message_id,
                         boost::asio::co_spawn(impl_->io, post_reply(&impl_->client, std::move(req)),
                                               boost::asio::use_future));
  }
  std::map<std::string, post_outcome, std::less<>> outcomes;
  for (auto& [id, f] : pending) {
    try {
      outcomes[id] = f.get();
    } catch (const std::exception& e) {
      outcomes[id] = post_outcome{.detail = e.what()};
    }
  }
  std::lock_guard lock(mutex_);
  outcomes_ = std::move(outcomes);
}

messaging::handler_result reply_poster::handle(const messaging::delivery& d, messaging::handler_context&) {
  post_outcome o;
  {
    std::lock_guard lock(mutex_);
    const auto it = outcomes_.find(d.message.message_id);
    if (it == outcomes_.end())
      return messaging::handler_result::retry("the reply was not posted");
    o = it->second;
  }
  const nlohmann::json fields{{"backupRequestId", d.message.key},
                              {"trace_id", d.message.trace_id},
                              {"attempt", d.message.attempt},
                              {"detail", o.detail}};
  if (o.delivered) {
    metrics_.reply_posts.with({"delivered"}).inc();
    log_.debug("reply delivered", fields);
    return messaging::handler_result::commit();
  }
  if (o.permanent) {
    metrics_.reply_posts.with({"rejected"}).inc();
    log_.error("reply refused; dead-lettered", fields);
    return messaging::handler_result::reject("reply refused: " + o.detail);
  }
  metrics_.reply_posts.with({"retried"}).inc();
  log_.warn("reply not delivered; will retry", fields);
  return messaging::handler_result::retry(o.detail, o.retry_after);
}

}  // namespace bkr::fake_backup_interface
