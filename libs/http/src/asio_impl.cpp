// The one translation unit that compiles Asio (BOOST_ASIO_SEPARATE_COMPILATION is set for every user).
#include <boost/asio/impl/src.hpp>
