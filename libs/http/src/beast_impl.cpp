// The one translation unit that compiles Beast (BOOST_BEAST_SEPARATE_COMPILATION is set for every user).
#include <boost/beast/src.hpp>
