// Sample domain values and small database helpers shared by the storage integration tests.
#pragma once

#include "bkr/common/clock.hpp"
#include "bkr/common/ids.hpp"
#include "bkr/domain/types.hpp"
#include "bkr/storage/connection_pool.hpp"

#include <pqxx/pqxx>

#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <sstream>
#include <string>
#include <thread>

namespace bkr::test {

/// A fixed instant with a non-zero millisecond part, so precision loss would show.
inline timestamp sample_time(std::chrono::milliseconds offset = std::chrono::milliseconds{0}) {
  return timestamp{std::chrono::milliseconds{1'763'806'530'123LL}} + offset;
}

/// A request as CreateRequest persists it: Received, with its accepted and received timestamps.
inline domain::backup_request received_request(std::string id = new_uuid_v7()) {
  using namespace std::chrono;
  domain::backup_request r;
  r.backup_request_id = std::move(id);
  r.backup_job_id = "job-7";
  r.data_date = year{2026} / November / day{21};
  r.prepared_data_path_name = "/prepared/job-7/2026-11-21";
  r.get_on_start_flag = true;
  r.transport_type_code = domain::transport::http;
  r.status_type_code = domain::request_status::received;
  r.requester_id = "scheduler@example";
  r.accepted_timestamp = sample_time();
  r.received_timestamp = sample_time(milliseconds{250});
  return r;
}

inline domain::history_entry entry(const domain::backup_request& r,
                                   std::optional<domain::request_status> from, timestamp at,
                                   std::string stage, std::string message_id = new_uuid_v7(),
                                   std::optional<std::string> reason = std::nullopt) {
  return domain::history_entry{
      r.backup_request_id, from, r.status_type_code, at, std::move(stage), std::move(message_id),
      std::move(reason)};
}

/// The first history entry CreateRequest writes (the same for the same request: its message id is derived
/// from the request id).
inline domain::history_entry first_entry(const domain::backup_request& r) {
  return entry(r, domain::request_status::accepted, *r.received_timestamp, "create-request",
               "accepted-" + r.backup_request_id);
}

inline storage::pool_options pool_for(const std::string& conninfo, std::size_t size = 4,
                                      std::chrono::milliseconds timeout = std::chrono::seconds{10}) {
  return storage::pool_options{conninfo, size, timeout};
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds timeout = std::chrono::seconds{10}) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  }
  return condition();
}

/// Runs one statement on its own connection and returns the first field of the first row as text (empty
/// for no row or NULL).
template <class... Params>
std::string scalar(const std::string& conninfo, const std::string& sql, const Params&... params) {
  pqxx::connection conn(conninfo);
  pqxx::nontransaction tx(conn);
  const pqxx::result rows = tx.exec_params(sql, params...);
  return rows.empty() || rows[0][0].is_null() ? std::string() : rows[0][0].as<std::string>();
}

/// Terminates the backend `pid` and waits until the server no longer lists it.
inline bool terminate_backend(const std::string& admin_conninfo, int pid) {
  pqxx::connection admin(admin_conninfo);
  {
    pqxx::nontransaction tx(admin);
    tx.exec_params("SELECT pg_terminate_backend($1)", pid);
  }
  return eventually([&] {
    pqxx::nontransaction tx(admin);
    return tx.exec_params("SELECT 1 FROM pg_stat_activity WHERE pid = $1", pid).empty();
  });
}

}  // namespace bkr::test

namespace Catch {

// Readable values in failed comparisons of domain records.
template <>
struct StringMaker<bkr::domain::history_entry> {
  static std::string convert(const bkr::domain::history_entry& h) {
    std::ostringstream out;
    out << "{" << h.backup_request_id << " " << (h.from_status ? bkr::domain::to_string(*h.from_status) : "-")
        << "->" << bkr::domain::to_string(h.to_status) << " at " << bkr::format_timestamp(h.at) << " stage "
        << h.stage << " message '" << h.message_id << "' reason " << h.reason.value_or("-") << "}";
    return out.str();
  }
};

template <>
struct StringMaker<bkr::domain::backup_request> {
  static std::string convert(const bkr::domain::backup_request& r) {
    auto ts = [](const std::optional<bkr::timestamp>& t) { return t ? bkr::format_timestamp(*t) : "-"; };
    std::ostringstream out;
    out << "{" << r.backup_request_id << " job " << r.backup_job_id << " date "
        << bkr::domain::format_date(r.data_date) << " path " << r.prepared_data_path_name << " onstart "
        << r.get_on_start_flag << " " << bkr::domain::to_string(r.transport_type_code) << " "
        << bkr::domain::to_string(r.status_type_code) << " requester " << r.requester_id << " provider "
        << (r.backup_provider_code ? bkr::domain::to_string(*r.backup_provider_code) : "-") << " storage "
        << r.storage_path_name.value_or("-") << " accepted " << ts(r.accepted_timestamp) << " received "
        << ts(r.received_timestamp) << " checked " << ts(r.checked_timestamp) << " sent "
        << ts(r.sent_to_interface_timestamp) << " reply " << ts(r.reply_timestamp) << " text "
        << r.reply_message_text.value_or("-") << "}";
    return out.str();
  }
};

}  // namespace Catch
