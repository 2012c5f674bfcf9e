// The default adapters: jobs from the local backup_job table, store requests onto the provider's queue.
#include "bkr/app/backup_interface.hpp"
#include "bkr/app/backup_job_service.hpp"
#include "bkr/app/stage.hpp"

namespace bkr::app {

job_lookup local_backup_job_service::find(storage::unit_of_work& uow, std::string_view backup_job_id) {
  return jobs_.find(uow, backup_job_id);
}

result<void> queue_backup_interface::hand_over(messaging::publisher& out,
                                               const domain::store_request& request,
                                               const messaging::envelope& cause) {
  out.publish(next_message(domain::store_request_message,
                           domain::store_request_queue(request.backup_provider_code),
                           request.backup_request_id, nlohmann::json(request), cause, producer_, clock_));
  return {};
}

}  // namespace bkr::app
