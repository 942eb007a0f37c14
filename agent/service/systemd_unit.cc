#include "agent/service/systemd_unit.h"

#include <sstream>
#include <string_view>

namespace topos::agent {
namespace {

// Control characters would end the line (newline) or the string (NUL) in the
// unit file, or are not meant to be in a command line at all; tab is fine.
Status CheckValue(const ServiceRunSpec& spec, const std::string& what, std::string_view value) {
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) {
      return Status::InvalidArgument("service " + spec.name + ": " + what +
                                     " contains a control character (newline, NUL, ...), which "
                                     "a systemd unit cannot carry");
    }
  }
  return Status::Ok();
}

// "%" starts a specifier in every value systemd expands them in.
std::string EscapeSpecifiers(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '%') out += '%';
    out += c;
  }
  return out;
}

// One double-quoted word per systemd.syntax(7): backslash and quote
// escaped, "%" doubled (specifiers) and, on command lines, "$" doubled
// (environment variable substitution).
std::string Quote(std::string_view value, bool escape_dollar) {
  std::string out = "\"";
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '%') out += '%';
    if (c == '$' && escape_dollar) out += '$';
    out += c;
  }
  out += '"';
  return out;
}

bool IsEnvName(std::string_view name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  for (char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '_';
    if (!ok) return false;
  }
  return true;
}

// A path written unquoted: absolute, and not ending in a backslash (which
// would continue the line).
Status CheckPath(const ServiceRunSpec& spec, const std::string& what,
                 const std::filesystem::path& path) {
  const std::string text = path.string();
  TOPOS_RETURN_IF_ERROR(CheckValue(spec, what, text));
  if (!path.is_absolute()) {
    return Status::InvalidArgument("service " + spec.name + ": " + what + " \"" + text +
                                   "\" must be an absolute path");
  }
  if (text.back() == '\\') {
    return Status::InvalidArgument("service " + spec.name + ": " + what + " \"" + text +
                                   "\" must not end in a backslash");
  }
  return Status::Ok();
}

const char* RestartValue(RestartMode mode) {
  switch (mode) {
    case RestartMode::kNever:
      return "no";
    case RestartMode::kOnFailure:
      return "on-failure";
    case RestartMode::kAlways:
      return "always";
  }
  return "no";
}

}  // namespace

std::string UnitFileName(const std::string& service_name) {
  return "topos-" + service_name + ".service";
}

Result<std::string> RenderUnit(const ServiceRunSpec& spec) {
  TOPOS_RETURN_IF_ERROR(ValidateServiceName(spec.name));
  TOPOS_RETURN_IF_ERROR(CheckValue(spec, "the version", spec.version));
  std::vector<std::string> argv = spec.command.argv;
  if (argv.empty() || argv[0].empty()) {
    return Status::InvalidArgument("service " + spec.name + ": the command is empty");
  }
  for (const std::string& arg : argv) TOPOS_RETURN_IF_ERROR(CheckValue(spec, "the command", arg));
  if (spec.command.shell) {
    std::string joined;
    for (const std::string& arg : argv) joined += (joined.empty() ? "" : " ") + arg;
    argv = {"/bin/sh", "-c", joined};
  }
  // systemd reads these prefixes even inside quotes ("-" ignores failure,
  // "+" runs with full privileges, ...), and a lone ";" separates commands.
  if (std::string_view("-@:+!").find(argv[0][0]) != std::string_view::npos || argv[0] == ";") {
    return Status::InvalidArgument("service " + spec.name + ": the program \"" + argv[0] +
                                   "\" must not start with -, @, :, + or ! in a systemd unit");
  }
  for (const auto& [key, value] : spec.command.env) {
    if (!IsEnvName(key)) {
      return Status::InvalidArgument("service " + spec.name + ": invalid environment variable "
                                     "name \"" + key + "\" (use letters, digits and _)");
    }
    TOPOS_RETURN_IF_ERROR(CheckValue(spec, "environment variable " + key, value));
  }
  if (!spec.command.working_dir.empty()) {
    TOPOS_RETURN_IF_ERROR(CheckPath(spec, "the working directory", spec.command.working_dir));
  }
  if (!spec.log_file.empty()) TOPOS_RETURN_IF_ERROR(CheckPath(spec, "the log file", spec.log_file));
  if (spec.stop_signal <= 0 || spec.stop_signal >= 65) {
    return Status::InvalidArgument("service " + spec.name + ": invalid stop signal " +
                                   std::to_string(spec.stop_signal));
  }

  std::ostringstream unit;
  unit << "# Written by topos-agent; changes are overwritten.\n";
  unit << "[Unit]\n";
  unit << "Description=Topos service " << spec.name << " (version "
       << EscapeSpecifiers(spec.version) << ")\n";
  // Give up after max_restarts restarts that come close together (systemd
  // counts starts, the first included, within the interval).
  const long long interval =
      (spec.restart_backoff.count() + 1) * (static_cast<long long>(spec.max_restarts) + 1) + 60;
  unit << "StartLimitIntervalSec=" << interval << "s\n";
  unit << "StartLimitBurst=" << spec.max_restarts + 1 << "\n";
  unit << "\n[Service]\n";
  unit << "Type=simple\n";
  unit << "ExecStart=";
  for (std::size_t i = 0; i < argv.size(); ++i) {
    unit << (i == 0 ? "" : " ") << Quote(argv[i], /*escape_dollar=*/true);
  }
  unit << "\n";
  if (!spec.command.working_dir.empty()) {
    unit << "WorkingDirectory=" << EscapeSpecifiers(spec.command.working_dir.string()) << "\n";
  }
  for (const auto& [key, value] : spec.command.env) {
    // Environment= does not substitute variables: "$" stays as it is.
    unit << "Environment=" << Quote(key + "=" + value, /*escape_dollar=*/false) << "\n";
  }
  if (spec.command.run_as) {
    unit << "User=" << spec.command.run_as->uid << "\n";
    unit << "Group=" << spec.command.run_as->gid << "\n";
  }
  unit << "KillMode=control-group\n";
  unit << "KillSignal=" << SignalName(spec.stop_signal) << "\n";
  unit << "TimeoutStopSec=" << spec.stop_timeout.count() << "s\n";
  unit << "Restart=" << RestartValue(spec.restart) << "\n";
  unit << "RestartSec=" << spec.restart_backoff.count() << "s\n";
  if (!spec.log_file.empty()) {
    const std::string log = EscapeSpecifiers(spec.log_file.string());
    unit << "StandardOutput=append:" << log << "\n";
    unit << "StandardError=append:" << log << "\n";
  }
  unit << "\n[Install]\n";
  unit << "WantedBy=multi-user.target\n";
  return unit.str();
}

std::string UnitVersion(const std::string& unit_text) {
  static constexpr std::string_view kPrefix = "\nDescription=Topos service ";
  const std::size_t line = unit_text.find(kPrefix);
  if (line == std::string::npos) return "";
  const std::size_t end = unit_text.find('\n', line + 1);
  const std::string description = unit_text.substr(line + 1, end - line - 1);
  const std::size_t open = description.find(" (version ");
  if (open == std::string::npos || description.back() != ')') return "";
  const std::string escaped =
      description.substr(open + 10, description.size() - open - 11);
  std::string version;
  for (std::size_t i = 0; i < escaped.size(); ++i) {
    version += escaped[i];
    if (escaped[i] == '%' && i + 1 < escaped.size() && escaped[i + 1] == '%') ++i;
  }
  return version;
}

}  // namespace topos::agent
