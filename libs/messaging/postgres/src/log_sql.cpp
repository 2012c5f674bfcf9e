// SQL building blocks of the log backend.
#include "log_sql.hpp"

#include "sql.hpp"

#include <algorithm>
#include <charconv>
#include <set>

namespace bkr::messaging::postgres::log_sql {

std::string params::add(std::string value) {
  values_.push_back(std::move(value));
  return "$" + std::to_string(values_.size());
}

std::string plain_array(const std::vector<std::string>& values) {
  return detail::uuid_array(values);
}

std::string int_array(const std::vector<long long>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i != 0)
      out += ',';
    out += std::to_string(values[i]);
  }
  out += '}';
  return out;
}

std::string append_ctes(params& p, std::span<const outgoing_message> messages, std::string_view prefix,
                        std::vector<std::string>& counted) {
  if (messages.empty())
    return "";
  std::vector<std::string> q, id, t, k, o, tr, pr, pl;
  std::vector<long long> v, d;
  bool any_delayed = false, any_now = false;
  for (const auto& m : messages) {
    detail::validate_outgoing(m);
    const auto& e = m.message;
    q.push_back(m.queue);
    id.push_back(e.message_id);
    t.push_back(e.type);
    v.push_back(e.schema_version);
    k.push_back(e.key);
    o.push_back(format_timestamp(e.occurred_at));
    tr.push_back(e.trace_id);
    pr.push_back(e.producer);
    pl.push_back(e.payload.dump());
    d.push_back(std::max<long long>(0, m.delay.count()));
    (d.back() > 0 ? any_delayed : any_now) = true;
  }
  const std::string n(prefix);
  // The partition comes from the key's hash and the queue's partition count (one without a row in
  // mq.log_queues has one). A correlated subquery, not a join, keeps the rows in the order given, so the
  // log's sequence numbers follow the publish order.
  std::string sql = n +
                    "_in AS (SELECT x.*, mod(hashtext(x.k)::bigint + 2147483648, coalesce((SELECT "
                    "lq.partitions FROM mq.log_queues lq WHERE lq.queue = x.q), 1))::smallint AS part "
                    "FROM unnest(" +
                    p.add(storage::text_array_literal(q)) + "::text[], " + p.add(plain_array(id)) +
                    "::uuid[], " + p.add(storage::text_array_literal(t)) + "::text[], " +
                    p.add(int_array(v)) + "::int[], " + p.add(storage::text_array_literal(k)) + "::text[], " +
                    p.add(plain_array(o)) + "::timestamptz[], " + p.add(storage::text_array_literal(tr)) +
                    "::text[], " + p.add(storage::text_array_literal(pr)) + "::text[], " +
                    p.add(storage::text_array_literal(pl)) + "::text[], " + p.add(int_array(d)) +
                    "::bigint[]) AS x(q, id, t, v, k, o, tr, p, pl, d))";
  const std::string columns =
      "queue, part, message_id, type, schema_version, key, occurred_at, trace_id, "
      "producer, payload";
  const std::string values = "q, part, id, t, v, k, o, tr, p, pl::json";
  if (any_now) {
    sql += ",\n" + n + "_log AS (INSERT INTO mq.log (" + columns + ") SELECT " + values + " FROM " + n +
           "_in WHERE d = 0 RETURNING 1)";
    counted.push_back(n + "_log");
  }
  if (any_delayed) {
    sql += ",\n" + n + "_lane AS (INSERT INTO mq.delayed (" + columns + ", run_at) SELECT " + values +
           ", now() + d * interval '1 millisecond' FROM " + n + "_in WHERE d > 0 RETURNING 1)";
    counted.push_back(n + "_lane");
  }
  return sql;
}

std::vector<std::string> queues_of(std::span<const outgoing_message> messages) {
  std::set<std::string> s;
  for (const auto& m : messages)
    s.insert(m.queue);
  return {s.begin(), s.end()};
}

void ring(pqxx::connection& conn, const std::vector<std::string>& queues) {
  if (queues.empty())
    return;
  pqxx::nontransaction tx(conn);
  tx.exec_params(
      "SELECT set_config('synchronous_commit', 'off', true), pg_notify(mq.channel(q), '')::text "
      "FROM unnest($1::text[]) AS q",
      storage::text_array_literal(queues));
}

std::uint64_t xid_value(std::string_view text) {
  std::uint64_t v = 0;
  std::from_chars(text.data(), text.data() + text.size(), v);
  return v;
}

}  // namespace bkr::messaging::postgres::log_sql
