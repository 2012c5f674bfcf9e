// SHA-256 hex digests against the FIPS 180-2 test vectors.
#include "bkr/common/digest.hpp"

#include <catch2/catch.hpp>

TEST_CASE("sha256_hex gives the standard digests as lower-case hex", "[common][digest]") {
  CHECK(bkr::sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(bkr::sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(bkr::sha256_hex(std::string("a\0b", 3)).size() == 64);
}
