#include "agent/facts/host_facts.h"

#include <sys/statvfs.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "agent/version.h"

namespace topos::agent {
namespace {

// Reads KEY="value" from /etc/os-release.
std::string OsRelease(const std::string& key) {
  std::ifstream in("/etc/os-release");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + "=", 0) != 0) continue;
    std::string value = line.substr(key.size() + 1);
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    return value.substr(0, 200);
  }
  return "";
}

}  // namespace

std::uint64_t FreeDiskBytes(const std::filesystem::path& path) {
  struct statvfs fs {};
  std::error_code ec;
  std::filesystem::path probe = std::filesystem::exists(path, ec) ? path : path.parent_path();
  if (::statvfs(probe.c_str(), &fs) != 0) return 0;
  return static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
}

topos::v1::HostFacts CollectHostFacts(const std::filesystem::path& state_dir) {
  topos::v1::HostFacts facts;
  char hostname[256] = {};
  if (::gethostname(hostname, sizeof hostname - 1) == 0) facts.set_hostname(hostname);
  facts.set_os_name(OsRelease("PRETTY_NAME"));
  facts.set_os_version(OsRelease("VERSION_ID"));
  struct utsname uts {};
  if (::uname(&uts) == 0) {
    facts.set_kernel(uts.release);
    facts.set_arch(uts.machine);
  }
  long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  facts.set_cpus(cpus > 0 ? static_cast<std::uint32_t>(cpus) : 0);
  struct sysinfo info {};
  if (::sysinfo(&info) == 0) {
    facts.set_memory_bytes(static_cast<std::uint64_t>(info.totalram) * info.mem_unit);
  }
  facts.set_disk_free_bytes(FreeDiskBytes(state_dir));
  facts.set_agent_version(kAgentVersion);
  return facts;
}

}  // namespace topos::agent
