// Running a real executable from a test: arguments, environment overrides, captured output, exit code.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace bkr::test {

struct process_result {
  int exit_code = -1;  ///< -1 when killed by a signal or timed out
  std::string out;
  std::string err;
  bool timed_out = false;
};

/// Runs `argv` to completion (killing it after `timeout`) with the current environment plus `env`
/// (a value of nullopt removes the variable). Output is captured in full.
process_result run_process(const std::vector<std::string>& argv,
                           const std::map<std::string, std::optional<std::string>>& env = {},
                           std::chrono::milliseconds timeout = std::chrono::seconds{60});

/// The path of a built executable, from $BKR_BUILD_DIR (set by CTest for every test).
std::string built_executable(const std::string& relative_path);

}  // namespace bkr::test
