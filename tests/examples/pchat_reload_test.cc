// topos-pchat's hot certificate reload: on SIGHUP it re-reads the
// certificate and key and every new TLS connection presents the new
// certificate, while clients keep making requests and none fails. A bad
// certificate or key keeps the old one.
#define CPPHTTPLIB_OPENSSL_SUPPORT
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <atomic>
#include <mutex>

#include "certs/certificate.h"
#include "certs/certificate_authority.h"
#include "certs/csr.h"
#include "certs/private_key.h"
#include "tests/agent/checks/test_pki.h"
#include "tests/examples/pchat_process.h"

namespace topos {
namespace {

using ::testing::HasSubstr;
using namespace topos::pchat_test;  // NOLINT: the shared test helpers

// A server certificate for localhost / 127.0.0.1 and its key, as PEM.
struct Pair {
  std::string cert_pem;
  std::string key_pem;
  std::string serial;
};

Pair Issue(const certs::CertificateAuthority& ca) {
  auto key = certs::PrivateKey::Generate();
  EXPECT_TRUE(key.ok());
  auto csr = certs::Csr::Create(*key, "pchat", {"localhost"}, {"127.0.0.1"});
  EXPECT_TRUE(csr.ok());
  certs::SigningPolicy policy;
  policy.common_name = "pchat";
  policy.allowed_dns_names = {"localhost"};
  policy.allowed_ip_addresses = {"127.0.0.1"};
  policy.usage = certs::Usage::kServer;
  auto cert = ca.Sign(*csr, policy);
  EXPECT_TRUE(cert.ok()) << cert.status().message();
  return {cert->ToPem(), key->ToPem(), cert->serial_hex()};
}

// Replaces `path` with a rename, as the agent writes certificate files.
void Replace(const std::filesystem::path& path, const std::string& text) {
  testing::WriteTextFile(path.string() + ".new", text);
  std::filesystem::rename(path.string() + ".new", path);
}

// Handshakes with 127.0.0.1:port verifying against `ca_file`; the serial of
// the certificate the server presented, "" (and why in *error) on failure.
std::string PeerSerial(int port, const std::filesystem::path& ca_file, std::string* error) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
  std::string serial;
  SSL* ssl = nullptr;
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    *error = "connect failed";
  } else {
    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) {
      *error = "handshake failed";
    } else if (X509* peer = SSL_get1_peer_certificate(ssl)) {
      BIO* bio = BIO_new(BIO_s_mem());
      PEM_write_bio_X509(bio, peer);
      char* data = nullptr;
      long size = BIO_get_mem_data(bio, &data);
      auto parsed = certs::Certificate::FromPem(std::string(data, static_cast<std::size_t>(size)));
      if (parsed.ok()) serial = parsed->serial_hex();
      BIO_free(bio);
      X509_free(peer);
    }
    SSL_shutdown(ssl);
    SSL_free(ssl);
  }
  close(fd);
  SSL_CTX_free(ctx);
  return serial;
}

// Makes HTTPS requests, each on a new connection (so each is a handshake),
// verifying the server against the CA, until stopped; counts the outcomes.
class RequestLoop {
 public:
  RequestLoop(int port, std::filesystem::path ca_file)
      : thread_([this, port, ca_file] {
          while (!stop_) {
            httplib::SSLClient client("127.0.0.1", port);
            client.set_ca_cert_path(ca_file.c_str());
            client.enable_server_certificate_verification(true);
            client.set_connection_timeout(2, 0);
            client.set_read_timeout(2, 0);
            auto response = client.Get("/healthz");
            if (response && response->status == 200) {
              ++succeeded_;
            } else {
              std::lock_guard lock(mutex_);
              failures_.push_back(response ? "status " + std::to_string(response->status)
                                           : httplib::to_string(response.error()));
            }
          }
        }) {}
  ~RequestLoop() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int succeeded() const { return succeeded_.load(); }
  std::vector<std::string> failures() {
    std::lock_guard lock(mutex_);
    return failures_;
  }
  // Waits until `more` further requests succeeded (or 5 s pass).
  bool WaitForMore(int more) {
    const int target = succeeded_ + more;
    const auto deadline = steady_clock::now() + kDeadline;
    while (succeeded_ < target && steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(5));
    }
    return succeeded_ >= target;
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> succeeded_{0};
  std::mutex mutex_;
  std::vector<std::string> failures_;
  std::thread thread_;
};

class PchatReload : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = certs::CertificateAuthority::Create("pchat reload test CA");
    ASSERT_TRUE(ca.ok());
    a_ = Issue(*ca);
    b_ = Issue(*ca);
    ASSERT_FALSE(HasFailure());
    ASSERT_NE(a_.serial, b_.serial);
    ca_file_ = dir_.path() / "ca.pem";
    cert_file_ = dir_.path() / "cert.pem";
    key_file_ = dir_.path() / "key.pem";
    testing::WriteTextFile(ca_file_, ca->certificate().ToPem());
    testing::WriteTextFile(cert_file_, a_.cert_pem);
    testing::WriteTextFile(key_file_, a_.key_pem);
  }

  std::vector<std::pair<std::string, std::string>> Env() const {
    return {{"TOPOS_TLS_CERT", cert_file_.string()},
            {"TOPOS_TLS_KEY", key_file_.string()},
            {"TOPOS_TLS_CA", ca_file_.string()},
            {"TOPOS_PCHAT_PORT", "0"}};
  }

  // Polls until new connections present `serial` (or 5 s pass).
  bool WaitForSerial(int port, const std::string& serial) {
    const auto deadline = steady_clock::now() + kDeadline;
    std::string error;
    while (steady_clock::now() < deadline) {
      if (PeerSerial(port, ca_file_, &error) == serial) return true;
      std::this_thread::sleep_for(milliseconds(10));
    }
    return false;
  }

  TempDir dir_;
  Pair a_;
  Pair b_;
  std::filesystem::path ca_file_, cert_file_, key_file_;
};

TEST_F(PchatReload, SighupSwapsTheCertificateWithoutFailingARequest) {
  PchatProcess pchat(dir_.path(), Env());
  int port = pchat.WaitForPort();
  ASSERT_GT(port, 0) << pchat.Stderr();
  std::string error;
  ASSERT_EQ(PeerSerial(port, ca_file_, &error), a_.serial) << error;

  RequestLoop clients(port, ca_file_);
  ASSERT_TRUE(clients.WaitForMore(10)) << "requests before the swap";
  // As assign_certificate does: key, then certificate, each with a rename; then the signal.
  Replace(key_file_, b_.key_pem);
  Replace(cert_file_, b_.cert_pem);
  pchat.Signal(SIGHUP);
  EXPECT_TRUE(WaitForSerial(port, b_.serial)) << "new connections present the new certificate";
  EXPECT_TRUE(clients.WaitForMore(10)) << "requests after the swap";
  clients.Stop();

  EXPECT_THAT(clients.failures(), ::testing::IsEmpty()) << "no request may fail during the swap";
  EXPECT_GE(clients.succeeded(), 20);
  EXPECT_TRUE(pchat.Running()) << "reloaded in place, not restarted";
  EXPECT_THAT(pchat.Stdout(), HasSubstr("certificate " + b_.serial + " in use for new connections"));
  pchat.Signal(SIGTERM);
  EXPECT_EQ(pchat.WaitExit(), std::optional<int>(0));
}

TEST_F(PchatReload, KeyNotMatchingTheCertificateKeepsTheOldPair) {
  PchatProcess pchat(dir_.path(), Env());
  int port = pchat.WaitForPort();
  ASSERT_GT(port, 0) << pchat.Stderr();

  Replace(key_file_, b_.key_pem);  // certificate A with key B: not a pair
  pchat.Signal(SIGHUP);
  const auto deadline = steady_clock::now() + kDeadline;
  while (pchat.Stderr().find("keeping certificate") == std::string::npos &&
         steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_THAT(pchat.Stderr(), HasSubstr("keeping certificate " + a_.serial));
  EXPECT_THAT(pchat.Stderr(), HasSubstr("does not match certificate " + cert_file_.string()));
  std::string error;
  EXPECT_EQ(PeerSerial(port, ca_file_, &error), a_.serial) << error;

  // A certificate file that is not PEM at all: the same.
  Replace(key_file_, a_.key_pem);
  Replace(cert_file_, "not a certificate\n");
  pchat.Signal(SIGHUP);
  const auto second = steady_clock::now() + kDeadline;
  while (pchat.Stderr().find("holds no PEM certificate") == std::string::npos &&
         steady_clock::now() < second) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_THAT(pchat.Stderr(), HasSubstr("TLS certificate " + cert_file_.string() +
                                        " holds no PEM certificate"));
  EXPECT_EQ(PeerSerial(port, ca_file_, &error), a_.serial) << error;

  // Fixed files are picked up by the next SIGHUP.
  Replace(cert_file_, b_.cert_pem);
  Replace(key_file_, b_.key_pem);
  pchat.Signal(SIGHUP);
  EXPECT_TRUE(WaitForSerial(port, b_.serial));
  EXPECT_TRUE(pchat.Running());
}

}  // namespace
}  // namespace topos
