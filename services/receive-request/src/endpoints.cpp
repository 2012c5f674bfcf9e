// The API handlers: accept (group commit), read back (row, message, row), and store status reply intake.
#include "bkr/receive_request/endpoints.hpp"

#include "bkr/common/ids.hpp"
#include "bkr/domain/json.hpp"
#include "bkr/domain/messages.hpp"
#include "bkr/domain/types.hpp"
#include "bkr/domain/validation.hpp"
#include "bkr/receive_request/accept.hpp"
#include "bkr/receive_request/http_errors.hpp"
#include "bkr/receive_request/request_reader.hpp"

#include <functional>

namespace bkr::receive_request {

namespace {

http::response not_found(std::string_view request_id) {
  return http::error_response(http::errc::not_found, "no such backup request", request_id);
}

}  // namespace

endpoints::endpoints(group_committer& committer, const authenticator& auth, storage::connection_pool& pool,
                     blocking_executor blocking, const bkr::clock& clock, bkr::logger log)
    : committer_(committer),
      auth_(auth),
      pool_(pool),
      blocking_(blocking),
      clock_(clock),
      log_(std::move(log)) {}

boost::asio::awaitable<http::response> endpoints::post_backup_request(http::request req) const {
  const auto key = idempotency_key(req.headers);
  if (!key)
    co_return http::error_response(key.error(), req.request_id);
  const auto input = domain::parse_accept_body(req.body);
  if (!input)
    co_return http::error_response(input.error(), req.request_id);
  auto accepted = domain::make_accepted_request(*input, new_uuid_v7(), req.principal->subject, clock_.now());
  if (!accepted)
    co_return http::error_response(accepted.error(), req.request_id);

  const std::string& id = accepted->backup_request_id;
  auto body = domain::accepted_response_body(*accepted);
  std::string body_text = body.dump();
  commit_request item;
  std::string fingerprint;
  if (*key) {
    fingerprint = request_fingerprint(*input);
    item.idempotency = idempotency_record{req.principal->subject, **key, {id, 202, body, fingerprint}};
  }
  item.message = accepted_message(*accepted, std::move(body), std::string(req.trace_id()));

  const auto outcome = co_await committer_.submit(std::move(item));
  if (outcome.status == commit_status::replayed) {
    const auto& first = *outcome.first_response;
    if (auto same = check_same_payload(first, fingerprint); !same) {
      log_.info("idempotency key reused with another payload",
                {{"requestId", req.request_id}, {"backupRequestId", first.backup_request_id}});
      co_return http::error_response(same.error(), req.request_id);
    }
    log_.debug("idempotent repeat answered",
               {{"requestId", req.request_id}, {"backupRequestId", first.backup_request_id}});
    auto r = accepted_response(first.backup_request_id, first.body.dump());
    r.status = static_cast<unsigned>(first.status_code);
    co_return r;
  }
  if (auto failed = commit_error(outcome.status)) {
    log_.warn(
        "backup request not accepted",
        {{"requestId", req.request_id}, {"traceId", req.trace_id()}, {"reason", to_string(outcome.status)}});
    co_return http::error_response(*failed, req.request_id);
  }
  if (log_.enabled(spdlog::level::debug)) {
    log_.debug("backup request accepted",
               {{"requestId", req.request_id}, {"traceId", req.trace_id()}, {"backupRequestId", id}});
  }
  co_return accepted_response(id, std::move(body_text));
}

boost::asio::awaitable<http::response> endpoints::get_backup_request(http::request req) const {
  const std::string id(req.params.get("id"));
  if (!domain::check_printable_ascii(id, "backupRequestId", domain::max_id_length))
    co_return not_found(req.request_id);
  auto found = co_await run_blocking(blocking_, [this, &id] { return read_backup_request(pool_, id); });
  if (!found)
    co_return not_found(req.request_id);
  const auto& caller = req.principal->subject;
  if (found->request.requester_id != caller) {
    const auto d = co_await auth_.decide(caller, std::string(domain::scope_admin));
    if (d == auth::decision::unavailable)
      co_return http::error_response(*decision_error(d, domain::scope_admin), req.request_id);
    // Someone else's request looks exactly like one that does not exist.
    if (d != auth::decision::allowed)
      co_return not_found(req.request_id);
  }
  co_return http::response::json(200, request_view(found->request, found->history));
}

boost::asio::awaitable<http::response> endpoints::post_store_status_reply(http::request req) const {
  const auto reply = domain::parse_store_status_reply_text(req.body);
  if (!reply)
    co_return http::error_response(reply.error(), req.request_id);
  commit_request item;
  item.message = store_status_message(*reply, new_uuid_v7(), std::string(req.trace_id()), clock_.now());
  auto body = store_status_accepted_body(item.message);
  const auto outcome = co_await committer_.submit(std::move(item));
  if (auto failed = commit_error(outcome.status)) {
    log_.warn(
        "store status reply not enqueued",
        {{"requestId", req.request_id}, {"traceId", req.trace_id()}, {"reason", to_string(outcome.status)}});
    co_return http::error_response(*failed, req.request_id);
  }
  log_.info("store status reply enqueued", {{"requestId", req.request_id},
                                            {"traceId", req.trace_id()},
                                            {"backupRequestId", reply->backup_request_id},
                                            {"messageId", body["messageId"]}});
  co_return http::response::json(202, body);
}

http::router make_routes(const endpoints& api, const authenticator& auth, std::size_t body_limit) {
  auto scope = [&auth](std::string_view name) -> http::pre_handler {
    return std::bind_front(&authenticator::require, &auth, std::string(name));
  };
  http::router routes;
  routes.add(
      http::method::post, "/api/backup-requests", std::bind_front(&endpoints::post_backup_request, &api),
      {.json_body = true, .body_limit = body_limit, .before = scope(domain::scope_post_backup_request)});
  routes.add(http::method::get, "/api/backup-requests/{id}",
             std::bind_front(&endpoints::get_backup_request, &api),
             {.before = scope(domain::scope_get_backup_request)});
  routes.add(http::method::post, "/api/store-status-replies",
             std::bind_front(&endpoints::post_store_status_reply, &api),
             {.json_body = true, .body_limit = body_limit, .before = scope(domain::scope_post_store_status)});
  return routes;
}

}  // namespace bkr::receive_request
