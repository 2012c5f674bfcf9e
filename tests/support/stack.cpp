// The pipeline's processes for end-to-end and fault tests, the load that drives them and the invariants.
#include "stack.hpp"

#include "process.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

extern char** environ;

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace bkr::test {

std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

fs::path scratch_dir(const std::string& name) {
  auto dir = fs::temp_directory_path() / ("bkr-e2e-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// ---- child_process ----

child_process::child_process(const std::string& exe, const std::map<std::string, std::string>& env,
                             const fs::path& log)
    : log_(log) {
  std::map<std::string, std::string> merged;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv(*e);
    if (const auto eq = kv.find('='); eq != std::string::npos && !kv.starts_with("BKR_"))
      merged[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : env)
    merged[k] = v;
  std::vector<std::string> strings;
  for (const auto& [k, v] : merged)
    strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : strings)
    envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string program = exe;
  std::vector<char*> argv{program.data(), nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  const int rc = ::posix_spawn(&pid_, program.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  REQUIRE(rc == 0);
}

child_process::~child_process() {
  if (pid_ > 0 && !status_) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

void child_process::signal(int sig) const {
  if (pid_ > 0 && !status_)
    ::kill(pid_, sig);
}

std::optional<int> child_process::exit_status() {
  if (!status_ && pid_ > 0) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_)
      status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  }
  return status_;
}

std::optional<int> child_process::wait_exit(std::chrono::milliseconds timeout) {
  eventually([&] { return exit_status().has_value(); }, timeout, 20ms);
  return exit_status();
}

std::optional<int> child_process::stop(std::chrono::milliseconds timeout) {
  signal(SIGINT);
  return wait_exit(timeout);
}

void child_process::kill() {
  if (pid_ <= 0 || status_)
    return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  if (::waitpid(pid_, &status, 0) == pid_)
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

std::string child_process::log() const {
  std::ifstream in(log_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ---- stack ----

stack::stack(std::vector<app> apps, fs::path log_dir) : apps_(std::move(apps)), log_dir_(std::move(log_dir)) {
  children_.resize(apps_.size());
}

stack::~stack() {
  std::lock_guard lock(mutex_);
  children_.clear();
}

std::size_t stack::index(const std::string& name) const {
  for (std::size_t i = 0; i < apps_.size(); ++i)
    if (apps_[i].name == name)
      return i;
  FAIL("no app named " << name);
  return 0;
}

void stack::start_all() {
  for (std::size_t i = 0; i < apps_.size(); ++i)
    start(i);
}

void stack::start(std::size_t i) {
  std::lock_guard lock(mutex_);
  auto& c = children_.at(i);
  if (c && c->running())
    return;
  const auto log = log_dir_ / (apps_[i].name + ".log");
  std::ofstream(log, std::ios::app) << "--- started\n";
  c = std::make_unique<child_process>(built_executable(apps_[i].exe), apps_[i].env, log);
}

void stack::require_ready(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (std::size_t i = 0; i < apps_.size(); ++i) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    const bool ok = eventually([&] { return ready(apps_[i].ops_port); }, std::max(left, 100ms));
    INFO(apps_[i].name << " is not ready; its log:\n" << log(i));
    REQUIRE(ok);
  }
}

void stack::signal(std::size_t i, int sig) {
  std::lock_guard lock(mutex_);
  if (children_.at(i))
    children_[i]->signal(sig);
}

void stack::kill(std::size_t i) {
  std::lock_guard lock(mutex_);
  if (children_.at(i))
    children_[i]->kill();
}

std::optional<int> stack::exit_status(std::size_t i) {
  std::lock_guard lock(mutex_);
  if (!children_.at(i))
    return std::nullopt;
  return children_[i]->exit_status();
}

std::vector<std::optional<int>> stack::stop_all(std::chrono::milliseconds timeout) {
  std::lock_guard lock(mutex_);
  for (auto& c : children_)
    if (c)
      c->signal(SIGINT);
  std::vector<std::optional<int>> codes;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (auto& c : children_) {
    if (!c) {
      codes.emplace_back();
      continue;
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    codes.push_back(c->wait_exit(std::max(left, 10ms)));
  }
  return codes;
}

std::string stack::log(std::size_t i) const {
  std::ifstream in(log_dir_ / (apps_.at(i).name + ".log"));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ---- apps ----

std::vector<app> pipeline_apps(const std::string& conninfo, std::uint16_t api_port) {
  const std::map<std::string, std::string> common{
      {"BKR_DATABASE_URL", conninfo}, {"BKR_LOG_LEVEL", "warn"}, {"BKR_DRAIN_DEADLINE", "5s"}};
  std::vector<app> apps{
      {"bkr-receive-request",
       "services/receive-request/bkr-receive-request",
       {{"BKR_HTTP_PORT", std::to_string(api_port)},
        {"BKR_AUTH_ALGORITHMS", "HS256"},
        {"BKR_AUTH_HS256_SECRET", stack_hs256_secret}}},
      {"bkr-create-request", "services/create-request/bkr-create-request", {}},
      {"bkr-check-allowed", "services/check-allowed/bkr-check-allowed", {}},
      {"bkr-send-to-interface", "services/send-to-interface/bkr-send-to-interface", {}},
      {"bkr-receive-status", "services/receive-status/bkr-receive-status", {}},
      {"bkr-fake-backup-interface",
       "tools/fake-backup-interface/bkr-fake-backup-interface",
       {{"BKR_FAKE_REPLY_DELAY", "20ms"}, {"BKR_HTTP_ENABLED", "false"}}},
  };
  for (auto& a : apps) {
    a.ops_port = free_port();
    a.env.insert(common.begin(), common.end());
    a.env["BKR_OPS_PORT"] = std::to_string(a.ops_port);
  }
  return apps;
}

app fake_job_service_app(std::uint16_t http_port, const std::string& jobs_file) {
  app a{"bkr-fake-backup-job-service",
        "tools/fake-backup-job-service/bkr-fake-backup-job-service",
        {{"BKR_HTTP_PORT", std::to_string(http_port)}, {"BKR_LOG_LEVEL", "warn"}, {"BKR_HTTP_THREADS", "2"}},
        free_port()};
  a.env["BKR_OPS_PORT"] = std::to_string(a.ops_port);
  if (!jobs_file.empty())
    a.env["BKR_FAKE_JOBS_FILE"] = jobs_file;
  return a;
}

app another_instance(app a, std::string name) {
  a.name = std::move(name);
  a.ops_port = free_port();
  a.env["BKR_OPS_PORT"] = std::to_string(a.ops_port);
  return a;
}

void write_jobs_file(const fs::path& path) {
  const nlohmann::json jobs = nlohmann::json::array({
      {{"backupJobId", "demo-local"},
       {"storagePathName", "local/demo"},
       {"backupProviderCode", "Local"},
       {"daysToKeep", 30},
       {"isActive", true},
       {"holdFlag", false}},
      {{"backupJobId", "demo-inactive"},
       {"storagePathName", "local/inactive"},
       {"backupProviderCode", "Local"},
       {"daysToKeep", 7},
       {"isActive", false},
       {"holdFlag", false}},
      {{"backupJobId", "e2e-fail"},
       {"storagePathName", "local/e2e-fail"},
       {"backupProviderCode", "Local"},
       {"daysToKeep", 7},
       {"isActive", true},
       {"holdFlag", false}},
  });
  std::ofstream(path) << jobs.dump(2);
}

bool ready(std::uint16_t ops_port) {
  try {
    return bkr::rr_test::http_call(ops_port, "GET", "/readyz").status == 200;
  } catch (const std::exception&) {
    return false;
  }
}

std::string metrics_text(std::uint16_t ops_port) {
  try {
    return bkr::rr_test::http_call(ops_port, "GET", "/metrics").body;
  } catch (const std::exception&) {
    return {};
  }
}

std::optional<double> metric_value(const std::string& text, const std::string& sample) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > sample.size() && line.compare(0, sample.size(), sample) == 0 &&
        line[sample.size()] == ' ')
      return std::stod(line.substr(sample.size() + 1));
  }
  return std::nullopt;
}

// ---- seeding and tokens ----

void seed(const std::string& conninfo) {
  const auto r =
      run_process({built_executable("tools/bkrctl/bkrctl"), "seed-demo"}, {{"BKR_DATABASE_URL", conninfo}});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  pqxx::connection c(conninfo);
  pqxx::work tx(c);
  tx.exec_params(
      "INSERT INTO backup_job (backup_job_id, storage_path_name, backup_provider_code, days_to_keep, "
      "is_active, hold_flag) VALUES ($1, $2, $3, $4, $5, $6)",
      "e2e-fail", "local/e2e-fail", "Local", 7, true, false);
  tx.commit();
}

std::string mint_token(const std::string& conninfo, const std::string& client) {
  const auto r = run_process({built_executable("tools/bkrctl/bkrctl"), "token", "--client", client},
                             {{"BKR_DATABASE_URL", conninfo}, {"BKR_AUTH_HS256_SECRET", stack_hs256_secret}});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto token = r.out;
  while (!token.empty() && (token.back() == '\n' || token.back() == ' '))
    token.pop_back();
  return token;
}

const std::map<std::string, std::string>& expected_final_status() {
  static const std::map<std::string, std::string> expected{
      {"demo-local", "Succeeded"}, {"demo-inactive", "NotAllowed"}, {"e2e-fail", "Failed"}};
  return expected;
}

// ---- load ----

std::vector<std::string> submit(std::uint16_t api_port, const std::string& token, const std::string& job,
                                int count, int threads) {
  std::mutex m;
  std::vector<std::string> ids;
  std::vector<std::string> failures;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      bkr::rr_test::http_connection conn(api_port);
      for (int i = t; i < count; i += threads) {
        const auto r = conn.request("POST", "/api/backup-requests", bkr::rr_test::json_headers(token),
                                    bkr::rr_test::accept_body(job, "/data/e2e-" + std::to_string(i)));
        std::lock_guard lock(m);
        if (r.status == 202)
          ids.push_back(r.json().at("backupRequestId").get<std::string>());
        else
          failures.push_back(std::to_string(r.status) + " " + r.body);
      }
    });
  }
  for (auto& w : workers)
    w.join();
  INFO((failures.empty() ? std::string{} : failures.front()));
  REQUIRE(failures.empty());
  return ids;
}

load_run::load_run(load_options options)
    : options_(std::move(options)), started_(std::chrono::steady_clock::now()) {
  if (!options_.job_of)
    options_.job_of = [](int) { return std::string("demo-local"); };
  for (int t = 0; t < options_.threads; ++t)
    threads_.emplace_back([this, t] { run_thread(t); });
}

load_run::~load_run() {
  abandoned_ = true;
  for (auto& t : threads_)
    if (t.joinable())
      t.join();
}

void load_run::run_thread(int t) {
  using clock = std::chrono::steady_clock;
  const auto deadline = started_ + options_.deadline;
  std::unique_ptr<bkr::rr_test::http_connection> conn;
  long posts = 0, connection_errors = 0, given_up = 0;
  std::vector<int> retried;
  std::map<unsigned, long> statuses;
  std::vector<load_result::accepted_request> accepted;
  std::string example;
  const int total = options_.only.empty() ? options_.count : static_cast<int>(options_.only.size());
  for (int n = t; n < total && !abandoned_; n += options_.threads) {
    const int i = options_.only.empty() ? n : options_.only[static_cast<std::size_t>(n)];
    if (options_.rate > 0) {
      const auto due = started_ + std::chrono::duration_cast<clock::duration>(
                                      std::chrono::duration<double>(n / options_.rate));
      std::this_thread::sleep_until(due);
    }
    const auto job = options_.job_of(i);
    const auto key = options_.key_prefix + "-" + std::to_string(i);
    const auto body = bkr::rr_test::accept_body(job, "/data/" + key);
    const auto headers = bkr::rr_test::json_headers(options_.token, {{"Idempotency-Key", key}});
    auto pause = 50ms;
    bool done = false;
    for (int attempt = 0; !done && !abandoned_; ++attempt) {
      if (attempt == 1)
        retried.push_back(i);
      if (clock::now() >= deadline) {
        ++given_up;
        example = "no 202 for " + key + " before the deadline";
        break;
      }
      try {
        if (!conn)
          conn = std::make_unique<bkr::rr_test::http_connection>(options_.api_port, options_.request_timeout);
        ++posts;
        const auto r = conn->request("POST", "/api/backup-requests", headers, body);
        ++statuses[r.status];
        if (r.status == 202) {
          accepted.push_back({i, r.json().at("backupRequestId").get<std::string>(), job});
          done = true;
          break;
        }
        if (r.status != 503) {
          ++given_up;
          example = "HTTP " + std::to_string(r.status) + " " + r.body;
          break;
        }
        // 503: the service is draining or its database is away; a client waits and sends it again.
        conn.reset();
      } catch (const std::exception&) {
        ++connection_errors;
        conn.reset();
      }
      std::this_thread::sleep_for(pause);
      pause = std::min<std::chrono::milliseconds>(pause * 2, 500ms);
    }
    if (done)
      ++answered_;
  }
  std::lock_guard lock(mutex_);
  result_.posts += posts;
  result_.connection_errors += connection_errors;
  result_.retried_requests += static_cast<long>(retried.size());
  result_.retried_indexes.insert(result_.retried_indexes.end(), retried.begin(), retried.end());
  result_.given_up += given_up;
  for (const auto& [s, n] : statuses)
    result_.statuses[s] += n;
  result_.accepted.insert(result_.accepted.end(), accepted.begin(), accepted.end());
  if (!example.empty())
    result_.example_failure = example;
  ++finished_;
}

const load_result& load_run::result() {
  if (!joined_) {
    for (auto& t : threads_)
      t.join();
    joined_ = true;
    result_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  }
  return result_;
}

// ---- database views ----

std::map<std::string, long> final_counts(const std::string& conninfo) {
  pqxx::connection c(conninfo);
  pqxx::read_transaction tx(c);
  std::map<std::string, long> counts;
  for (const auto& row : tx.exec("SELECT status_type_code, count(*) FROM backup_request GROUP BY 1"))
    counts[row[0].as<std::string>()] = row[1].as<long>();
  return counts;
}

long finished(const std::string& conninfo) {
  const auto counts = final_counts(conninfo);
  long n = 0;
  for (const auto* s : {"NotAllowed", "Succeeded", "Failed"})
    if (auto it = counts.find(s); it != counts.end())
      n += it->second;
  return n;
}

namespace {

// Messages not consumed yet: the log's rows after their partition's cursor (all of a partition without one)
// and the delay lane. A scan: fine for a test database.
constexpr const char* unconsumed_sql = R"sql(
SELECT (SELECT count(*) FROM mq.delayed) +
       (SELECT count(*) FROM mq.log m WHERE NOT EXISTS (
          SELECT 1 FROM mq.cursors c WHERE c.queue = m.queue AND c.part = m.part AND (c.tx, c.seq) >= (m.tx, m.seq)))
)sql";

}  // namespace

long queued_messages(const std::string& conninfo) {
  pqxx::connection c(conninfo);
  pqxx::read_transaction tx(c);
  return tx.exec1(unconsumed_sql)[0].as<long>();
}

std::vector<dead_letter> dead_letters(const std::string& conninfo) {
  pqxx::connection c(conninfo);
  pqxx::read_transaction tx(c);
  std::vector<dead_letter> out;
  for (const auto& row : tx.exec("SELECT message_id::text, queue, key, reason, attempts FROM mq.dead_letters "
                                 "ORDER BY queue, message_id"))
    out.push_back({row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>(),
                   row[3].as<std::string>(), row[4].as<int>()});
  return out;
}

bool invariant_report::clean() const {
  return missing == 0 && not_final == 0 && wrong_status == 0 && wrong_journeys == 0 &&
         duplicate_transitions == 0 && double_backups == 0 && backup_mismatches == 0 &&
         unexpected_requests == 0 && leftover_messages == 0;
}

std::string invariant_report::summary() const {
  std::ostringstream out;
  out << "accepted=" << accepted << " lost=" << missing << " not_final=" << not_final
      << " wrong_status=" << wrong_status << " wrong_journeys=" << wrong_journeys
      << " duplicate_transitions=" << duplicate_transitions << " double_backups=" << double_backups
      << " backup_mismatches=" << backup_mismatches << " unexpected_requests=" << unexpected_requests
      << " leftover_messages=" << leftover_messages << " dead_letters=" << dead_letters;
  return out.str();
}

invariant_report check_invariants(const std::string& conninfo,
                                  const std::map<std::string, std::string>& accepted,
                                  const std::vector<std::string>& ignored) {
  static const std::map<std::string, std::string> journeys{
      {"Succeeded", "Accepted>Received,Received>Allowed,Allowed>Sent,Sent>Succeeded"},
      {"Failed", "Accepted>Received,Received>Allowed,Allowed>Sent,Sent>Failed"},
      {"NotAllowed", "Accepted>Received,Received>NotAllowed"},
  };
  invariant_report r;
  r.accepted = static_cast<long>(accepted.size());
  pqxx::connection c(conninfo);
  pqxx::read_transaction tx(c);

  std::map<std::string, std::pair<std::string, std::string>> rows;  // id -> (status, path)
  for (const auto& row :
       tx.exec("SELECT r.backup_request_id, r.status_type_code, coalesce(string_agg(h.from_status || '>' || "
               "h.to_status, ',' ORDER BY h.history_id), '') FROM backup_request r LEFT JOIN "
               "backup_request_history h "
               "USING (backup_request_id) GROUP BY r.backup_request_id, r.status_type_code"))
    rows[row[0].as<std::string>()] = {row[1].as<std::string>(), row[2].as<std::string>()};
  for (const auto& [id, row] : rows)
    ++r.final_counts[row.first];

  auto note = [&r](const std::string& what) {
    if (r.example.empty())
      r.example = what;
  };
  for (const auto& [id, job] : accepted) {
    const auto it = rows.find(id);
    if (it == rows.end()) {
      ++r.missing;
      note("missing " + id);
      continue;
    }
    const auto& [status, path] = it->second;
    const auto journey = journeys.find(status);
    if (journey == journeys.end()) {
      ++r.not_final;
      note(id + " is still " + status + " (" + path + ")");
      continue;
    }
    if (!job.empty()) {
      const auto& expected = expected_final_status();
      if (const auto e = expected.find(job); e != expected.end() && e->second != status) {
        ++r.wrong_status;
        note(id + " of job " + job + " ended " + status);
      }
    }
    if (journey->second != path) {
      ++r.wrong_journeys;
      note(id + " " + status + ": " + path);
    }
  }
  const std::set<std::string> skip(ignored.begin(), ignored.end());
  for (const auto& [id, row] : rows) {
    if (!accepted.contains(id) && !skip.contains(id)) {
      ++r.unexpected_requests;
      note("unexpected request " + id + " (" + row.first + ")");
    }
  }
  r.duplicate_transitions = tx.exec1(
                                  "SELECT count(*) FROM (SELECT 1 FROM backup_request_history GROUP BY "
                                  "backup_request_id, from_status, to_status HAVING count(*) > 1) d")[0]
                                .as<long>();
  r.double_backups =
      tx.exec1(
            "SELECT count(*) FROM (SELECT 1 FROM backup GROUP BY backup_request_id HAVING count(*) > 1) d")[0]
          .as<long>();
  r.backup_mismatches =
      tx.exec1(
            "SELECT count(*) FROM backup_request r WHERE (r.status_type_code = 'Succeeded') <> "
            "EXISTS (SELECT 1 FROM backup b WHERE b.backup_request_id = r.backup_request_id)")[0]
          .as<long>();
  r.leftover_messages = tx.exec1(unconsumed_sql)[0].as<long>();
  r.dead_letters = tx.exec1("SELECT count(*) FROM mq.dead_letters")[0].as<long>();
  return r;
}

// ---- private cluster ----

namespace {

std::string private_pg_script() {
  const char* source = std::getenv("BKR_SOURCE_DIR");
  if (source == nullptr)
    FAIL("BKR_SOURCE_DIR is not set; run the tests through ctest");
  return std::string(source) + "/tests/support/private_pg.sh";
}

}  // namespace

private_cluster::private_cluster(const std::string& name)
    : dir_((fs::temp_directory_path() / ("bkr-" + name + "-" + std::to_string(::getpid()))).string()) {
  run("init", {built_executable("tools/bkrctl/bkrctl")});
  std::ifstream in(dir_ + "/conninfo");
  std::getline(in, conninfo_);
  REQUIRE(!conninfo_.empty());
}

private_cluster::~private_cluster() {
  run_process({"/bin/bash", private_pg_script(), "destroy", dir_}, {}, 120s);
}

void private_cluster::stop(const std::string& mode) {
  run("stop", {mode});
}

void private_cluster::start() {
  run("start");
}

void private_cluster::run(const std::string& cmd, std::vector<std::string> extra) {
  std::vector<std::string> argv{"/bin/bash", private_pg_script(), cmd, dir_};
  argv.insert(argv.end(), extra.begin(), extra.end());
  const auto r = run_process(argv, {}, 120s);
  INFO("private_pg.sh " << cmd << ": " << r.out << r.err);
  REQUIRE(r.exit_code == 0);
}

pm2_runner::pm2_runner(fs::path pm2, fs::path home) : pm2_(std::move(pm2)), home_(std::move(home)) {}

pm2_runner::~pm2_runner() {
  kill();
}

void pm2_runner::kill() {
  if (!killed_) {
    killed_ = true;
    run({"kill"});
  }
}

process_result pm2_runner::run(const std::vector<std::string>& args) const {
  std::vector<std::string> argv{pm2_.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv, {{"PM2_HOME", home_.string()}}, 60s);
}

std::vector<pm2_process> pm2_runner::processes() const {
  const auto r = run({"jlist"});
  std::vector<pm2_process> out;
  const auto start = r.out.find('[');
  if (start == std::string::npos)
    return out;
  for (const auto& p : nlohmann::json::parse(r.out.substr(start))) {
    const auto& env = p.at("pm2_env");
    pm2_process proc;
    proc.name = p.at("name").get<std::string>();
    proc.pm_id = p.value("pm_id", -1);
    proc.pid = static_cast<pid_t>(p.value("pid", 0));
    proc.status = env.at("status").get<std::string>();
    if (env.contains("exit_code") && env.at("exit_code").is_number())
      proc.exit_code = env.at("exit_code").get<int>();
    proc.restarts = env.value("restart_time", 0);
    out.push_back(std::move(proc));
  }
  return out;
}

std::optional<fs::path> project_pm2() {
  const fs::path source = std::getenv("BKR_SOURCE_DIR");
  const auto pm2 = source / "node_modules/.bin/pm2";
  if (fs::exists(pm2))
    return pm2;
  if (run_process({"sh", "-c", "command -v npm"}).exit_code != 0)
    return std::nullopt;
  const auto r =
      run_process({"sh", "-c", "cd \"$0\" && npm ci --no-audit --no-fund", source.string()}, {}, 300s);
  INFO(r.err);
  REQUIRE(fs::exists(pm2));
  return pm2;
}

nlohmann::json pm2_config(const std::vector<app>& apps, const fs::path& dir,
                          const std::function<int(const app&)>& instances_of) {
  nlohmann::json config{{"apps", nlohmann::json::array()}};
  for (const auto& a : apps) {
    config["apps"].push_back({{"name", a.name},
                              {"script", built_executable(a.exe)},
                              {"interpreter", "none"},
                              {"exec_mode", "fork"},
                              {"instances", instances_of ? instances_of(a) : 1},
                              {"env", nlohmann::json(a.env)},
                              {"kill_timeout", 15000},
                              {"autorestart", true},
                              {"restart_delay", 500},
                              {"out_file", (dir / (a.name + ".out.log")).string()},
                              {"error_file", (dir / (a.name + ".err.log")).string()}});
  }
  return config;
}

}  // namespace bkr::test
