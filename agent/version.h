#pragma once

namespace topos::agent {
inline constexpr char kAgentVersion[] = "0.1.0";
}  // namespace topos::agent
