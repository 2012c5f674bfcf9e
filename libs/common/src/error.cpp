// Throwing side of bkr::result: value() on an error raises error_exception.
#include "bkr/common/error.hpp"

#include <boost/throw_exception.hpp>

namespace bkr {

void throw_exception_from_error(const error& e, const boost::source_location& loc) {
  boost::throw_exception(error_exception(e), loc);
}

}  // namespace bkr
