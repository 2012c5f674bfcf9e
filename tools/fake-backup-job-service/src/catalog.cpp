// Demo jobs and jobs files of the fake job service.
#include "bkr/fake_backup_job_service/catalog.hpp"

#include "bkr/common/config.hpp"
#include "bkr/domain/json.hpp"

#include <nlohmann/json.hpp>

#include <fstream>
#include <set>
#include <sstream>

namespace bkr::fake_backup_job_service {

std::vector<domain::backup_job> demo_jobs() {
  using domain::provider;
  // Keep in step with tools/bkrctl/src/seed_demo.cpp (a test compares them).
  return {
      {"demo-local", "local/demo", provider::local, 30, true, false},
      {"demo-cloud-a", "cloud-a/demo", provider::cloud_a, 365, true, false},
      {"demo-cloud-b", "cloud-b/demo", provider::cloud_b, 3650, true, false},
      {"demo-on-hold", "cloud-a/held", provider::cloud_a, 90, true, true},
      {"demo-inactive", "local/inactive", provider::local, 7, false, false},
  };
}

result<std::vector<domain::backup_job>> parse_jobs(std::string_view text) {
  auto invalid = [](std::string message) {
    return bkr::error{config::make_error_code(config::errc::invalid_value), std::move(message)};
  };
  const auto doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded())
    return invalid("jobs file is not JSON");
  const nlohmann::json* list = &doc;
  if (doc.is_object()) {
    const auto it = doc.find("jobs");
    if (it == doc.end())
      return invalid("jobs file: an object needs a \"jobs\" array");
    list = &*it;
  }
  if (!list->is_array())
    return invalid("jobs file: expected an array of jobs or {\"jobs\": [...]}");
  std::vector<domain::backup_job> jobs;
  std::set<std::string, std::less<>> seen;
  for (std::size_t i = 0; i < list->size(); ++i) {
    auto job = domain::parse_backup_job((*list)[i]);
    if (!job)
      return invalid("jobs file: job " + std::to_string(i) + ": " + job.error().message);
    if (!seen.insert(job->backup_job_id).second)
      return invalid("jobs file: job " + std::to_string(i) + ": backupJobId " + job->backup_job_id +
                     " appears twice");
    jobs.push_back(std::move(*job));
  }
  return jobs;
}

result<std::vector<domain::backup_job>> load_jobs_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  if (in)
    content << in.rdbuf();
  if (!in || in.bad())
    return bkr::error{config::make_error_code(config::errc::unreadable_file),
                      "cannot read jobs file " + path};
  return parse_jobs(content.str());
}

job_catalog::job_catalog(const std::vector<domain::backup_job>& jobs) {
  for (const auto& j : jobs)
    jobs_.emplace(j.backup_job_id, j);
}

const domain::backup_job* job_catalog::find(std::string_view id) const {
  const auto it = jobs_.find(std::string(id));
  return it == jobs_.end() ? nullptr : &it->second;
}

}  // namespace bkr::fake_backup_job_service
