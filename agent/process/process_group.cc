#include "agent/process/process_group.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

namespace topos::agent {
namespace {

// Reads the state letter and process group of /proc/<pid>/stat; false if the
// process is gone or the file is malformed.
bool ReadStat(const char* pid, char* state, long* pgrp) {
  std::string path = std::string("/proc/") + pid + "/stat";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[512];
  ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
  ::close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  // "pid (comm) S ppid pgrp ...": comm may contain spaces and parentheses.
  std::string line(buf, static_cast<std::size_t>(n));
  std::size_t close_paren = line.rfind(')');
  if (close_paren == std::string::npos || close_paren + 2 >= line.size()) return false;
  const char* p = line.c_str() + close_paren + 2;
  *state = *p;
  char* end = nullptr;
  std::strtol(p + 1, &end, 10);  // ppid
  if (end == p + 1) return false;
  const char* pgrp_start = end;
  *pgrp = std::strtol(pgrp_start, &end, 10);
  return end != pgrp_start;
}

}  // namespace

bool ProcessGroupHasLiveMembers(pid_t pgid) {
  if (::kill(-pgid, 0) == -1 && errno == ESRCH) return false;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return true;
  bool alive = false;
  while (dirent* entry = ::readdir(proc)) {
    const char* name = entry->d_name;
    if (*name < '0' || *name > '9') continue;
    char state = 0;
    long pgrp = 0;
    if (!ReadStat(name, &state, &pgrp)) continue;
    if (pgrp == pgid && state != 'Z' && state != 'X') {
      alive = true;
      break;
    }
  }
  ::closedir(proc);
  return alive;
}

}  // namespace topos::agent
