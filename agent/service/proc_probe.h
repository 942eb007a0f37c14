// Reads what the supervisor needs to know about other processes from /proc
// (Linux only): a process's state, process group and start time, and whether
// any live member of a process group remains. Plain functions, thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

namespace topos::agent {

struct ProcStat {
  char state = '?';              // field 3: 'R', 'S', 'Z' (zombie), ...
  pid_t pgrp = 0;                // field 5: process group
  std::uint64_t start_time = 0;  // field 22: clock ticks after boot; with the pid it names a process
};

// Parses the contents of /proc/PID/stat (the command name may contain spaces
// and parentheses, so fields are counted after the last ')'). nullopt when malformed.
std::optional<ProcStat> ParseProcStat(const std::string& text);

// Reads /proc/PID/stat. nullopt when the process does not exist (any more).
std::optional<ProcStat> ReadProcStat(pid_t pid);

// True when `pid` exists, is not a zombie, and started at `start_time`: the
// very process that was recorded, not a later one that reused its pid.
bool IsSameLiveProcess(pid_t pid, std::uint64_t start_time);

// True when some process other than a zombie is in process group `pgid`.
bool GroupHasLiveMembers(pid_t pgid);

}  // namespace topos::agent
