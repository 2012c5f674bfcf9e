// The mq component's migration set, from the SQL files embedded at build time.
#include "bkr/messaging/postgres/migrations.hpp"

namespace bkr::messaging::postgres::embedded {
const std::vector<bkr::storage::migration>& migrations();
}

namespace bkr::messaging::postgres {

bkr::storage::migration_set mq_migrations() {
  return {"mq", &embedded::migrations()};
}

}  // namespace bkr::messaging::postgres
