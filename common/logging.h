// Logging set-up: spdlog to stderr, one line per event.
#pragma once

#include <string>

#include "common/status.h"

namespace topos {

// `level`: trace, debug, info, warn, error. Unknown levels are an error.
Status SetupLogging(const std::string& level, const std::string& component);

}  // namespace topos
