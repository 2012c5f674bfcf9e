// HTTP adapters of the job service and backup interface ports: concurrent calls outside the transaction,
// answers remembered for the transaction, a circuit breaker around every call.
#include "bkr/app/http_adapters.hpp"

#include "bkr/app/errors.hpp"
#include "bkr/domain/json.hpp"
#include "bkr/http/client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <cctype>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

namespace bkr::app {

namespace {

namespace asio = boost::asio;
using call_result = bkr::result<http::client_response>;

/// One call's answer; shared with the coroutine so a wait that gives up early leaves nothing dangling.
struct call_slot {
  http::client_request request;
  std::optional<call_result> answer;
};

asio::awaitable<void> run_call(http::client& c, std::shared_ptr<call_slot> slot) {
  slot->answer = co_await c.send(slot->request);
}

/// A client on its own I/O thread, and the breaker-aware batch call. Owned by one adapter.
class http_caller {
 public:
  http_caller(const http_dependency_options& options, circuit_breaker& breaker)
      : options_(options),
        breaker_(breaker),
        work_(asio::make_work_guard(ioc_)),
        client_(ioc_.get_executor(),
                http::client_options{.connect_timeout = options.timeout, .request_timeout = options.timeout}),
        thread_([this] { ioc_.run(); }) {}

  ~http_caller() {
    work_.reset();
    ioc_.stop();
    thread_.join();
  }
  http_caller(const http_caller&) = delete;
  http_caller& operator=(const http_caller&) = delete;

  circuit_breaker& breaker() { return breaker_; }

  /// Sends `requests` concurrently; `is_failure` says which answers count against the breaker. A call the
  /// breaker does not admit is answered with dependency_unavailable without going out. In half-open the
  /// first call goes alone (the probe) so a failing probe does not take the batch's other calls with it.
  std::vector<call_result> call_all(std::vector<http::client_request> requests,
                                    const std::function<bool(const call_result&)>& is_failure) {
    std::vector<call_result> out(requests.size(), make_error(errc::circuit_open, "circuit open"));
    std::size_t first = 0;
    if (!requests.empty() && breaker_.state() == breaker_state::half_open) {
      std::vector<std::size_t> probe{0};
      run_batch(requests, probe, out, is_failure);
      first = 1;
    }
    std::vector<std::size_t> rest;
    for (std::size_t i = first; i < requests.size(); ++i)
      rest.push_back(i);
    run_batch(requests, rest, out, is_failure);
    return out;
  }

 private:
  void run_batch(std::vector<http::client_request>& requests, const std::vector<std::size_t>& which,
                 std::vector<call_result>& out, const std::function<bool(const call_result&)>& is_failure) {
    std::vector<std::pair<std::size_t, std::shared_ptr<call_slot>>> slots;
    std::vector<std::future<void>> done;
    for (auto i : which) {
      if (!breaker_.allow())
        continue;  // stays "circuit open"
      auto slot = std::make_shared<call_slot>();
      slot->request = std::move(requests[i]);
      done.push_back(asio::co_spawn(ioc_, run_call(client_, slot), asio::use_future));
      slots.emplace_back(i, std::move(slot));
    }
    // The client bounds connect and request by the timeout; the margin only guards against a lost wake-up.
    const auto deadline = std::chrono::steady_clock::now() + 2 * options_.timeout + std::chrono::seconds(1);
    for (std::size_t k = 0; k < slots.size(); ++k) {
      auto& [i, slot] = slots[k];
      if (done[k].wait_until(deadline) != std::future_status::ready || !slot->answer) {
        out[i] = make_error(errc::dependency_unavailable, "no answer within the timeout");
        breaker_.record_failure();
        continue;
      }
      try {
        done[k].get();
      } catch (const std::exception& e) {
        out[i] = make_error(errc::dependency_unavailable, e.what());
        breaker_.record_failure();
        continue;
      }
      out[i] = std::move(*slot->answer);
      if (is_failure(out[i]))
        breaker_.record_failure();
      else
        breaker_.record_success();
    }
  }

  http_dependency_options options_;
  circuit_breaker& breaker_;
  asio::io_context ioc_{1};
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  http::client client_;
  std::thread thread_;
};

std::string trim_base(std::string base) {
  while (!base.empty() && base.back() == '/')
    base.pop_back();
  return base;
}

std::string percent_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xF];
    }
  }
  return out;
}

bool transient_status(unsigned status) {
  return status >= 500 || status == 408 || status == 429;
}

bool transient_transport(const bkr::error& e) {
  if (e.code.category() == http::client_category())
    return http::is_transient(static_cast<http::client_errc>(e.code.value()));
  return true;
}

std::string describe(const call_result& r) {
  if (r)
    return "HTTP " + std::to_string(r->status);
  return r.error().message.empty() ? r.error().code.message() : r.error().message;
}

}  // namespace

// ---- job service ----

struct http_backup_job_service::impl {
  http_dependency_options options;
  bkr::logger log;
  http_caller caller;
  std::string base;
  std::mutex mutex;
  struct entry {
    job_lookup answer;
    std::chrono::steady_clock::time_point at;
  };
  std::map<std::string, entry, std::less<>> answers;

  impl(http_dependency_options o, circuit_breaker& b, bkr::logger l)
      : options(std::move(o)), log(std::move(l)), caller(options, b), base(trim_base(options.base_url)) {}

  /// What one answer means for the job, and whether it counts against the breaker.
  job_lookup interpret(const std::string& id, const call_result& r) const {
    if (!r && r.error().code == errc::circuit_open)
      return make_error(errc::circuit_open, "job service not asked: circuit open");
    if (!r)
      return make_error(errc::dependency_unavailable, "job service gave no answer: " + describe(r));
    if (r->status == 404)
      return std::optional<domain::backup_job>{};
    if (r->status != 200)
      return make_error(errc::dependency_unavailable,
                        "job service answered HTTP " + std::to_string(r->status));
    auto body = nlohmann::json::parse(r->body, nullptr, false);
    if (body.is_discarded())
      return make_error(errc::dependency_unavailable, "job service sent a body that is not JSON");
    auto job = domain::parse_backup_job(body);
    if (!job)
      return make_error(errc::dependency_unavailable,
                        "job service sent an invalid job: " + job.error().message);
    if (job->backup_job_id != id)
      return make_error(errc::dependency_unavailable, "job service answered for another job");
    return std::optional{std::move(*job)};
  }
};

http_backup_job_service::http_backup_job_service(http_dependency_options options, circuit_breaker& breaker,
                                                 bkr::logger log)
    : impl_(std::make_unique<impl>(std::move(options), breaker, std::move(log))) {}

http_backup_job_service::~http_backup_job_service() = default;

void http_backup_job_service::prefetch(std::span<const std::string> backup_job_ids) {
  auto& m = *impl_;
  std::vector<http::client_request> requests;
  requests.reserve(backup_job_ids.size());
  for (const auto& id : backup_job_ids)
    requests.push_back({.method = http::method::get, .url = m.base + "/backup-jobs/" + percent_encode(id)});
  std::vector<job_lookup> lookups;
  const auto results = m.caller.call_all(std::move(requests), [&](const call_result& r) {
    if (!r)
      return transient_transport(r.error());
    if (transient_status(r->status))
      return true;
    // A 200 the adapter cannot use is as good as no answer: retried, so it counts against the breaker.
    if (r->status != 200)
      return false;
    const auto body = nlohmann::json::parse(r->body, nullptr, false);
    return body.is_discarded() || !domain::parse_backup_job(body);
  });
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(m.mutex);
  std::erase_if(m.answers, [&](const auto& kv) { return now - kv.second.at > m.options.answer_ttl; });
  for (std::size_t i = 0; i < results.size(); ++i) {
    auto lookup = m.interpret(backup_job_ids[i], results[i]);
    if (!lookup)
      m.log.warn("job service lookup failed",
                 {{"backupJobId", backup_job_ids[i]}, {"error", lookup.error().message}});
    m.answers.insert_or_assign(backup_job_ids[i], impl::entry{std::move(lookup), now});
  }
}

job_lookup http_backup_job_service::find(storage::unit_of_work& uow, std::string_view backup_job_id) {
  (void)uow;
  auto& m = *impl_;
  std::lock_guard lock(m.mutex);
  auto it = m.answers.find(backup_job_id);
  if (it == m.answers.end() || std::chrono::steady_clock::now() - it->second.at > m.options.answer_ttl)
    return make_error(errc::dependency_unavailable,
                      "no job service answer for job " + std::string(backup_job_id));
  return it->second.answer;
}

// ---- backup interface ----

struct http_backup_interface::impl {
  http_dependency_options options;
  bkr::logger log;
  http_caller caller;
  std::string url;
  std::mutex mutex;
  std::map<std::string, result<void>, std::less<>> outcomes;  // by backupRequestId, taken by hand_over

  impl(http_dependency_options o, circuit_breaker& b, bkr::logger l)
      : options(std::move(o)),
        log(std::move(l)),
        caller(options, b),
        url(trim_base(options.base_url) + "/store-requests") {}
};

http_backup_interface::http_backup_interface(http_dependency_options options, circuit_breaker& breaker,
                                             bkr::logger log)
    : impl_(std::make_unique<impl>(std::move(options), breaker, std::move(log))) {}

http_backup_interface::~http_backup_interface() = default;

void http_backup_interface::prepare(std::span<const domain::store_request> requests) {
  auto& m = *impl_;
  std::vector<http::client_request> calls;
  calls.reserve(requests.size());
  for (const auto& r : requests) {
    http::client_request c{.method = http::method::post,
                           .url = m.url,
                           .body = nlohmann::json(r).dump(),
                           .content_type = "application/json"};
    c.headers.set("Idempotency-Key", r.backup_request_id);
    calls.push_back(std::move(c));
  }
  const auto results = m.caller.call_all(std::move(calls), [](const call_result& r) {
    return r ? transient_status(r->status) : transient_transport(r.error());
  });
  std::lock_guard lock(m.mutex);
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    const auto& id = requests[i].backup_request_id;
    result<void> outcome;
    if (r && r->status >= 200 && r->status < 300) {
      outcome = {};
    } else if (!r && r.error().code == errc::circuit_open) {
      outcome = make_error(errc::circuit_open, "backup interface not called: circuit open");
    } else if (r && r->status >= 400 && r->status < 500 && !transient_status(r->status)) {
      outcome = make_error(errc::dependency_rejected,
                           "backup interface refused the store request: HTTP " + std::to_string(r->status));
    } else {
      outcome =
          make_error(errc::dependency_unavailable, "backup interface gave no usable answer: " + describe(r));
    }
    if (!outcome)
      m.log.warn("store request not handed over",
                 {{"backupRequestId", id}, {"error", outcome.error().message}});
    m.outcomes.insert_or_assign(id, std::move(outcome));
  }
}

result<void> http_backup_interface::hand_over(messaging::publisher& out, const domain::store_request& request,
                                              const messaging::envelope& cause) {
  (void)out;
  (void)cause;
  auto& m = *impl_;
  std::lock_guard lock(m.mutex);
  auto it = m.outcomes.find(request.backup_request_id);
  if (it == m.outcomes.end())
    return make_error(errc::dependency_unavailable, "store request " + request.backup_request_id +
                                                        " was not posted before the transaction");
  auto outcome = std::move(it->second);
  m.outcomes.erase(it);
  return outcome;
}

// ---- configuration ----

std::vector<config::key> adapter_config_keys() {
  using config::value_type;
  return {
      {.name = "job_service.mode",
       .default_value = "table",
       .help = "where jobs come from: table (local backup_job) or http",
       .one_of = {"table", "http"}},
      {.name = "job_service.url", .help = "http://host:port base of the job service (mode http)"},
      {.name = "job_service.timeout",
       .type = value_type::duration,
       .default_value = "2s",
       .help = "per call to the job service",
       .min = 1,
       .max = 60000},
      {.name = "interface.mode",
       .default_value = "queue",
       .help = "how store requests leave: queue (provider queue) or http",
       .one_of = {"queue", "http"}},
      {.name = "interface.url", .help = "http://host:port base of the backup interface (mode http)"},
      {.name = "interface.timeout",
       .type = value_type::duration,
       .default_value = "2s",
       .help = "per call to the backup interface",
       .min = 1,
       .max = 60000},
      {.name = "breaker.failure_threshold",
       .type = value_type::integer,
       .default_value = "5",
       .help = "consecutive transient failures that open a circuit",
       .min = 1,
       .max = 1000},
      {.name = "breaker.open_for",
       .type = value_type::duration,
       .default_value = "5s",
       .help = "how long an open circuit stops claims before one probe",
       .min = 1,
       .max = 600000},
  };
}

result<adapter_config> load_adapter_config(const config::sources& src) {
  const auto keys = adapter_config_keys();
  auto v = config::load(keys, src);
  if (!v)
    return v.error();
  return adapter_config_from(*v);
}

result<adapter_config> adapter_config_from(const config::values& values) {
  const config::values* v = &values;
  adapter_config c;
  c.job_service_http = v->get_string("job_service.mode") == "http";
  c.job_service.timeout = v->get_duration("job_service.timeout");
  if (v->has("job_service.url"))
    c.job_service.base_url = v->get_string("job_service.url");
  c.interface_http = v->get_string("interface.mode") == "http";
  c.interface.timeout = v->get_duration("interface.timeout");
  if (v->has("interface.url"))
    c.interface.base_url = v->get_string("interface.url");
  c.breaker.failure_threshold = static_cast<int>(v->get_int("breaker.failure_threshold"));
  c.breaker.open_duration = v->get_duration("breaker.open_for");
  std::string problems;
  if (c.job_service_http && !c.job_service.base_url.starts_with("http://"))
    problems +=
        "config: job_service.url (BKR_JOB_SERVICE_URL) must be an http:// URL when job_service.mode is "
        "http. ";
  if (c.interface_http && !c.interface.base_url.starts_with("http://"))
    problems +=
        "config: interface.url (BKR_INTERFACE_URL) must be an http:// URL when interface.mode is http; ";
  if (!problems.empty()) {
    problems.resize(problems.size() - 2);
    return bkr::error{config::make_error_code(config::errc::invalid_value), problems};
  }
  return c;
}

}  // namespace bkr::app
