// `bkrctl recover`: one run of stalled-request recovery (re-publishes Received/Allowed requests that have
// waited too long without a pending message), under the same leader lock the services' sweep uses.
#include "commands.hpp"

#include "bkr/app/recover_stalled.hpp"
#include "bkr/common/config.hpp"
#include "bkr/storage/connection_pool.hpp"

#include <ostream>

namespace bkr::bkrctl {

int recover(const context& ctx, std::span<const std::string> args) {
  std::string older_than = "2m";
  std::string limit = "500";
  for (std::size_t i = 0; i < args.size(); ++i) {
    if ((args[i] == "--older-than" || args[i] == "--limit") && i + 1 < args.size()) {
      (args[i] == "--limit" ? limit : older_than) = args[i + 1];
      ++i;
    } else {
      ctx.err << "usage: bkrctl recover [--older-than DURATION (default 2m)] [--limit N (default 500)]\n";
      return 2;
    }
  }
  const std::vector<config::key> spec{
      {.name = "recover.older_than", .type = config::value_type::duration, .help = "--older-than", .min = 0},
      {.name = "recover.limit",
       .type = config::value_type::integer,
       .help = "--limit",
       .min = 1,
       .max = 100000},
  };
  config::sources src;
  src.environment["BKR_RECOVER_OLDER_THAN"] = older_than;
  src.environment["BKR_RECOVER_LIMIT"] = limit;
  auto values = config::load(spec, src);
  if (!values) {
    // The values came from the command line: name the flags, not the variables used to validate them.
    std::string msg = values.error().message;
    for (auto [from, to] :
         {std::pair<std::string, std::string>{"recover.older_than (BKR_RECOVER_OLDER_THAN)", "--older-than"},
          {"recover.limit (BKR_RECOVER_LIMIT)", "--limit"},
          {" from the environment", ""},
          {"config: ", ""}}) {
      for (auto pos = msg.find(from); pos != std::string::npos; pos = msg.find(from))
        msg.replace(pos, from.size(), to);
    }
    ctx.err << "bkrctl recover: " << msg << "\n";
    return 2;
  }
  if (ctx.database_url.empty()) {
    ctx.err << "bkrctl recover: BKR_DATABASE_URL is not set\n";
    return 1;
  }
  storage::connection_pool pool({.conninfo = ctx.database_url, .size = 2});
  const auto report =
      app::recover_stalled_requests(pool,
                                    {.older_than = values->get_duration("recover.older_than"),
                                     .limit = static_cast<std::size_t>(values->get_int("recover.limit"))},
                                    "bkrctl");
  ctx.out << report.to_json().dump() << "\n";
  if (!report.leader)
    ctx.err << "bkrctl recover: another process is running recovery now; nothing done\n";
  return 0;
}

}  // namespace bkr::bkrctl
