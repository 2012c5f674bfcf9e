// Ports a stage codes against: the delivery it gets, the result it returns, the publisher and the
// transaction context its writes join.
#pragma once

#include "bkr/messaging/envelope.hpp"

#include <chrono>
#include <exception>
#include <functional>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <typeinfo>
#include <vector>

namespace bkr::messaging {

/// One message handed to a handler. `message.attempt` is 1 on the first delivery.
struct delivery {
  std::string queue;
  envelope message;
};

enum class outcome {
  commit,  ///< done: the message is retired together with the handler's writes and publishes
  retry,   ///< transient failure: try again later (backoff), dead-letter once attempts are exhausted
           ///< (unless the attempt was not spent: see handler_result::postpone)
  reject,  ///< permanent failure: dead-letter now with the reason
};

/// A handler's verdict on one delivery. Value type.
struct handler_result {
  outcome kind = outcome::commit;
  std::string reason;                              ///< retry: last error; reject: dead-letter reason
  std::optional<std::chrono::milliseconds> delay;  ///< retry only: overrides the backoff
  /// retry only: false when the message got no real try (a required dependency is known to be down, e.g.
  /// its circuit is open): the attempt counted at claim is given back, so waiting out an outage never
  /// exhausts a message's attempts.
  bool attempt_spent = true;

  static handler_result commit() { return {}; }
  static handler_result retry(std::string reason, std::optional<std::chrono::milliseconds> delay = {}) {
    return {outcome::retry, std::move(reason), delay};
  }
  /// Back on the queue after `delay` without spending an attempt (never dead-lettered for it).
  static handler_result postpone(std::string reason, std::chrono::milliseconds delay) {
    return {outcome::retry, std::move(reason), delay, false};
  }
  static handler_result reject(std::string reason) { return {outcome::reject, std::move(reason), {}}; }
};

/// The single place where handler exceptions become results: bkr::error_exception (an expected failure,
/// i.e. bad data) and non-retryable infrastructure_error -> reject; everything else -> retry.
handler_result classify(std::exception_ptr failure);

/// Publishes messages as part of one unit of work: nothing is visible to consumers before that unit
/// commits, and nothing remains if it rolls back. Bound to one transaction; used by one thread.
class publisher {
 public:
  virtual ~publisher() = default;
  virtual void publish(outgoing_message message) = 0;
  /// Same as publish() for each, in one round trip where the backend can.
  virtual void publish_many(std::vector<outgoing_message> messages);
};

/// What a handler gets besides its delivery: a publisher whose messages commit together with the
/// retirement of the delivery, and (backend permitting) the transaction its own writes should join.
/// Valid only during the handle() call; used by the consumer's thread.
class handler_context : public publisher {
 public:
  /// The backend transaction object of type T that the handler's own writes should use so that they
  /// commit atomically with the settlement (Postgres backend: bkr::storage::unit_of_work), or nullptr
  /// when this backend has none. Asking for it marks the start of the handler's writes: they are undone
  /// if the handler returns retry or reject, or throws.
  template <class T>
  T* find_native() {
    return static_cast<T*>(native(typeid(T)));
  }
  template <class T>
  T& native() {
    if (T* p = find_native<T>())
      return *p;
    throw std::logic_error(std::string("this messaging backend offers no ") + typeid(T).name());
  }
  /// Runs `fn` after the settlement committed (never on rollback or lease loss).
  virtual void after_commit(std::function<void()> fn) = 0;
  /// True once the consumer was asked to stop; long handlers may return retry early.
  virtual bool stop_requested() const = 0;

 protected:
  virtual void* native(const std::type_info& type) = 0;
};

/// A stage's message handler. Called from one consumer thread at a time; a handler shared by several
/// consumers must be thread-safe.
class handler {
 public:
  virtual ~handler() = default;
  /// Called once per claimed batch before its settlement transaction opens: the place for calls to the
  /// outside world, so they do not hold a transaction open. Exceptions are logged and ignored.
  virtual void prepare(std::span<const delivery> batch) { (void)batch; }
  virtual handler_result handle(const delivery& d, handler_context& ctx) = 0;

  /// Optional, for throughput: handles a whole batch inside its settlement transaction through one `ctx`,
  /// with set-based reads and writes. Returns one verdict per delivery, in order, or nullopt to decline
  /// (nothing written; the consumer then calls handle() for each). The batch's writes and publishes are
  /// kept as a whole, so a verdict other than commit must come with no writes or publishes for its
  /// delivery. Throwing undoes the batch's writes, and the consumer handles it message by message instead.
  /// The default declines.
  virtual std::optional<std::vector<handler_result>> handle_batch(std::span<const delivery> batch,
                                                                  handler_context& ctx) {
    (void)batch;
    (void)ctx;
    return std::nullopt;
  }
};

/// Adapts a function to the handler interface.
class function_handler final : public handler {
 public:
  using fn = std::function<handler_result(const delivery&, handler_context&)>;
  explicit function_handler(fn f) : f_(std::move(f)) {}
  handler_result handle(const delivery& d, handler_context& ctx) override { return f_(d, ctx); }

 private:
  fn f_;
};

}  // namespace bkr::messaging
