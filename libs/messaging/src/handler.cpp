// Default publish_many, exception classification and the stats lookup helper.
#include "bkr/messaging/handler.hpp"
#include "bkr/messaging/admin.hpp"

namespace bkr::messaging {

void publisher::publish_many(std::vector<outgoing_message> messages) {
  for (auto& m : messages)
    publish(std::move(m));
}

handler_result classify(std::exception_ptr failure) {
  try {
    std::rethrow_exception(failure);
  } catch (const bkr::error_exception& e) {
    return handler_result::reject(e.what());
  } catch (const bkr::infrastructure_error& e) {
    if (e.retryable())
      return handler_result::retry(e.what());
    return handler_result::reject(e.what());
  } catch (const std::exception& e) {
    return handler_result::retry(e.what());
  } catch (...) {
    return handler_result::retry("unknown exception");
  }
}

queue_stats find_stats(const std::vector<queue_stats>& all, std::string_view queue) {
  for (const auto& s : all)
    if (s.queue == queue)
      return s;
  queue_stats none;
  none.queue = std::string(queue);
  return none;
}

}  // namespace bkr::messaging
