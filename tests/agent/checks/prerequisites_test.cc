#include "agent/checks/prerequisites.h"
#include "tests/support/temp_dir.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace topos::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

HostObservation TypicalHost() {
  HostObservation host;
  host.os_id = "debian";
  host.cpus = 4;
  host.memory_mb = 8192;
  host.free_disk_mb = 10000;
  return host;
}

// A socket listening on 127.0.0.1 on a kernel-chosen port; closed on destruction.
class Listener {
 public:
  Listener() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(fd_, 4) != 0) {
      ADD_FAILURE() << "cannot listen";
      return;
    }
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~Listener() { Close(); }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

using topos::test_support::TempDir;

void WriteFile(const std::filesystem::path& path, mode_t mode) {
  std::ofstream(path) << "#!/bin/sh\nexit 0\n";
  ASSERT_EQ(chmod(path.c_str(), mode), 0);
}

TEST(UnmetPrerequisites, EmptyRequirementsAreMet) {
  EXPECT_THAT(UnmetPrerequisites(topos::v1::Prerequisites(), HostObservation()), IsEmpty());
}

TEST(UnmetPrerequisites, OsComparedCaseInsensitively) {
  topos::v1::Prerequisites wanted;
  wanted.add_os("Ubuntu");
  wanted.add_os("DEBIAN");
  EXPECT_THAT(UnmetPrerequisites(wanted, TypicalHost()), IsEmpty());
}

TEST(UnmetPrerequisites, OtherOsIsReportedWithTheAcceptedList) {
  topos::v1::Prerequisites wanted;
  wanted.add_os("rhel");
  wanted.add_os("rocky");
  EXPECT_THAT(UnmetPrerequisites(wanted, TypicalHost()),
              ElementsAre("os: needs one of \"rhel\", \"rocky\", host is \"debian\""));
}

TEST(UnmetPrerequisites, UnknownOsDoesNotMatch) {
  topos::v1::Prerequisites wanted;
  wanted.add_os("debian");
  HostObservation host = TypicalHost();
  host.os_id = "";
  EXPECT_THAT(UnmetPrerequisites(wanted, host), SizeIs(1));
}

TEST(UnmetPrerequisites, CpusAtAboveAndBelowTheLimit) {
  topos::v1::Prerequisites wanted;
  HostObservation host = TypicalHost();
  wanted.set_min_cpus(4);
  EXPECT_THAT(UnmetPrerequisites(wanted, host), IsEmpty());
  wanted.set_min_cpus(3);
  EXPECT_THAT(UnmetPrerequisites(wanted, host), IsEmpty());
  wanted.set_min_cpus(5);
  EXPECT_THAT(UnmetPrerequisites(wanted, host),
              ElementsAre("min_cpus: needs 5 CPUs, host has 4"));
}

TEST(UnmetPrerequisites, MemoryAtAboveAndBelowTheLimit) {
  topos::v1::Prerequisites wanted;
  HostObservation host = TypicalHost();
  host.memory_mb = 2048;
  wanted.set_min_memory_mb(2048);
  EXPECT_THAT(UnmetPrerequisites(wanted, host), IsEmpty());
  wanted.set_min_memory_mb(1024);
  EXPECT_THAT(UnmetPrerequisites(wanted, host), IsEmpty());
  wanted.set_min_memory_mb(4096);
  EXPECT_THAT(UnmetPrerequisites(wanted, host),
              ElementsAre("min_memory_mb: needs 4096 MiB, host has 2048 MiB"));
}

TEST(UnmetPrerequisites, DiskAtAboveAndBelowTheLimit) {
  topos::v1::Prerequisites wanted;
  HostObservation host = TypicalHost();
  wanted.set_min_disk_mb(10000);
  EXPECT_THAT(UnmetPrerequisites(wanted, host), IsEmpty());
  wanted.set_min_disk_mb(1);
  EXPECT_THAT(UnmetPrerequisites(wanted, host), IsEmpty());
  wanted.set_min_disk_mb(10001);
  EXPECT_THAT(UnmetPrerequisites(wanted, host),
              ElementsAre("min_disk_mb: needs 10001 MiB free, host has 10000 MiB"));
}

TEST(UnmetPrerequisites, EveryUnmetRequirementIsOneLine) {
  topos::v1::Prerequisites wanted;
  wanted.add_os("rhel");
  wanted.set_min_cpus(64);
  wanted.set_min_memory_mb(1 << 20);
  wanted.set_min_disk_mb(1 << 30);
  wanted.add_executables("no-such-program-topos");
  EXPECT_THAT(UnmetPrerequisites(wanted, TypicalHost()), SizeIs(5));
}

TEST(UnmetPrerequisites, ExecutablePresentAbsentAndNotExecutable) {
  TempDir dir;
  TempDir other;
  WriteFile(dir.path() / "tool", 0755);
  WriteFile(dir.path() / "plain", 0644);
  std::filesystem::create_directory(dir.path() / "subdir");
  HostObservation host = TypicalHost();
  host.path_dirs = {other.path().string(), dir.path().string()};

  topos::v1::Prerequisites wanted;
  wanted.add_executables("tool");
  EXPECT_THAT(UnmetPrerequisites(wanted, host), IsEmpty());

  wanted.clear_executables();
  wanted.add_executables("missing");
  wanted.add_executables("plain");
  wanted.add_executables("subdir");
  EXPECT_THAT(UnmetPrerequisites(wanted, host),
              ElementsAre("executables: \"missing\" not found on PATH",
                          "executables: \"plain\" not found on PATH",
                          "executables: \"subdir\" not found on PATH"));

  // Not on the given PATH, even if it exists elsewhere.
  host.path_dirs = {other.path().string()};
  wanted.clear_executables();
  wanted.add_executables("tool");
  EXPECT_THAT(UnmetPrerequisites(wanted, host), SizeIs(1));
}

TEST(UnmetPrerequisites, PortInUseIsReportedFreePortIsNot) {
  Listener listener;
  ASSERT_GT(listener.port(), 0);
  topos::v1::Prerequisites wanted;
  wanted.add_ports(static_cast<std::uint32_t>(listener.port()));
  EXPECT_THAT(UnmetPrerequisites(wanted, TypicalHost()),
              ElementsAre("ports: " + std::to_string(listener.port()) + " is in use"));
  listener.Close();
  EXPECT_THAT(UnmetPrerequisites(wanted, TypicalHost()), IsEmpty());
}

TEST(UnmetPrerequisites, OutOfRangePortIsReported) {
  topos::v1::Prerequisites wanted;
  wanted.add_ports(0);
  wanted.add_ports(70000);
  EXPECT_THAT(UnmetPrerequisites(wanted, TypicalHost()),
              ElementsAre("ports: 0 is not a valid TCP port",
                          "ports: 70000 is not a valid TCP port"));
}

TEST(PortInUse, ListeningPortIsInUse) {
  Listener listener;
  ASSERT_GT(listener.port(), 0);
  EXPECT_TRUE(PortInUse(listener.port()));
}

TEST(PortInUse, ClosedPortIsFree) {
  Listener listener;
  int port = listener.port();
  ASSERT_GT(port, 0);
  listener.Close();
  EXPECT_FALSE(PortInUse(port));
}

TEST(PortInUse, PortsOutsideTheRangeAreNotInUse) {
  EXPECT_FALSE(PortInUse(0));
  EXPECT_FALSE(PortInUse(-1));
  EXPECT_FALSE(PortInUse(65536));
}

TEST(ObserveHost, ReturnsPlausibleValues) {
  TempDir dir;
  HostObservation host = ObserveHost(dir.path() / "not" / "yet" / "created");
  EXPECT_GE(host.cpus, 1u);
  EXPECT_GT(host.memory_mb, 0u);
  EXPECT_GT(host.free_disk_mb, 0u);  // measured on the nearest existing ancestor
  EXPECT_FALSE(host.os_id.empty());
  if (std::getenv("PATH") != nullptr) {
    EXPECT_FALSE(host.path_dirs.empty());
  }
}

}  // namespace
}  // namespace topos::agent
