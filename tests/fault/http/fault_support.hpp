// The real bkr-receive-request under attack: a started service with development tokens, checks of error
// answers against the contract, raw-socket helpers that never block, and process memory readings.
#pragma once

#include "http_call.hpp"
#include "pg_test_database.hpp"
#include "raw_client.hpp"
#include "service_fixture.hpp"

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace bkr::fault_test {

inline constexpr const char* post_route = "/api/backup-requests";
inline constexpr const char* get_route = "/api/backup-requests/{id}";
inline constexpr const char* reply_route = "/api/store-status-replies";

/// The HS256 development secret of this test process (random, 48 hex characters).
const std::string& dev_secret();

/// A valid HS256 development token for `subject`, signed with dev_secret().
std::string dev_token(std::string_view subject = rr_test::client_a);

/// A fresh migrated database with the test clients seeded, and the real binary running on it with ports
/// chosen by the system and HS256 development tokens as its only algorithm. Owns both: the destructor
/// kills the process, then drops the database. Not copyable; one per test, used from the test's thread
/// (port(), ops_port(), pid() and conninfo() may be read from any thread).
class fault_service {
 public:
  explicit fault_service(const std::map<std::string, std::string>& overrides = {});

  std::uint16_t port() const { return process_.port(); }
  std::uint16_t ops_port() const { return process_.ops_port(); }
  pid_t pid() const { return process_.pid(); }
  const std::string& conninfo() const { return db_.conninfo(); }
  const rr_test::service_process& process() const { return process_; }

 private:
  bkr::test::pg_test_database db_;
  rr_test::service_process process_;
};

/// The contract checker's form of a reply read from a raw connection.
rr_test::reply to_reply(const bkr::test::http_reply& r);

/// Problems showing internals in an answer (empty when none): exception or library names, SQL, source
/// paths, the development secret, or `secrets` (tokens the test sent) in the body or any header.
std::vector<std::string> leaked_internals(const rr_test::reply& r,
                                          const std::vector<std::string>& secrets = {});

/// CHECKs an error answer: `status`, a JSON `{code, message, requestId}` body with `code`, requestId
/// echoed as X-Request-Id, conformance to the contract (the operation `method path_template` when given,
/// else the component response `component`), and nothing internal in it.
void check_error(const rr_test::reply& r, unsigned status, std::string_view code, std::string_view method,
                 std::string_view path_template, const std::vector<std::string>& secrets = {});
void check_component_error(const rr_test::reply& r, unsigned status, std::string_view code,
                           std::string_view component);

/// Proof that the service still works: /livez is 200, a valid POST gets a documented 202 and its message
/// is on the accepted queue; and that nothing so far was an internal failure: every log line is JSON and none
/// is at level error or critical. Returns the new request's id.
std::string check_still_serving(const fault_service& svc, std::string_view job = "after-abuse");

/// Open connections of the service's API listener (the `bkr_http_connections` gauge).
double api_connections(const fault_service& svc);

/// Waits until the API listener has at most `n` open connections; false after `timeout`.
bool wait_api_connections_at_most(const fault_service& svc, double n, std::chrono::milliseconds timeout);

/// Resident memory of a process, from /proc/<pid>/status (kB).
struct memory_sample {
  long rss_kb = 0;  ///< VmRSS: resident now
  long hwm_kb = 0;  ///< VmHWM: peak resident so far
};
memory_sample read_memory(pid_t pid);

/// How a raw exchange ended.
struct exchange_result {
  std::string received;      ///< every byte the server sent
  bool closed = false;       ///< the server closed or reset the connection
  std::size_t sent = 0;      ///< bytes of the request that went out before the end
  bool send_failed = false;  ///< the server stopped taking bytes (closed or reset) before all were sent
};

/// Sends `bytes` on `fd` without ever blocking (what does not fit waits for the socket to drain) while
/// reading everything the server sends, until the server closes, or `want_responses` complete HTTP
/// responses have arrived (0: wait for the close), or `timeout` passes.
exchange_result exchange(int fd, std::string_view bytes, std::chrono::milliseconds timeout,
                         std::size_t want_responses = 0);

/// Splits raw bytes into HTTP responses (1xx skipped); a trailing partial response is ignored.
std::vector<rr_test::reply> parse_replies(std::string_view bytes);

/// A POST with the given body, Content-Type application/json, `Authorization: Bearer token` and extra
/// header lines (each ending in \r\n).
std::string json_post(std::string_view target, std::string_view body, const std::string& token,
                      std::string_view extra = {});

}  // namespace bkr::fault_test
