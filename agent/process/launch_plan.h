// Turns a CommandSpec into what exec needs: the resolved executable, the
// argument vector and the full environment. Internal to agent/process.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "agent/process/command_runner.h"
#include "common/status.h"

namespace topos::agent {

struct LaunchPlan {
  std::filesystem::path executable;  // absolute, or as found on PATH
  std::vector<std::string> args;     // argv[1..]
  std::vector<std::string> env;      // "KEY=VALUE", the agent's plus overrides
  std::filesystem::path working_dir; // never empty ("." for the current one)
  std::string program;               // how to name the program in messages
};

// Fails with InvalidArgument (empty argv, malformed env key), NotFound
// (program or working directory missing) or FailedPrecondition (program not
// executable, working directory not a directory). Reads the process
// environment; thread-safe as long as nobody calls setenv concurrently.
Result<LaunchPlan> MakeLaunchPlan(const CommandSpec& spec);

}  // namespace topos::agent
