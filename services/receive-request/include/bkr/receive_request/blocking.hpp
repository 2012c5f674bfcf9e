// Running blocking calls (libpqxx, JWKS fetches) on threads of their own and awaiting them from coroutines.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <type_traits>
#include <utility>

namespace bkr::receive_request {

using blocking_executor = boost::asio::thread_pool::executor_type;

namespace detail {
template <class Fn>
boost::asio::awaitable<std::invoke_result_t<Fn&>> call_blocking(Fn fn) {
  co_return fn();
}
}  // namespace detail

/// Runs `fn()` on `pool` and resumes the calling coroutine on its own executor with the result (or the
/// exception). The result type must be default-constructible (Asio's co_spawn needs it). `fn` is moved
/// into the spawned coroutine, so it may capture references to the caller's frame: the caller is
/// suspended until `fn` returns.
template <class Fn>
boost::asio::awaitable<std::invoke_result_t<Fn&>> run_blocking(blocking_executor pool, Fn fn) {
  co_return co_await boost::asio::co_spawn(pool, detail::call_blocking(std::move(fn)),
                                           boost::asio::use_awaitable);
}

}  // namespace bkr::receive_request
