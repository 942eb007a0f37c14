#include "agent/process/launch_plan.h"

#include <unistd.h>

#include "agent/process/boost_process.h"
#include <system_error>

extern char** environ;  // NOLINT: POSIX global

namespace topos::agent {
namespace {

namespace bp = boost::process::v2;
namespace fs = std::filesystem;

// The agent's environment with `overrides` replacing or adding entries.
Result<std::vector<std::string>> BuildEnvironment(
    const std::vector<std::pair<std::string, std::string>>& overrides) {
  for (const auto& [key, value] : overrides) {
    if (key.empty() || key.find('=') != std::string::npos ||
        key.find('\0') != std::string::npos || value.find('\0') != std::string::npos) {
      return Status::InvalidArgument("environment variable name \"" + key +
                                     "\" is invalid (non-empty, no '=' or NUL)");
    }
  }
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    std::string_view key = entry.substr(0, entry.find('='));
    bool overridden = false;
    for (const auto& o : overrides) overridden = overridden || o.first == key;
    if (!overridden) env.emplace_back(entry);
  }
  for (const auto& [key, value] : overrides) {
    // A later override of the same key wins: drop earlier ones.
    std::string prefix = key + "=";
    std::erase_if(env, [&](const std::string& e) { return e.starts_with(prefix); });
    env.push_back(prefix + value);
  }
  return env;
}

std::string JoinArgs(const std::vector<std::string>& argv) {
  std::string joined;
  for (const auto& a : argv) {
    if (!joined.empty()) joined += ' ';
    joined += a;
  }
  return joined;
}

Status CheckExecutable(const std::string& program, const fs::path& path) {
  std::error_code ec;
  auto st = fs::status(path, ec);
  if (ec || !fs::exists(st)) {
    return Status::NotFound("program \"" + program + "\" not found at " + path.string());
  }
  if (!fs::is_regular_file(st) || ::access(path.c_str(), X_OK) != 0) {
    return Status::FailedPrecondition("program \"" + program + "\" at " + path.string() +
                                      " is not an executable file (check its mode)");
  }
  return Status::Ok();
}

}  // namespace

Result<LaunchPlan> MakeLaunchPlan(const CommandSpec& spec) {
  if (spec.argv.empty() || spec.argv[0].empty()) {
    return Status::InvalidArgument("command has no program (argv is empty)");
  }
  for (const auto& a : spec.argv) {
    if (a.find('\0') != std::string::npos) {
      return Status::InvalidArgument("argument of \"" + spec.argv[0] + "\" contains a NUL byte");
    }
  }
  LaunchPlan plan;
  plan.program = spec.argv[0];
  plan.working_dir = spec.working_dir.empty() ? fs::path(".") : spec.working_dir;
  if (!spec.working_dir.empty()) {
    std::error_code ec;
    auto st = fs::status(spec.working_dir, ec);
    if (ec || !fs::exists(st)) {
      return Status::NotFound("working directory " + spec.working_dir.string() +
                              " of \"" + plan.program + "\" does not exist");
    }
    if (!fs::is_directory(st)) {
      return Status::FailedPrecondition("working directory " + spec.working_dir.string() +
                                        " of \"" + plan.program + "\" is not a directory");
    }
  }

  auto env = BuildEnvironment(spec.env);
  if (!env.ok()) return env.status();
  plan.env = std::move(*env);

  if (spec.shell) {
    plan.executable = "/bin/sh";
    plan.args = {"-c", JoinArgs(spec.argv)};
    return plan;
  }

  plan.args.assign(spec.argv.begin() + 1, spec.argv.end());
  const std::string& argv0 = spec.argv[0];
  if (argv0.find('/') != std::string::npos) {
    fs::path p(argv0);
    if (p.is_relative() && !spec.working_dir.empty()) p = spec.working_dir / p;
    std::error_code ec;
    fs::path abs = fs::absolute(p, ec);
    plan.executable = ec ? p : abs;  // absolute: exec happens after chdir
    TOPOS_RETURN_IF_ERROR(CheckExecutable(argv0, plan.executable));
    return plan;
  }

  // Look the name up on the PATH the child will see.
  std::vector<bp::environment::key_value_pair> child_env(plan.env.begin(), plan.env.end());
  plan.executable = bp::environment::find_executable(argv0, child_env);
  if (plan.executable.empty()) {
    std::string path_value;
    for (const auto& e : plan.env) {
      if (e.starts_with("PATH=")) path_value = e.substr(5);
    }
    return Status::NotFound("program \"" + argv0 + "\" not found on PATH (" + path_value + ")");
  }
  std::error_code ec;
  fs::path abs = fs::absolute(plan.executable, ec);  // a relative PATH entry
  if (!ec) plan.executable = abs;
  return plan;
}

}  // namespace topos::agent
