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
Result<std::string> RenderUnit(const ServiceRunSpec& spec);

}  // namespace topos::agent
