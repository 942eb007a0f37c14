// Facts about this host for Hello and enrollment: name, OS, kernel, CPUs,
// memory, free disk. Missing sources leave a field empty, never fail.
#pragma once

#include <cstdint>
#include <filesystem>

#include "topos/v1/agent.pb.h"

namespace topos::agent {

topos::v1::HostFacts CollectHostFacts(const std::filesystem::path& state_dir);
std::uint64_t FreeDiskBytes(const std::filesystem::path& path);

}  // namespace topos::agent
