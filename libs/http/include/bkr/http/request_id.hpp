// Request identity: accepting `X-Request-Id` or W3C `traceparent`, or generating an id.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace bkr::http {

/// A valid W3C trace context header (https://www.w3.org/TR/trace-context/#traceparent-header).
struct trace_context {
  std::string header;     ///< the header as received, echoed back unchanged
  std::string version;    ///< two lowercase hex digits, never `ff`
  std::string trace_id;   ///< 32 lowercase hex digits, not all zero
  std::string parent_id;  ///< 16 lowercase hex digits, not all zero
  std::string flags;      ///< two lowercase hex digits

  friend bool operator==(const trace_context&, const trace_context&) = default;
};

/// Parses `traceparent`. Version 00 must be exactly `00-<32>-<16>-<2>`; later versions may append
/// `-...` fields, which are ignored. Returns nullopt for anything invalid (the header is then ignored).
std::optional<trace_context> parse_traceparent(std::string_view header);

/// True for a usable `X-Request-Id`: 1..128 printable ASCII characters (0x20..0x7e).
bool is_valid_request_id(std::string_view id);

/// The identity of one request: the id we echo and log, and the trace context when a valid one came in.
struct request_identity {
  std::string request_id;
  std::optional<trace_context> trace;
};

/// Chooses the request id: a valid `X-Request-Id`, else the trace id of a valid `traceparent`, else a new
/// UUIDv7. An invalid header is ignored as if absent.
request_identity identify_request(std::optional<std::string_view> x_request_id,
                                  std::optional<std::string_view> traceparent);

}  // namespace bkr::http
