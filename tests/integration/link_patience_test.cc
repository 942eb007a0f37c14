// The agent's link while a controller is slow to accept its stream: it
// waits without burning CPU (ten thousand agents reconnecting to a loaded
// controller must not turn into ten thousand spinning threads).
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "tests/integration/fleet_fixture.h"

namespace topos::testing {
namespace {

constexpr char kHost[] = "chat01.contoso.test";

double ProcessCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// Listens on `port`, accepts connections and holds them open but never
// answers, like a controller too busy to finish a TLS handshake.
class SilentListener {
 public:
  explicit SilentListener(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    bound_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
             ::listen(fd_, 16) == 0;
    if (bound_) acceptor_ = std::thread([this] { AcceptUntilStopped(); });
  }
  ~SilentListener() {
    stop_ = true;
    if (acceptor_.joinable()) acceptor_.join();
    for (int held : held_) ::close(held);
    ::close(fd_);
  }
  bool bound() const { return bound_; }
  int accepted() const { return accepted_; }

 private:
  void AcceptUntilStopped() {
    while (!stop_) {
      pollfd ready{fd_, POLLIN, 0};
      if (::poll(&ready, 1, 100) != 1) continue;
      int connection = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (connection < 0) continue;
      held_.push_back(connection);  // only this thread touches held_ until the join
      ++accepted_;
    }
  }

  int fd_ = -1;
  bool bound_ = false;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::vector<int> held_;
  std::thread acceptor_;
};

TEST_F(FleetTest, LinkWaitingForAnUnansweredHandshakeDoesNotSpin) {
  ASSERT_TRUE(EnrollHost(kHost).ok());
  StopController();
  SilentListener listener(port_);
  ASSERT_TRUE(listener.bound());
  auto options = FastLink();  // heartbeat every second: due long before the stream is accepted
  auto link = StartLink(kHost, options);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));  // a heartbeat falls due
  double before = ProcessCpuSeconds();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  double used = ProcessCpuSeconds() - before;
  EXPECT_FALSE(link->connected());
  // Waiting costs about 1 ms of CPU here; the spinning loop this guards
  // against took 0.4 s.
  EXPECT_LT(used, 0.1) << "the link used " << used << " s of CPU in 2 s while waiting";
  link->Stop();
  link->Wait();
}

// In a reconnect storm a controller works through thousands of handshakes;
// an agent that gives up on its half-done one (gRPC's default: after 20 s)
// wastes the controller's work on it and queues another. The link waits as
// long as the controller's own handshake timeout instead.
TEST_F(FleetTest, LinkKeepsWaitingForAHandshakeTheControllerIsSlowToAnswer) {
  ASSERT_TRUE(EnrollHost(kHost).ok());
  StopController();
  SilentListener listener(port_);
  ASSERT_TRUE(listener.bound());
  auto link = StartLink(kHost, FastLink());
  std::this_thread::sleep_for(std::chrono::seconds(25));
  EXPECT_FALSE(link->connected());
  EXPECT_EQ(listener.accepted(), 1) << "the link abandoned its unanswered handshake and retried";
  link->Stop();
  link->Wait();
}

}  // namespace
}  // namespace topos::testing
