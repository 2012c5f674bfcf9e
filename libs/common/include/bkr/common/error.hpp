// Result and error types shared by every bkr library.
#pragma once

#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>

#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

namespace bkr {

/// An expected, input-dependent failure: a machine-readable code (each library has its own `errc`
/// enum registered as a std::error_code) and a human message that names the problem (e.g. the field).
/// Value type; freely copied.
struct error {
  std::error_code code;
  std::string message;

  friend bool operator==(const error&, const error&) = default;
};

/// The return type of operations whose failure depends on their input.
template <class T>
using result = boost::system::result<T, error>;

/// Thrown by result<T>::value() when it holds an error.
class error_exception : public std::runtime_error {
 public:
  explicit error_exception(error e) : std::runtime_error(e.message), error_(std::move(e)) {}
  const bkr::error& err() const noexcept { return error_; }

 private:
  bkr::error error_;
};

[[noreturn]] void throw_exception_from_error(const error& e, const boost::source_location& loc);

/// An infrastructure failure (database, network, outside service). Says whether trying again later may
/// succeed; workers map retryable failures to `retry` and the others to `reject`.
class infrastructure_error : public std::runtime_error {
 public:
  infrastructure_error(const std::string& what, bool retryable)
      : std::runtime_error(what), retryable_(retryable) {}
  bool retryable() const noexcept { return retryable_; }

 private:
  bool retryable_;
};

}  // namespace bkr
