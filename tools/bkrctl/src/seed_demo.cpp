// `bkrctl seed-demo`: demo backup jobs (active, inactive, on hold, one per provider) and a demo client.
#include "commands.hpp"

#include "bkr/storage/backup_job_repository.hpp"
#include "bkr/storage/client_authorization_repository.hpp"
#include "bkr/storage/connection_pool.hpp"
#include "bkr/storage/unit_of_work.hpp"

#include <ostream>

namespace bkr::bkrctl {

/// The demo data, also used by the README walkthrough and the end-to-end tests.
std::vector<domain::backup_job> demo_jobs() {
  using domain::provider;
  return {
      {"demo-local", "local/demo", provider::local, 30, true, false},
      {"demo-cloud-a", "cloud-a/demo", provider::cloud_a, 365, true, false},
      {"demo-cloud-b", "cloud-b/demo", provider::cloud_b, 3650, true, false},
      {"demo-on-hold", "cloud-a/held", provider::cloud_a, 90, true, true},
      {"demo-inactive", "local/inactive", provider::local, 7, false, false},
  };
}

int seed_demo(const context& ctx, std::span<const std::string> args) {
  if (!args.empty()) {
    ctx.err << "bkrctl seed-demo: takes no arguments (set BKR_DATABASE_URL)\n";
    return 2;
  }
  if (ctx.database_url.empty()) {
    ctx.err << "bkrctl seed-demo: BKR_DATABASE_URL is not set\n";
    return 1;
  }
  storage::connection_pool pool({.conninfo = ctx.database_url, .size = 1});
  storage::unit_of_work uow(pool);
  const storage::backup_job_repository jobs;
  for (const auto& job : demo_jobs())
    jobs.upsert(uow, job);
  const std::set<std::string> all_scopes{
      std::string(domain::scope_post_backup_request), std::string(domain::scope_get_backup_request),
      std::string(domain::scope_post_store_status), std::string(domain::scope_admin)};
  storage::client_authorization_repository clients;
  clients.upsert(uow, "demo-client", all_scopes);
  clients.upsert(uow, "demo-reader", {std::string(domain::scope_get_backup_request)});
  uow.commit();
  for (const auto& job : demo_jobs()) {
    ctx.out << "seed-demo: backup job " << job.backup_job_id << " ("
            << domain::to_string(job.backup_provider_code) << (job.is_active ? ", active" : ", inactive")
            << (job.hold_flag ? ", on hold" : "") << ")\n";
  }
  ctx.out << "seed-demo: client demo-client (all scopes), demo-reader (get-backup-request)\n";
  return 0;
}

}  // namespace bkr::bkrctl
