#include "agent/checks/prerequisites.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>

namespace topos::agent {
namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// The ID= value of /etc/os-release, unquoted; "" when absent.
std::string ReadOsId() {
  for (const char* file : {"/etc/os-release", "/usr/lib/os-release"}) {
    std::ifstream in(file);
    if (!in) continue;
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("ID=", 0) != 0) continue;
      std::string value = line.substr(3);
      if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
          value.back() == value.front()) {
        value = value.substr(1, value.size() - 2);
      }
      return value;
    }
    return "";
  }
  return "";
}

// MemTotal from /proc/meminfo in MiB; 0 when unreadable.
std::uint64_t ReadMemoryMb() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  std::uint64_t kib = 0;
  std::string unit;
  while (in >> key >> kib) {
    std::getline(in, unit);
    if (key == "MemTotal:") return kib / 1024;
  }
  return 0;
}

// Free space (for unprivileged users) of the nearest existing ancestor of
// `dir`, in MiB; 0 when none can be inspected.
std::uint64_t FreeDiskMb(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::path p = dir.empty() ? std::filesystem::current_path(ec) : dir;
  if (p.is_relative()) p = std::filesystem::absolute(p, ec);
  while (true) {
    if (std::filesystem::exists(p, ec)) {
      struct statvfs vfs {};
      if (statvfs(p.c_str(), &vfs) == 0) {
        return static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize / (1024 * 1024);
      }
      return 0;
    }
    if (!p.has_parent_path() || p.parent_path() == p) return 0;
    p = p.parent_path();
  }
}

std::vector<std::string> SplitPath(const char* path) {
  std::vector<std::string> dirs;
  if (path == nullptr) return dirs;
  std::stringstream in(path);
  std::string dir;
  while (std::getline(in, dir, ':')) {
    if (!dir.empty()) dirs.push_back(dir);
  }
  return dirs;
}

// True if `name` (a bare name, or a path containing '/') resolves to an
// executable regular file.
bool IsExecutableFile(const std::filesystem::path& file) {
  struct stat st {};
  if (stat(file.c_str(), &st) != 0) return false;
  if (!S_ISREG(st.st_mode)) return false;
  return access(file.c_str(), X_OK) == 0;
}

bool FindExecutable(const std::string& name, const std::vector<std::string>& dirs) {
  if (name.empty()) return false;
  if (name.find('/') != std::string::npos) return IsExecutableFile(name);
  return std::any_of(dirs.begin(), dirs.end(), [&](const std::string& dir) {
    return IsExecutableFile(std::filesystem::path(dir) / name);
  });
}

std::string JoinQuoted(const google::protobuf::RepeatedPtrField<std::string>& items) {
  std::string out;
  for (const std::string& item : items) {
    if (!out.empty()) out += ", ";
    out += "\"" + item + "\"";
  }
  return out;
}

}  // namespace

HostObservation ObserveHost(const std::filesystem::path& install_dir) {
  HostObservation host;
  host.os_id = ReadOsId();
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  host.cpus = cpus > 0 ? static_cast<unsigned>(cpus) : 0;
  host.memory_mb = ReadMemoryMb();
  host.free_disk_mb = FreeDiskMb(install_dir);
  host.path_dirs = SplitPath(std::getenv("PATH"));
  return host;
}

std::vector<std::string> UnmetPrerequisites(const topos::v1::Prerequisites& wanted,
                                            const HostObservation& host) {
  std::vector<std::string> unmet;
  if (wanted.os_size() > 0) {
    const std::string os = Lower(host.os_id);
    bool accepted = std::any_of(wanted.os().begin(), wanted.os().end(),
                                [&](const std::string& name) { return Lower(name) == os; });
    if (!accepted) {
      unmet.push_back("os: needs one of " + JoinQuoted(wanted.os()) + ", host is \"" +
                      host.os_id + "\"");
    }
  }
  if (wanted.min_cpus() > host.cpus) {
    unmet.push_back("min_cpus: needs " + std::to_string(wanted.min_cpus()) + " CPUs, host has " +
                    std::to_string(host.cpus));
  }
  if (wanted.min_memory_mb() > host.memory_mb) {
    unmet.push_back("min_memory_mb: needs " + std::to_string(wanted.min_memory_mb()) +
                    " MiB, host has " + std::to_string(host.memory_mb) + " MiB");
  }
  if (wanted.min_disk_mb() > host.free_disk_mb) {
    unmet.push_back("min_disk_mb: needs " + std::to_string(wanted.min_disk_mb()) +
                    " MiB free, host has " + std::to_string(host.free_disk_mb) + " MiB");
  }
  for (const std::string& exe : wanted.executables()) {
    if (!FindExecutable(exe, host.path_dirs)) {
      unmet.push_back("executables: \"" + exe + "\" not found on PATH");
    }
  }
  for (std::uint32_t port : wanted.ports()) {
    if (port == 0 || port > 65535) {
      unmet.push_back("ports: " + std::to_string(port) + " is not a valid TCP port");
    } else if (PortInUse(static_cast<int>(port))) {
      unmet.push_back("ports: " + std::to_string(port) + " is in use");
    }
  }
  return unmet;
}

bool PortInUse(int port) {
  if (port < 1 || port > 65535) return false;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  // SO_REUSEADDR: sockets in TIME_WAIT do not count, a listener still does.
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  bool in_use = false;
  if (bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    in_use = errno == EADDRINUSE;
  }
  close(fd);
  return in_use;
}

}  // namespace topos::agent
