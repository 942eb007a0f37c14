#include "agent/checks/health_check.h"

#define CPPHTTPLIB_OPENSSL_SUPPORT
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "tests/agent/checks/test_pki.h"
#include "tests/support/temp_dir.h"

namespace topos::agent {
namespace {

using ::testing::HasSubstr;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

using topos::test_support::TempDir;

// Binds 127.0.0.1:0 and, if `listening`, listens; the port is then either
// accepting connections or closed (bound but refusing).
class Socket {
 public:
  explicit Socket(bool listening) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        (listening && listen(fd_, 4) != 0)) {
      ADD_FAILURE() << "cannot bind";
      return;
    }
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~Socket() {
    if (fd_ >= 0) close(fd_);
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// Runs an httplib server on a thread: /ok answers 200, /down 503.
class TestServer {
 public:
  explicit TestServer(std::unique_ptr<httplib::Server> server) : server_(std::move(server)) {
    server_->Get("/ok", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("ok", "text/plain");
    });
    server_->Get("/down", [](const httplib::Request&, httplib::Response& res) {
      res.status = 503;
    });
    port_ = server_->bind_to_any_port("127.0.0.1");
    // The socket listens from here on; connections wait in the backlog.
    thread_ = std::thread([this] { server_->listen_after_bind(); });
  }
  ~TestServer() {
    const auto deadline = steady_clock::now() + std::chrono::seconds(5);
    while (!server_->is_running() && steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(5));
    }
    server_->stop();
    thread_.join();
  }
  int port() const { return port_; }

 private:
  std::unique_ptr<httplib::Server> server_;
  int port_ = 0;
  std::thread thread_;
};

HealthProbe TcpProbe(int port, milliseconds timeout) {
  HealthProbe probe;
  probe.kind = HealthProbe::Kind::kTcp;
  probe.tcp_port = port;
  probe.timeout = timeout;
  probe.interval = milliseconds(50);
  return probe;
}

HealthProbe HttpProbe(const std::string& url, milliseconds timeout = milliseconds(500)) {
  HealthProbe probe;
  probe.kind = HealthProbe::Kind::kHttp;
  probe.http_url = url;
  probe.timeout = timeout;
  probe.interval = milliseconds(50);
  return probe;
}

TEST(HealthCheck, NoneIsHealthyAtOnce) {
  EXPECT_TRUE(WaitHealthy(HealthProbe()).ok());
}

TEST(HealthCheck, TcpProbeOfListeningSocketIsHealthy) {
  Socket listener(/*listening=*/true);
  ASSERT_GT(listener.port(), 0);
  EXPECT_TRUE(ProbeOnce(TcpProbe(listener.port(), milliseconds(500))).ok());
  Status status = WaitHealthy(TcpProbe(listener.port(), milliseconds(500)));
  EXPECT_TRUE(status.ok()) << status.message();
}

TEST(HealthCheck, TcpProbeOfClosedPortTimesOutNamingProbeAndReason) {
  Socket closed(/*listening=*/false);
  ASSERT_GT(closed.port(), 0);
  const auto start = steady_clock::now();
  Status status = WaitHealthy(TcpProbe(closed.port(), milliseconds(500)));
  const auto elapsed = steady_clock::now() - start;
  EXPECT_EQ(status.code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(status.message(), "health check tcp:" + std::to_string(closed.port()) +
                                  " did not pass within 500ms: connection refused");
  EXPECT_GE(elapsed, milliseconds(500));
  EXPECT_LT(elapsed, milliseconds(3000));
}

TEST(HealthCheck, TcpProbeBecomesHealthyWhenTheServiceStartsListening) {
  int port = 0;
  {
    Socket probe_port(/*listening=*/false);
    port = probe_port.port();
  }
  ASSERT_GT(port, 0);
  std::atomic<int> late_fd{-1};
  std::thread service([&] {
    std::this_thread::sleep_for(milliseconds(150));
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) listen(fd, 4);
    late_fd = fd;
  });
  Status status = WaitHealthy(TcpProbe(port, std::chrono::seconds(5)));
  service.join();
  EXPECT_TRUE(status.ok()) << status.message();
  if (late_fd >= 0) close(late_fd);
}

TEST(HealthCheck, StillRunningFalseEndsTheWaitEarly) {
  Socket closed(/*listening=*/false);
  int calls = 0;
  const auto start = steady_clock::now();
  Status status = WaitHealthy(TcpProbe(closed.port(), std::chrono::seconds(30)), [&] {
    return ++calls < 3;
  });
  EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(status.code(), Status::Code::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("service exited before its health check passed"));
  EXPECT_THAT(status.message(), HasSubstr("tcp:" + std::to_string(closed.port())));
  EXPECT_EQ(calls, 3);
}

TEST(HealthCheck, CancelEndsTheWaitEarly) {
  Socket closed(/*listening=*/false);
  std::atomic<bool> cancel{false};
  std::thread canceller([&] {
    std::this_thread::sleep_for(milliseconds(100));
    cancel = true;
  });
  const auto start = steady_clock::now();
  Status status = WaitHealthy(TcpProbe(closed.port(), std::chrono::seconds(30)), {}, &cancel);
  canceller.join();
  EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_FALSE(status.ok());
}

TEST(HealthCheck, HttpProbeIsHealthyOn200) {
  TestServer server(std::make_unique<httplib::Server>());
  ASSERT_GT(server.port(), 0);
  Status status =
      WaitHealthy(HttpProbe("http://127.0.0.1:" + std::to_string(server.port()) + "/ok"));
  EXPECT_TRUE(status.ok()) << status.message();
}

TEST(HealthCheck, HttpProbeIsUnhealthyOn503) {
  TestServer server(std::make_unique<httplib::Server>());
  ASSERT_GT(server.port(), 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/down";
  Status once = ProbeOnce(HttpProbe(url));
  EXPECT_FALSE(once.ok());
  EXPECT_EQ(once.message(), "HTTP 503");
  Status status = WaitHealthy(HttpProbe(url, milliseconds(300)));
  EXPECT_EQ(status.code(), Status::Code::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("503"));
  EXPECT_THAT(status.message(), HasSubstr(url));
}

TEST(HealthCheck, HttpProbeOfClosedPortFails) {
  Socket closed(/*listening=*/false);
  Status status = ProbeOnce(HttpProbe("http://127.0.0.1:" + std::to_string(closed.port()) + "/"));
  EXPECT_EQ(status.code(), Status::Code::kUnavailable);
  EXPECT_EQ(status.message(), "connection refused or host unreachable");
}

TEST(HealthCheck, MalformedUrlFailsAtOnce) {
  for (const std::string url : {"127.0.0.1:80/", "ftp://127.0.0.1/", "http:///path", ""}) {
    const auto start = steady_clock::now();
    Status status = WaitHealthy(HttpProbe(url, std::chrono::seconds(30)));
    EXPECT_EQ(status.code(), Status::Code::kFailedPrecondition) << url;
    EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(2)) << url;
  }
}

class HttpsHealthCheck : public ::testing::Test {
 protected:
  void SetUp() override {
    // The server certificate names only a DNS name: the probe goes to
    // 127.0.0.1 and must not check the name, only the CA.
    pki_ = testing::MakeTestPki(dir_.path(), "", {"service.example"}, {});
    ASSERT_FALSE(HasFailure());
    other_ = testing::MakeTestPki(dir_.path(), "other-", {"service.example"}, {});
    ASSERT_FALSE(HasFailure());
    auto ssl = std::make_unique<httplib::SSLServer>(pki_.cert_file.c_str(),
                                                    pki_.key_file.c_str());
    ASSERT_TRUE(ssl->is_valid());
    server_ = std::make_unique<TestServer>(std::move(ssl));
    ASSERT_GT(server_->port(), 0);
  }

  std::string Url(const std::string& path) const {
    return "https://127.0.0.1:" + std::to_string(server_->port()) + path;
  }

  TempDir dir_;
  testing::TestPkiFiles pki_;
  testing::TestPkiFiles other_;
  std::unique_ptr<TestServer> server_;
};

TEST_F(HttpsHealthCheck, TrustedCaIsHealthyWithoutNameCheck) {
  HealthProbe probe = HttpProbe(Url("/ok"));
  probe.https_ca_file = pki_.ca_file;
  Status status = WaitHealthy(probe);
  EXPECT_TRUE(status.ok()) << status.message();
}

TEST_F(HttpsHealthCheck, OtherCaIsRefused) {
  HealthProbe probe = HttpProbe(Url("/ok"), milliseconds(300));
  probe.https_ca_file = other_.ca_file;
  Status status = WaitHealthy(probe);
  EXPECT_EQ(status.code(), Status::Code::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("TLS handshake failed"));
  EXPECT_THAT(status.message(), HasSubstr(other_.ca_file.string()));
}

TEST_F(HttpsHealthCheck, UnhealthyStatusOverHttps) {
  HealthProbe probe = HttpProbe(Url("/down"));
  probe.https_ca_file = pki_.ca_file;
  Status status = ProbeOnce(probe);
  EXPECT_EQ(status.message(), "HTTP 503");
}

TEST_F(HttpsHealthCheck, MissingCaFileFails) {
  HealthProbe probe = HttpProbe(Url("/ok"), milliseconds(300));
  probe.https_ca_file = dir_.path() / "absent.pem";
  EXPECT_FALSE(WaitHealthy(probe).ok());
  probe.https_ca_file.clear();
  EXPECT_FALSE(WaitHealthy(probe).ok());
}

TEST(HealthCheck, CommandProbeExitZeroIsHealthy) {
  HealthProbe probe;
  probe.kind = HealthProbe::Kind::kCommand;
  probe.command.argv = {"/bin/true"};
  probe.command.timeout = std::chrono::seconds(5);
  probe.timeout = milliseconds(2000);
  Status status = WaitHealthy(probe);
  EXPECT_TRUE(status.ok()) << status.message();
}

TEST(HealthCheck, CommandProbeNonZeroExitIsUnhealthy) {
  HealthProbe probe;
  probe.kind = HealthProbe::Kind::kCommand;
  probe.command.argv = {"/bin/sh", "-c", "exit 3"};
  probe.command.timeout = std::chrono::seconds(5);
  probe.timeout = milliseconds(300);
  probe.interval = milliseconds(50);
  Status status = WaitHealthy(probe);
  EXPECT_EQ(status.code(), Status::Code::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("did not pass within 300ms"));
  EXPECT_THAT(status.message(), HasSubstr("3"));
}

TEST(HealthCheck, CommandAttemptDoesNotOutliveTheOverallTimeout) {
  HealthProbe probe;
  probe.kind = HealthProbe::Kind::kCommand;
  probe.command.argv = {"/bin/sleep", "30"};
  probe.command.timeout = std::chrono::seconds(60);
  probe.command.kill_grace = milliseconds(100);
  probe.timeout = milliseconds(300);
  const auto start = steady_clock::now();
  Status status = WaitHealthy(probe);
  EXPECT_EQ(status.code(), Status::Code::kFailedPrecondition);
  EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(3));
}

TEST(HealthCheck, CommandProbeMissingProgramFailsAtOnce) {
  HealthProbe probe;
  probe.kind = HealthProbe::Kind::kCommand;
  probe.command.argv = {"/nonexistent/topos-probe"};
  probe.timeout = std::chrono::seconds(30);
  const auto start = steady_clock::now();
  Status status = WaitHealthy(probe);
  EXPECT_FALSE(status.ok());
  EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(5));
}

}  // namespace
}  // namespace topos::agent
