// Signal names as topologies and manifests spell them ("TERM", "SIGHUP",
// case-insensitive): the one list both the controller's topology validator
// and the agent's service managers accept, so a name the controller takes
// at publish never fails later on a host.
#pragma once

#include <string>

#include "common/status.h"

namespace topos {

// The signal's number; InvalidArgument naming the accepted names otherwise.
Result<int> ParseSignalName(const std::string& name);

// "SIGTERM" for 15 and the other names ParseSignalName accepts; else the
// number ("34").
std::string SignalName(int signal);

}  // namespace topos
