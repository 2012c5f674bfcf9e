// bkrctl queues / dead-letters: the messaging admin operations on the Postgres queue.
#include "commands.hpp"

#include "bkr/messaging/postgres/backend.hpp"
#include "bkr/messaging/postgres/log.hpp"

#include <nlohmann/json.hpp>

#include <charconv>
#include <iomanip>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <sstream>

namespace bkr::bkrctl {
namespace {

constexpr const char* queues_usage = R"(usage: bkrctl queues <command>
  stats [--json] [--partitions]
                         per queue: ready (of which held back by a long transaction; a deep backlog is
                         counted up to 10000 per partition, shown as 10000+), delayed, dead, oldest
                         ready age, processed/retried/dead-lettered; --partitions (always in --json):
                         per partition the lag behind the log (rows and age of the oldest), held back,
                         delayed, processed
  pause QUEUE            consumers stop claiming from QUEUE (publishing continues)
  resume QUEUE
  purge QUEUE            skip the ready and delayed messages of QUEUE committed so far (a batch in a
                         consumer's hand settles first)
  partitions QUEUE N     give QUEUE N partitions (1..256, only ever more), so that N instances of its stage
                         can share it
)";

constexpr const char* dead_letters_usage = R"(usage: bkrctl dead-letters <command>
  list [--queue QUEUE] [--limit N] [--json]
  show MESSAGE_ID                      the dead letter with its envelope, reason and last error, as JSON
  redrive MESSAGE_ID                   put it back on its queue, ready now, with a fresh attempt count
  redrive --all --queue QUEUE          the same for every dead letter of QUEUE
  purge --queue QUEUE | --all          delete dead letters of QUEUE, or of every queue
)";

/// Flags of the form `--name value` or `--name`; positional arguments in order.
struct parsed_args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;
  bool has(const std::string& name) const { return options.count(name) != 0; }
};

std::optional<parsed_args> parse(std::span<const std::string> args, const std::set<std::string>& with_value,
                                 const std::set<std::string>& flags, std::ostream& err) {
  parsed_args out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    if (a.rfind("--", 0) == 0) {
      if (with_value.count(a) != 0) {
        if (i + 1 >= args.size()) {
          err << "option " << a << " needs a value\n";
          return std::nullopt;
        }
        out.options[a] = args[++i];
      } else if (flags.count(a) != 0) {
        out.options[a] = "";
      } else {
        err << "unknown option " << a << "\n";
        return std::nullopt;
      }
    } else {
      out.positional.push_back(a);
    }
  }
  return out;
}

std::optional<storage::connection_pool> open_pool(const context& ctx) {
  if (ctx.database_url.empty()) {
    ctx.err << "BKR_DATABASE_URL is not set\n";
    return std::nullopt;
  }
  return std::optional<storage::connection_pool>(
      std::in_place, storage::pool_options{ctx.database_url, 1, std::chrono::seconds{10}});
}

std::string age_text(const std::optional<std::chrono::milliseconds>& age) {
  if (!age)
    return "-";
  auto ms = age->count();
  std::ostringstream s;
  if (ms < 1000)
    s << ms << "ms";
  else
    s << std::fixed << std::setprecision(1) << static_cast<double>(ms) / 1000.0 << "s";
  return s.str();
}

nlohmann::json dead_letter_json(const messaging::dead_letter& d) {
  return {{"queue", d.queue},
          {"reason", d.reason},
          {"lastError", d.last_error},
          {"attempts", d.message.attempt},
          {"firstSeen", format_timestamp(d.first_seen)},
          {"lastSeen", format_timestamp(d.last_seen)},
          {"message", messaging::to_json(d.message)}};
}

bool valid_queue(const context& ctx, const std::string& q) {
  if (messaging::is_valid_queue_name(q))
    return true;
  ctx.err << "invalid queue name '" << q << "' (lowercase letters, digits, '.', '_' and '-')\n";
  return false;
}

}  // namespace

int queues(const context& ctx, std::span<const std::string> args) {
  if (args.empty() || args[0] == "--help" || args[0] == "help") {
    (args.empty() ? ctx.err : ctx.out) << queues_usage;
    return args.empty() ? 2 : 0;
  }
  const std::string sub = args[0];
  auto parsed = parse(args.subspan(1), {}, {"--json", "--partitions"}, ctx.err);
  if (!parsed) {
    ctx.err << queues_usage;
    return 2;
  }
  auto pool = open_pool(ctx);
  if (!pool)
    return 1;
  auto admin_port = messaging::postgres::make_admin(*pool);
  auto& admin = *admin_port;
  if (sub == "stats") {
    auto all = admin.stats();
    messaging::postgres::log_admin log_admin(*pool);
    if (parsed->has("--json")) {
      auto arr = nlohmann::json::array();
      for (const auto& s : all) {
        auto parts = nlohmann::json::array();
        for (const auto& p : log_admin.partitions_of(s.queue))
          parts.push_back(
              {{"partition", p.partition},
               {"lag", p.lag},
               {"lagCapped", p.lag_capped},
               {"lagAgeMs", p.lag_age ? nlohmann::json(p.lag_age->count()) : nlohmann::json(nullptr)},
               {"heldBack", p.held_back},
               {"delayed", p.delayed},
               {"processed", p.processed}});
        arr.push_back({{"queue", s.queue},
                       {"ready", s.ready},
                       {"delayed", s.delayed},
                       {"dead", s.dead},
                       {"oldestReadyAgeMs", s.oldest_ready_age ? nlohmann::json(s.oldest_ready_age->count())
                                                               : nlohmann::json(nullptr)},
                       {"processed", s.processed},
                       {"retried", s.retried},
                       {"deadLettered", s.dead_lettered},
                       {"paused", s.paused},
                       {"heldBack", s.held_back},
                       {"readyCapped", s.ready_capped},
                       {"partitions", std::move(parts)}});
      }
      ctx.out << arr.dump(2) << "\n";
      return 0;
    }
    ctx.out << std::left << std::setw(44) << "QUEUE" << std::right << std::setw(9) << "READY" << std::setw(9)
            << "HELD" << std::setw(9) << "DELAYED" << std::setw(7) << "DEAD" << std::setw(10) << "OLDEST"
            << std::setw(12) << "PROCESSED" << std::setw(9) << "RETRIED" << std::setw(8) << "DEAD-L"
            << "  STATE\n";
    for (const auto& s : all) {
      // A deep backlog is counted up to a cap per partition: "10000+" is at least that.
      const auto ready = std::to_string(s.ready) + (s.ready_capped ? "+" : "");
      ctx.out << std::left << std::setw(44) << s.queue << std::right << std::setw(9) << ready << std::setw(9)
              << s.held_back << std::setw(9) << s.delayed << std::setw(7) << s.dead << std::setw(10)
              << age_text(s.oldest_ready_age) << std::setw(12) << s.processed << std::setw(9) << s.retried
              << std::setw(8) << s.dead_lettered << "  " << (s.paused ? "paused" : "active");
      // HELD: ready messages a long-running write transaction elsewhere in the cluster holds back.
      if (s.held_back > 0)
        ctx.out << " (held back by a long transaction)";
      ctx.out << "\n";
      if (parsed->has("--partitions"))
        for (const auto& p : log_admin.partitions_of(s.queue))
          ctx.out << "  partition " << p.partition << ": lag " << p.lag << (p.lag_capped ? "+" : "") << " ("
                  << age_text(p.lag_age) << "), held back " << p.held_back << ", delayed " << p.delayed
                  << ", processed " << p.processed << "\n";
    }
    if (all.empty())
      ctx.out << "(no queues)\n";
    return 0;
  }
  if (sub == "partitions") {
    if (parsed->positional.size() != 2) {
      ctx.err << "bkrctl queues partitions needs QUEUE and N\n" << queues_usage;
      return 2;
    }
    const auto& q = parsed->positional[0];
    if (!valid_queue(ctx, q))
      return 2;
    int n = 0;
    const auto& text = parsed->positional[1];
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc{} || end != text.data() + text.size()) {
      ctx.err << "bkrctl queues partitions: N must be a whole number, not '" << text << "'\n";
      return 2;
    }
    auto r = messaging::postgres::log_admin(*pool).set_partitions(q, n);
    if (!r) {
      ctx.err << "bkrctl queues partitions: " << r.error().message << "\n";
      return 1;
    }
    ctx.out << q << " has " << n << " partition(s)\n";
    return 0;
  }
  if (sub == "pause" || sub == "resume" || sub == "purge") {
    if (parsed->positional.size() != 1) {
      ctx.err << "bkrctl queues " << sub << " needs exactly one QUEUE\n" << queues_usage;
      return 2;
    }
    const auto& q = parsed->positional[0];
    if (!valid_queue(ctx, q))
      return 2;
    if (sub == "pause") {
      admin.pause(q);
      ctx.out << "paused " << q << "\n";
    } else if (sub == "resume") {
      admin.resume(q);
      ctx.out << "resumed " << q << "\n";
    } else {
      ctx.out << "purged " << admin.purge_queue(q) << " message(s) from " << q << "\n";
    }
    return 0;
  }
  ctx.err << "bkrctl queues: unknown command '" << sub << "'\n" << queues_usage;
  return 2;
}

int dead_letters(const context& ctx, std::span<const std::string> args) {
  if (args.empty() || args[0] == "--help" || args[0] == "help") {
    (args.empty() ? ctx.err : ctx.out) << dead_letters_usage;
    return args.empty() ? 2 : 0;
  }
  const std::string sub = args[0];
  auto parsed = parse(args.subspan(1), {"--queue", "--limit"}, {"--json", "--all"}, ctx.err);
  if (!parsed) {
    ctx.err << dead_letters_usage;
    return 2;
  }
  std::optional<std::string> queue;
  if (parsed->has("--queue")) {
    queue = parsed->options.at("--queue");
    if (!valid_queue(ctx, *queue))
      return 2;
  }
  auto pool = open_pool(ctx);
  if (!pool)
    return 1;
  auto admin_port = messaging::postgres::make_admin(*pool);
  auto& admin = *admin_port;
  auto report = [&](const bkr::error& e) {
    ctx.err << "bkrctl dead-letters " << sub << ": " << e.message << "\n";
    return e.code == messaging::errc::invalid_argument ? 2 : 1;
  };
  if (sub == "list") {
    std::size_t limit = 50;
    if (parsed->has("--limit")) {
      try {
        limit = std::stoul(parsed->options.at("--limit"));
      } catch (const std::exception&) {
        ctx.err << "--limit must be a positive number\n";
        return 2;
      }
    }
    auto all = admin.list_dead_letters(queue, limit);
    if (parsed->has("--json")) {
      auto arr = nlohmann::json::array();
      for (const auto& d : all)
        arr.push_back(dead_letter_json(d));
      ctx.out << arr.dump(2) << "\n";
      return 0;
    }
    ctx.out << std::left << std::setw(38) << "MESSAGE ID" << std::setw(36) << "QUEUE" << std::setw(26)
            << "TYPE" << std::setw(10) << "ATTEMPTS" << std::setw(26) << "LAST SEEN"
            << "REASON\n";
    for (const auto& d : all) {
      ctx.out << std::left << std::setw(38) << d.message.message_id << std::setw(36) << d.queue
              << std::setw(26) << d.message.type << std::setw(10) << d.message.attempt << std::setw(26)
              << format_timestamp(d.last_seen) << d.reason << "\n";
    }
    if (all.empty())
      ctx.out << "(no dead letters)\n";
    return 0;
  }
  if (sub == "show") {
    if (parsed->positional.size() != 1) {
      ctx.err << "bkrctl dead-letters show needs exactly one MESSAGE_ID\n";
      return 2;
    }
    auto d = admin.show_dead_letter(parsed->positional[0]);
    if (!d)
      return report(d.error());
    ctx.out << dead_letter_json(*d).dump(2) << "\n";
    return 0;
  }
  if (sub == "redrive") {
    if (parsed->has("--all")) {
      if (!queue || !parsed->positional.empty()) {
        ctx.err << "bkrctl dead-letters redrive --all needs --queue QUEUE and no MESSAGE_ID\n";
        return 2;
      }
      ctx.out << "redrove " << admin.redrive_all(*queue) << " dead letter(s) to " << *queue << "\n";
      return 0;
    }
    if (parsed->positional.size() != 1) {
      ctx.err << "bkrctl dead-letters redrive needs a MESSAGE_ID or --all --queue QUEUE\n";
      return 2;
    }
    auto r = admin.redrive(parsed->positional[0]);
    if (!r)
      return report(r.error());
    ctx.out << "redrove " << parsed->positional[0] << "\n";
    return 0;
  }
  if (sub == "purge") {
    if (!queue && !parsed->has("--all")) {
      ctx.err << "bkrctl dead-letters purge needs --queue QUEUE or --all\n";
      return 2;
    }
    ctx.out << "purged " << admin.purge_dead_letters(queue) << " dead letter(s)\n";
    return 0;
  }
  ctx.err << "bkrctl dead-letters: unknown command '" << sub << "'\n" << dead_letters_usage;
  return 2;
}

}  // namespace bkr::bkrctl
