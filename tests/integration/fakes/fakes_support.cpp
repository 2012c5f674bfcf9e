// Helpers shared by the tests of the fake outside systems.
#include "fakes_support.hpp"

#include "bkr/common/clock.hpp"
#include "bkr/common/ids.hpp"
#include "bkr/domain/messages.hpp"
#include "bkr/messaging/postgres/log.hpp"
#include "bkr/storage/unit_of_work.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace bkr::test {

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition())
      return true;
    std::this_thread::sleep_for(5ms);
  }
  return condition();
}

// ---- child processes ----

child_process::child_process(const std::string& path, const std::map<std::string, std::string>& env)
    : log_(std::filesystem::temp_directory_path() / ("bkr-fake-" + new_uuid_v7() + ".log")) {
  std::vector<std::string> vars;
  for (char** e = environ; *e; ++e) {
    const std::string v(*e);
    if (!v.starts_with("BKR_"))
      vars.push_back(v);
  }
  for (const auto& [k, v] : env)
    vars.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& v : vars)
    envp.push_back(v.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::string p = path;
  char* argv[] = {p.data(), nullptr};
  const int rc = posix_spawn(&pid_, path.c_str(), &actions, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  REQUIRE(rc == 0);
}

child_process::~child_process() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  std::error_code ec;
  std::filesystem::remove(log_, ec);
}

std::string child_process::output() const {
  std::ifstream in(log_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

nlohmann::json child_process::log_line(const std::string& msg) const {
  std::istringstream lines(output());
  std::string line;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.value("msg", "") == msg)
      return j;
  }
  return nullptr;
}

nlohmann::json child_process::wait_started(std::chrono::milliseconds timeout) const {
  nlohmann::json started;
  const bool ok = eventually(
      [&] {
        started = log_line("started");
        return !started.is_null();
      },
      timeout);
  INFO(output());
  REQUIRE(ok);
  return started;
}

void child_process::signal(int sig) {
  if (pid_ > 0)
    ::kill(pid_, sig);
}

int child_process::wait_exit(std::chrono::milliseconds timeout) {
  int status = 0;
  const bool exited = eventually([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, timeout);
  if (!exited)
    return -1;
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// ---- queues ----

std::vector<mq_row> mq_messages(storage::connection_pool& pool, const std::string& queue) {
  std::vector<mq_row> out;
  for (auto& w : messaging::postgres::log_admin(pool).peek(queue, 100000))
    out.push_back({std::move(w.message),
                   std::chrono::duration_cast<std::chrono::milliseconds>(w.run_at - w.enqueued_at)});
  return out;
}

std::size_t mq_count(storage::connection_pool& pool, const std::string& queue) {
  return mq_messages(pool, queue).size();
}

std::vector<std::pair<std::string, std::string>> mq_dead_letters(storage::connection_pool& pool,
                                                                 const std::string& queue) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& d : messaging::postgres::log_admin(pool).list_dead_letters(queue, 100000))
    out.emplace_back(d.message.key, d.reason);
  return out;
}

domain::store_request sample_store_request(const std::string& id, domain::provider p,
                                           const std::string& job_id) {
  domain::store_request r;
  r.backup_request_id = id;
  r.backup_job_id = job_id;
  r.data_date = std::chrono::year{2026} / 11 / 20;
  r.prepared_data_path_name = "/prepared/" + id;
  r.backup_provider_code = p;
  r.storage_path_name = std::string(domain::to_string(p)) + "/store";
  return r;
}

void publish_store_requests(storage::connection_pool& pool,
                            const std::vector<domain::store_request>& requests) {
  const bkr::system_clock clock;
  std::vector<messaging::outgoing_message> messages;
  for (const auto& r : requests) {
    auto e = messaging::make_envelope(std::string(domain::store_request_message.type), r.backup_request_id,
                                      nlohmann::json(r), "bkr-send-to-interface",
                                      "trace-" + r.backup_request_id, clock);
    messages.push_back({domain::store_request_queue(r.backup_provider_code), std::move(e)});
  }
  storage::unit_of_work uow(pool);
  messaging::postgres::log_publisher(uow).publish_many(std::move(messages));
  uow.commit();
}

// ---- metrics ----

std::optional<double> metric_value(const std::string& exposition, const std::string& sample) {
  std::istringstream lines(exposition);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.size() > sample.size() && line.starts_with(sample) && line[sample.size()] == ' ')
      return std::stod(line.substr(sample.size() + 1));
  }
  return std::nullopt;
}

}  // namespace bkr::test
