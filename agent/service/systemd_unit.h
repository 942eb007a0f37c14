// Renders the systemd unit for a service. Pure, so it is unit-tested
// without systemd.
#pragma once

#include <string>

#include "agent/service/service_manager.h"

namespace topos::agent {

// The unit's file name: "topos-" + name + ".service".
std::string UnitFileName(const std::string& service_name);

// Every argv element and env value is quoted per systemd.syntax(7) so no
// value can inject a directive; newlines are refused (InvalidArgument).
// Also InvalidArgument: empty argv, a bad name, control characters anywhere,
// a program starting with one of systemd's prefixes (-@:+!), a bad
// environment variable name, a relative working directory or log file.
// The version is recorded in Description= ("Topos service NAME (version V)").
Result<std::string> RenderUnit(const ServiceRunSpec& spec);

// The version RenderUnit recorded in `unit_text`; empty if none.
std::string UnitVersion(const std::string& unit_text);

}  // namespace topos::agent
