// A shell script as a command for the process tests: 10 s deadline, 1 s
// grace between SIGTERM and SIGKILL.
#pragma once

#include <chrono>
#include <string>

#include "agent/process/command_runner.h"

namespace topos::agent {

inline CommandSpec Sh(const std::string& script) {
  CommandSpec spec;
  spec.argv = {"/bin/sh", "-c", script};
  spec.timeout = std::chrono::seconds(10);
  spec.kill_grace = std::chrono::seconds(1);
  return spec;
}

}  // namespace topos::agent
