// bkrctl: the admin command line (migrations, demo data, development tokens, queues, dead letters).
#include "commands.hpp"

#include <iostream>
#include <string>
#include <vector>

namespace {

constexpr const char* usage = R"(usage: bkrctl <command> [arguments]

commands:
  migrate                      apply pending database migrations (domain tables and queue schema)
  seed-demo                    insert demo backup jobs and a demo client with every scope
  token --client ID [...]      mint an HS256 development token (see: bkrctl token --help)
  status ID [--json]           a backup request's journey: fields, every transition, its Backup
  recover [--older-than 2m] [--limit 500]      re-publish requests stalled in Received or Allowed
  queues <stats|pause|resume|purge> ...        inspect and operate queues
  dead-letters <list|show|redrive|purge> ...   inspect and redrive dead letters
  help                         show this text

environment:
  BKR_DATABASE_URL             Postgres connection string (libpq keyword/value or URI); required by commands
                               that touch the database; never printed
  BKR_AUTH_HS256_SECRET        development signing secret, for `token`
  BKR_AUTH_ISSUERS, BKR_AUTH_AUDIENCE   issuer (first of the list) and audience put into minted tokens
)";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << usage;
    return 2;
  }
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  const char* url = std::getenv("BKR_DATABASE_URL");
  const bkr::bkrctl::context ctx{url ? url : "", std::cout, std::cerr};
  try {
    if (command == "migrate")
      return bkr::bkrctl::migrate(ctx, args);
    if (command == "seed-demo")
      return bkr::bkrctl::seed_demo(ctx, args);
    if (command == "token")
      return bkr::bkrctl::token(ctx, args);
    if (command == "status")
      return bkr::bkrctl::status(ctx, args);
    if (command == "recover")
      return bkr::bkrctl::recover(ctx, args);
    if (command == "queues")
      return bkr::bkrctl::queues(ctx, args);
    if (command == "dead-letters")
      return bkr::bkrctl::dead_letters(ctx, args);
    if (command == "help" || command == "--help" || command == "-h") {
      std::cout << usage;
      return 0;
    }
    std::cerr << "bkrctl: unknown command '" << command << "'\n\n" << usage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "bkrctl " << command << ": " << e.what() << "\n";
    return 1;
  }
}
