// The backup jobs the fake job service answers: the demo jobs, or jobs read from a JSON file.
#pragma once

#include "bkr/common/error.hpp"
#include "bkr/domain/types.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace bkr::fake_backup_job_service {

/// The demo jobs, the same as `bkrctl seed-demo` writes (tools/bkrctl/src/seed_demo.cpp): demo-local,
/// demo-cloud-a, demo-cloud-b, demo-on-hold (active, on hold) and demo-inactive (inactive).
std::vector<domain::backup_job> demo_jobs();

/// Jobs from JSON text: an array of jobs, or an object `{"jobs": [...]}`, each in the wire form the service
/// answers (`{backupJobId, storagePathName, backupProviderCode, daysToKeep, isActive, holdFlag}`, checked by
/// domain::parse_backup_job). Ids must be unique. config::errc::invalid_value naming the entry otherwise.
result<std::vector<domain::backup_job>> parse_jobs(std::string_view text);

/// parse_jobs of a file's content; config::errc::unreadable_file when it cannot be read.
result<std::vector<domain::backup_job>> load_jobs_file(const std::string& path);

/// Jobs by id. Immutable after construction; safe to share between threads.
class job_catalog {
 public:
  explicit job_catalog(const std::vector<domain::backup_job>& jobs);
  const domain::backup_job* find(std::string_view id) const;
  std::size_t size() const { return jobs_.size(); }

 private:
  std::unordered_map<std::string, domain::backup_job> jobs_;
};

}  // namespace bkr::fake_backup_job_service
