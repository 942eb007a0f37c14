#include "agent/checks/health_check.h"

// The distribution's cpp-httplib is a compiled library built with OpenSSL:
// its declarations must be seen with the same setting.
#define CPPHTTPLIB_OPENSSL_SUPPORT
#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <string>
#include <thread>

namespace topos::agent {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr milliseconds kTcpConnectTimeout{1000};
constexpr std::time_t kHttpTimeoutSeconds = 2;

std::string DescribeProbe(const HealthProbe& probe) {
  switch (probe.kind) {
    case HealthProbe::Kind::kNone:
      return "none";
    case HealthProbe::Kind::kTcp:
      return "tcp:" + std::to_string(probe.tcp_port);
    case HealthProbe::Kind::kHttp:
      return probe.http_url;
    case HealthProbe::Kind::kCommand: {
      std::string text = "command:";
      for (const std::string& arg : probe.command.argv) text += " " + arg;
      return text;
    }
  }
  return "unknown";
}

// "30s" for whole seconds, "500ms" otherwise.
std::string DescribeDuration(milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
  return std::to_string(d.count()) + "ms";
}

Status ProbeTcp(int port) {
  if (port < 1 || port > 65535) {
    return Status::InvalidArgument("tcp port " + std::to_string(port) + " is out of range");
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Status::Internal(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  int rc = connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  int err = rc == 0 ? 0 : errno;
  if (rc != 0 && err == EINPROGRESS) {
    pollfd pfd{fd, POLLOUT, 0};
    int ready;
    do {
      ready = poll(&pfd, 1, static_cast<int>(kTcpConnectTimeout.count()));
    } while (ready < 0 && errno == EINTR);
    if (ready == 0) {
      close(fd);
      return Status::Unavailable("connect timed out after " +
                                 DescribeDuration(kTcpConnectTimeout));
    }
    socklen_t len = sizeof(err);
    if (ready < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  }
  close(fd);
  if (err != 0) {
    std::string reason = std::strerror(err);  // "Connection refused" -> "connection refused"
    if (!reason.empty()) reason[0] = static_cast<char>(std::tolower(reason[0]));
    return Status::Unavailable(reason);
  }
  return Status::Ok();
}

// Splits "https://host:port/path?q" into "https://host:port" and "/path?q".
bool SplitUrl(const std::string& url, std::string* base, std::string* path) {
  std::size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return false;
  std::string scheme = url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") return false;
  std::size_t path_start = url.find('/', scheme_end + 3);
  if (path_start == scheme_end + 3) return false;  // no host
  *base = url.substr(0, path_start);
  *path = path_start == std::string::npos ? "/" : url.substr(path_start);
  return base->size() > scheme_end + 3;
}

// A sentence for httplib's terse error names ("SSLConnection").
std::string DescribeHttpError(httplib::Error error, const HealthProbe& probe) {
  const std::string timeout = std::to_string(kHttpTimeoutSeconds) + "s";
  switch (error) {
    case httplib::Error::Connection:
      return "connection refused or host unreachable";
    case httplib::Error::ConnectionTimeout:
      return "connect timed out after " + timeout;
    case httplib::Error::Read:
      return "no complete response within " + timeout;
    case httplib::Error::Write:
      return "cannot send the request";
    case httplib::Error::SSLConnection:
      return "TLS handshake failed (is " + probe.https_ca_file.string() +
             " the CA that issued the service's certificate?)";
    default:
      return "request failed: " + httplib::to_string(error);
  }
}

Status ProbeHttp(const HealthProbe& probe) {
  std::string base;
  std::string path;
  if (!SplitUrl(probe.http_url, &base, &path)) {
    return Status::InvalidArgument("health check URL \"" + probe.http_url +
                                   "\" is not http://host[:port]/path or https://...");
  }
  const bool https = base.rfind("https://", 0) == 0;
  httplib::Client client(base);
  if (!client.is_valid()) {
    return Status::InvalidArgument("health check URL \"" + probe.http_url + "\" is not usable");
  }
  client.set_connection_timeout(kHttpTimeoutSeconds, 0);
  client.set_read_timeout(kHttpTimeoutSeconds, 0);
  client.set_write_timeout(kHttpTimeoutSeconds, 0);
  if (https) {
    // httplib 0.11 checks the host name whenever it verifies. The contract is
    // "trust the CA, do not check the name", so httplib's own check is off
    // and OpenSSL verifies the chain against the CA during the handshake.
    client.enable_server_certificate_verification(false);
    SSL_CTX* ctx = client.ssl_context();
    if (ctx == nullptr) return Status::Internal("no TLS context for " + base);
    if (probe.https_ca_file.empty()) {
      return Status::InvalidArgument("https health check " + probe.http_url +
                                     " needs a CA file to trust");
    }
    if (SSL_CTX_load_verify_locations(ctx, probe.https_ca_file.c_str(), nullptr) != 1) {
      return Status::FailedPrecondition("cannot load CA file " + probe.https_ca_file.string());
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  }
  httplib::Result response = client.Get(path);
  if (!response) {
    return Status::Unavailable(DescribeHttpError(response.error(), probe));
  }
  if (response->status < 200 || response->status > 299) {
    return Status::Unavailable("HTTP " + std::to_string(response->status));
  }
  return Status::Ok();
}

Status ProbeCommand(const HealthProbe& probe) {
  Result<CommandResult> result = RunCommand(probe.command);
  if (!result.ok()) return result.status();
  if (!result->succeeded()) return Status::Unavailable(result->Describe());
  return Status::Ok();
}

}  // namespace

Status ProbeOnce(const HealthProbe& probe) {
  switch (probe.kind) {
    case HealthProbe::Kind::kNone:
      return Status::Ok();
    case HealthProbe::Kind::kTcp:
      return ProbeTcp(probe.tcp_port);
    case HealthProbe::Kind::kHttp:
      return ProbeHttp(probe);
    case HealthProbe::Kind::kCommand:
      return ProbeCommand(probe);
  }
  return Status::InvalidArgument("unknown health probe kind");
}

Status WaitHealthy(const HealthProbe& probe, const std::function<bool()>& still_running,
                   const std::atomic<bool>* cancel) {
  if (probe.kind == HealthProbe::Kind::kNone) return Status::Ok();
  const steady_clock::time_point deadline = steady_clock::now() + probe.timeout;
  const std::string prefix = "health check " + DescribeProbe(probe);
  const milliseconds interval = std::max(probe.interval, milliseconds(1));
  HealthProbe attempt = probe;
  while (true) {
    // A command attempt never runs past the overall deadline.
    if (probe.kind == HealthProbe::Kind::kCommand) {
      const auto remaining = std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now());
      attempt.command.timeout =
          std::clamp(remaining, milliseconds(1), std::max(probe.command.timeout, milliseconds(1)));
    }
    Status last = ProbeOnce(attempt);
    if (last.ok()) return last;
    // A probe that can never pass (bad URL, unknown program) fails at once.
    if (last.code() == Status::Code::kInvalidArgument ||
        last.code() == Status::Code::kNotFound) {
      return Status::FailedPrecondition(prefix + " cannot run: " + last.message());
    }
    if (still_running && !still_running()) {
      return Status::FailedPrecondition(prefix + " did not pass: service exited before its " +
                                        "health check passed (last attempt: " + last.message() +
                                        ")");
    }
    if (cancel != nullptr && cancel->load()) {
      return Status::FailedPrecondition(prefix + " cancelled: " + last.message());
    }
    if (steady_clock::now() >= deadline) {
      return Status::FailedPrecondition(prefix + " did not pass within " +
                                        DescribeDuration(probe.timeout) + ": " + last.message());
    }
    // Sleep one interval, in short slices so that a cancel or a death is
    // noticed promptly, never past the deadline.
    const steady_clock::time_point wake = std::min(steady_clock::now() + interval, deadline);
    while (steady_clock::now() < wake) {
      if (cancel != nullptr && cancel->load()) break;
      std::this_thread::sleep_for(
          std::min<steady_clock::duration>(milliseconds(20), wake - steady_clock::now()));
    }
  }
}

}  // namespace topos::agent
