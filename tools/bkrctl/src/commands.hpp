// The subcommands of bkrctl; each returns the process exit code (0 ok, 1 failure, 2 usage error).
#pragma once

#include <iosfwd>
#include <span>
#include <string>

namespace bkr::bkrctl {

/// What every subcommand gets: the database connection string (never printed) and the output streams.
struct context {
  std::string database_url;
  std::ostream& out;
  std::ostream& err;
};

/// `args` excludes the program name and the subcommand name.
int migrate(const context& ctx, std::span<const std::string> args);
int seed_demo(const context& ctx, std::span<const std::string> args);
int token(const context& ctx, std::span<const std::string> args);
/// `status ID [--json]`: a request's fields, history and Backup.
int status(const context& ctx, std::span<const std::string> args);
/// `recover [--older-than D] [--limit N]`: one stalled-request recovery run (libs/app).
int recover(const context& ctx, std::span<const std::string> args);
/// `queues stats|pause|resume|purge ...` (libs/messaging admin).
int queues(const context& ctx, std::span<const std::string> args);
/// `dead-letters list|show|redrive|purge ...` (libs/messaging admin).
int dead_letters(const context& ctx, std::span<const std::string> args);

}  // namespace bkr::bkrctl
