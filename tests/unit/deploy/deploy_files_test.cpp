// The deployment descriptions agree with the build: they parse, name installed executables, set only
// configuration variables those executables declare, and reference files that exist.
#include "process.hpp"

#include <yaml-cpp/yaml.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

fs::path source_dir() {
  const char* dir = std::getenv("BKR_SOURCE_DIR");
  REQUIRE(dir != nullptr);
  return dir;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The executables `cmake --install` puts into bin (the foreach list of the top-level CMakeLists.txt).
std::set<std::string> install_targets() {
  const auto text = read_text(source_dir() / "CMakeLists.txt");
  const std::regex block(R"(foreach\(exe([^)]*)\))");
  std::smatch m;
  REQUIRE(std::regex_search(text, m, block));
  std::set<std::string> names;
  std::istringstream words(m[1].str());
  for (std::string w; words >> w;) {
    names.insert(w);
  }
  return names;
}

// Where each installed executable is in a build directory.
fs::path built_path(const std::string& exe) {
  if (exe == "bkrctl") {
    return "tools/bkrctl/bkrctl";
  }
  if (exe.starts_with("bkr-fake-") || exe == "bkr-http-noop") {
    return fs::path("tools") / exe.substr(4) / exe;
  }
  return fs::path("services") / exe.substr(4) / exe;
}

// The BKR_* variables an executable declares, from its --help.
std::set<std::string> declared_variables(const std::string& exe) {
  static std::map<std::string, std::set<std::string>> cache;
  if (auto it = cache.find(exe); it != cache.end()) {
    return it->second;
  }
  const auto path = bkr::test::built_executable(built_path(exe).string());
  const auto r = bkr::test::run_process({path, "--help"}, {}, std::chrono::seconds{20});
  INFO(exe << " --help: " << r.err);
  REQUIRE(r.exit_code == 0);
  std::set<std::string> vars{"BKR_CONFIG_FILE"};
  // Workers list `  BKR_X  (key, type, default)`, bkrctl `  BKR_X, BKR_Y   text`: the names lead the line.
  const std::regex lead(R"(^\s+BKR_)");
  const std::regex name(R"(BKR_[A-Z0-9_]+)");
  std::istringstream in(r.out);
  for (std::string l; std::getline(in, l);) {
    if (!std::regex_search(l, lead)) {
      continue;
    }
    const auto names_end = l.find("  ", l.find("BKR_"));
    const auto names = l.substr(0, names_end);
    for (auto it = std::sregex_iterator(names.begin(), names.end(), name); it != std::sregex_iterator();
         ++it) {
      vars.insert(it->str());
    }
  }
  REQUIRE(vars.contains("BKR_DATABASE_URL"));
  cache.emplace(exe, vars);
  return vars;
}

std::string first_word(const std::string& command) {
  std::istringstream in(command);
  std::string w;
  in >> w;
  return w;
}

// Compose environment with `<<` merge keys resolved (yaml-cpp keeps them as plain keys).
void collect_env(const YAML::Node& node, std::map<std::string, std::string>& out) {
  if (!node || !node.IsMap()) {
    return;
  }
  for (const auto& kv : node) {
    const auto key = kv.first.as<std::string>();
    if (key == "<<") {
      collect_env(kv.second, out);
    } else if (!out.contains(key)) {
      out[key] = kv.second.as<std::string>();
    }
  }
}

YAML::Node merged(const YAML::Node& service, const std::string& field) {
  if (service[field]) {
    return service[field];
  }
  if (service["<<"] && service["<<"][field]) {
    return service["<<"][field];
  }
  return {};
}

// The minimal TOML reading fly.toml needs: `key = "value"` lines per [section].
std::map<std::string, std::map<std::string, std::string>> read_fly(const fs::path& path) {
  std::map<std::string, std::map<std::string, std::string>> sections;
  std::string section;
  const std::regex header(R"(^\s*\[+([^\]]+)\]+\s*$)");
  const std::regex pair(R"re(^\s*([A-Za-z0-9_]+)\s*=\s*"([^"]*)"\s*$)re");
  std::istringstream in(read_text(path));
  for (std::string l; std::getline(in, l);) {
    std::smatch m;
    if (std::regex_match(l, m, header)) {
      section = m[1].str();
    } else if (std::regex_match(l, m, pair)) {
      sections[section][m[1].str()] = m[2].str();
    }
  }
  return sections;
}

}  // namespace

TEST_CASE("pm2.config.json runs every process from installed executables with declared variables",
          "[deploy]") {
  const auto config = nlohmann::json::parse(read_text(source_dir() / "pm2.config.json"));
  const auto installed = install_targets();
  std::set<std::string> names;
  for (const auto& app : config.at("apps")) {
    const auto name = app.at("name").get<std::string>();
    INFO(name);
    names.insert(name);
    const fs::path script = app.at("script").get<std::string>();
    CHECK(installed.contains(script.filename().string()));
    CHECK(script.relative_path().string().starts_with("build/release/"));
    CHECK(script.string() == "build/release/" + built_path(script.filename().string()).string());
    CHECK(app.at("interpreter") == "none");
    CHECK(app.at("exec_mode") == "fork");
    // pm2 sends SIGINT, then SIGKILL after kill_timeout: it must exceed the 10 s drain deadline.
    CHECK(app.at("kill_timeout").get<int>() > 10000);
    CHECK(app.at("autorestart") == true);
    CHECK(app.at("out_file").get<std::string>().starts_with("var/log/"));
    CHECK(app.at("error_file").get<std::string>().starts_with("var/log/"));
    const auto declared = declared_variables(script.filename().string());
    const auto env = app.value("env", nlohmann::json::object());
    for (const auto& item : env.items()) {
      INFO(item.key());
      CHECK(declared.contains(item.key()));
    }
  }
  CHECK(names == std::set<std::string>{"bkr-receive-request", "bkr-create-request", "bkr-check-allowed",
                                       "bkr-send-to-interface", "bkr-receive-status",
                                       "bkr-fake-backup-interface"});
}

TEST_CASE("docker-compose.yml parses and names installed executables with declared variables", "[deploy]") {
  const auto compose = YAML::LoadFile((source_dir() / "deploy/docker-compose.yml").string());
  const auto installed = install_targets();
  const auto services = compose["services"];
  REQUIRE(services.IsMap());
  REQUIRE(services["postgres"]);
  std::set<std::string> commands;
  for (const auto& kv : services) {
    const auto name = kv.first.as<std::string>();
    if (name == "postgres") {
      continue;
    }
    INFO(name);
    const auto command = merged(kv.second, "command");
    REQUIRE(command.IsSequence());
    const auto exe = command[0].as<std::string>();
    commands.insert(exe);
    CHECK(installed.contains(exe));
    std::map<std::string, std::string> env;
    collect_env(merged(kv.second, "environment"), env);
    CHECK(env.contains("BKR_DATABASE_URL"));
    const auto declared = declared_variables(exe);
    for (const auto& [var, value] : env) {
      INFO(var);
      CHECK(var.starts_with("BKR_"));
      CHECK(declared.contains(var));
    }
    // One-shot jobs (migrate, seed: bkrctl, restart "no") exit when done; the long-running services' health
    // checks probe their own ops port.
    const bool one_shot = kv.second["restart"] && kv.second["restart"].as<std::string>() == "no";
    if (!one_shot) {
      const auto test = merged(kv.second, "healthcheck")["test"];
      REQUIRE(test.IsSequence());
      CHECK(test[test.size() - 1].as<std::string>().find("/" + env.at("BKR_OPS_PORT") + " ") !=
            std::string::npos);
    }
    if (const auto build = kv.second["build"]) {
      const auto context = source_dir() / "deploy" / build["context"].as<std::string>();
      CHECK(fs::is_regular_file(context / build["dockerfile"].as<std::string>()));
    }
  }
  CHECK(commands == std::set<std::string>{"bkrctl", "bkr-receive-request", "bkr-create-request",
                                          "bkr-check-allowed", "bkr-send-to-interface", "bkr-receive-status",
                                          "bkr-fake-backup-interface"});
}

TEST_CASE("fly.toml names installed executables, declared variables and an existing Dockerfile", "[deploy]") {
  const auto fly = read_fly(source_dir() / "deploy/fly.toml");
  const auto installed = install_targets();
  REQUIRE(fly.contains("processes"));
  std::set<std::string> all_declared;
  for (const auto& [process, command] : fly.at("processes")) {
    INFO(process);
    const auto exe = first_word(command);
    CHECK(installed.contains(exe));
    const auto declared = declared_variables(exe);
    all_declared.insert(declared.begin(), declared.end());
  }
  CHECK(fly.at("processes").contains("web"));
  CHECK(fly.at("processes").at("web") == "bkr-receive-request");
  CHECK(installed.contains(first_word(fly.at("deploy").at("release_command"))));
  for (const auto& [var, value] : fly.at("env")) {
    INFO(var);
    CHECK(all_declared.contains(var));
  }
  CHECK(fs::is_regular_file(source_dir() / "deploy" / fly.at("build").at("dockerfile")));
}

TEST_CASE("the Dockerfile copies existing files and runs an installed executable", "[deploy]") {
  const auto text = read_text(source_dir() / "deploy/Dockerfile");
  const auto installed = install_targets();
  const std::regex copy(R"(^COPY\s+(?!--from)(\S+)\s+\S+\s*$)");
  const std::regex cmd(R"re(^CMD\s+\["([^"]+)")re");
  const std::regex env_var(R"(\b(BKR_[A-Z0-9_]+)=)");
  std::set<std::string> all_declared;
  for (const auto& exe : installed) {
    if (exe == "bkr-http-noop" || exe == "bkr-fake-backup-job-service") {
      continue;
    }
    const auto declared = declared_variables(exe);
    all_declared.insert(declared.begin(), declared.end());
  }
  int copies = 0;
  bool has_cmd = false;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    std::smatch m;
    if (std::regex_match(l, m, copy)) {
      ++copies;
      INFO(l);
      CHECK(fs::exists(source_dir() / m[1].str()));
    }
    if (std::regex_search(l, m, cmd)) {
      has_cmd = true;
      CHECK(installed.contains(m[1].str()));
    }
    for (auto it = std::sregex_iterator(l.begin(), l.end(), env_var); it != std::sregex_iterator(); ++it) {
      INFO((*it)[1].str());
      CHECK(all_declared.contains((*it)[1].str()));
    }
  }
  CHECK(copies >= 2);
  CHECK(has_cmd);
}
