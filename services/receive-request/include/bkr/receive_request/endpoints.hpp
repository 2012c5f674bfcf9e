// The API's handlers and route table: POST/GET backup requests and POST store status replies.
#pragma once

#include "bkr/common/clock.hpp"
#include "bkr/common/log.hpp"
#include "bkr/http/message.hpp"
#include "bkr/http/router.hpp"
#include "bkr/receive_request/authenticator.hpp"
#include "bkr/receive_request/blocking.hpp"
#include "bkr/receive_request/group_committer.hpp"
#include "bkr/storage/connection_pool.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstddef>

namespace bkr::receive_request {

/// The handlers. Each runs on its connection's strand; database work goes through the group committer or
/// the blocking pool. Stateless; everything it refers to is borrowed from the composition root and must
/// outlive the server. Thread-safe.
class endpoints {
 public:
  endpoints(group_committer& committer, const authenticator& auth, storage::connection_pool& pool,
            blocking_executor blocking, const bkr::clock& clock, bkr::logger log);

  /// POST /api/backup-requests: Idempotency-Key, body validation, then 202 once the accepted message is
  /// committed (or the first answer to the key).
  boost::asio::awaitable<http::response> post_backup_request(http::request req) const;
  /// GET /api/backup-requests/{id}: the request and its history; 404 for other clients' requests unless
  /// the caller has `admin` (existence is not revealed).
  boost::asio::awaitable<http::response> get_backup_request(http::request req) const;
  /// POST /api/store-status-replies: a validated reply, 202 once enqueued on backup-interface.store-status.
  boost::asio::awaitable<http::response> post_store_status_reply(http::request req) const;

 private:
  group_committer& committer_;
  const authenticator& auth_;
  storage::connection_pool& pool_;
  blocking_executor blocking_;
  const bkr::clock& clock_;
  bkr::logger log_;
};

/// The route table: each route with its scope check (authenticator::require) and the JSON body rule.
http::router make_routes(const endpoints& api, const authenticator& auth, std::size_t body_limit);

}  // namespace bkr::receive_request
