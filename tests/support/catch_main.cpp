// The Catch2 main shared by every test executable. It also provides the locations tests need (build tree,
// source tree, Postgres fixture folder) as environment variables, unless the caller already set them.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdlib>

int main(int argc, char* argv[]) {
  ::setenv("BKR_BUILD_DIR", BKR_TEST_BUILD_DIR, 0);
  ::setenv("BKR_SOURCE_DIR", BKR_TEST_SOURCE_DIR, 0);
  ::setenv("BKR_TEST_PG_DIR", BKR_TEST_PG_FIXTURE_DIR, 0);
  return Catch::Session().run(argc, argv);
}
