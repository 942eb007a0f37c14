// Process-group queries. Internal to agent/process.
#pragma once

#include <sys/types.h>

namespace topos::agent {

// True while some process of group `pgid` is alive. Dead processes waiting
// for their parent (often init) to reap them do not count: they run nothing
// and hold nothing open. Linux: scans /proc when kill(-pgid, 0) still
// succeeds; if /proc cannot be read, answers true. Thread-safe.
bool ProcessGroupHasLiveMembers(pid_t pgid);

}  // namespace topos::agent
