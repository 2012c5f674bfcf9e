// Opening the database connection for bkrctl commands.
#include "database.hpp"

#include <ostream>

namespace bkr::bkrctl {

std::unique_ptr<pqxx::connection> connect(const context& ctx) {
  if (ctx.database_url.empty()) {
    ctx.err << "bkrctl: BKR_DATABASE_URL is not set (a libpq connection string, e.g. "
               "\"host=127.0.0.1 port=5432 dbname=bkr user=bkr\")\n";
    return nullptr;
  }
  try {
    return std::make_unique<pqxx::connection>(ctx.database_url);
  } catch (const pqxx::broken_connection& e) {
    // libpq's message names host and port but never the password.
    ctx.err << "bkrctl: cannot connect to the database: " << e.what();
    return nullptr;
  }
}

}  // namespace bkr::bkrctl
