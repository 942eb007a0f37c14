// The pchat example service: a small HTTPS server that a Topos agent installs,
// starts and health-checks. It serves
//   GET /         one line greeting the host FQDN from the store snapshot
//   GET /healthz  200 "ok version N" (N: the snapshot's config version, 0 if none)
//   GET /settings the snapshot's effective settings as JSON (404 without snapshot)
// The snapshot is the agent's current.json (a protobuf-JSON HostConfig). It is
// read at start and again on ReloadSnapshot() (the binary calls it on SIGHUP).
// The TLS certificate and key are read at start and again on
// ReloadCertificate() (also on SIGHUP): every TLS connection accepted after
// that presents the new certificate, without closing the listener or the
// connections already open. Each handshake picks the current pair in
// OpenSSL's certificate callback, so the shared SSL_CTX is never changed
// while handshakes run.
//
// Thread-safety: Serve() blocks the calling thread; Stop(), ReloadSnapshot()
// and ReloadCertificate() may be called from any other thread. Request
// handlers run on httplib's worker threads and read the snapshot, and
// handshakes the certificate, under mutexes.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "common/status.h"
#include "topos/v1/topology.pb.h"

struct ssl_st;  // OpenSSL's SSL

namespace httplib {
class SSLServer;
}

namespace topos::pchat {

struct PchatOptions {
  std::filesystem::path cert_file;  // PEM certificate (chain) the server presents
  std::filesystem::path key_file;   // its PEM private key
  std::string listen_address = "127.0.0.1";
  int port = 5041;                  // 0: any free port (see port())
  std::filesystem::path snapshot_file;  // empty: no snapshot
};

// Reads a store snapshot. NotFound if the file does not exist; InvalidArgument
// naming the file if it is not a HostConfig in protobuf JSON.
Result<topos::v1::HostConfig> LoadSnapshot(const std::filesystem::path& file);

class PchatServer {
 public:
  // Loads the certificate, key and snapshot (a missing snapshot file is not an
  // error) and binds the listening socket. FailedPrecondition naming the file
  // when the certificate or key cannot be used; Unavailable when the address
  // cannot be bound; InvalidArgument for a malformed snapshot.
  static Result<std::unique_ptr<PchatServer>> Create(const PchatOptions& options);
  ~PchatServer();

  PchatServer(const PchatServer&) = delete;
  PchatServer& operator=(const PchatServer&) = delete;

  // The bound port (the chosen one when options.port was 0).
  int port() const { return port_; }
  // The snapshot's config version, 0 without a snapshot.
  std::uint64_t config_version() const;
  std::string host_fqdn() const;

  // Accepts connections until Stop(). Returns OK after Stop(), Internal if
  // the accept loop failed on its own.
  Status Serve();
  // Makes Serve() return and waits until it has; safe before Serve() starts
  // (Serve() then returns at once) and to call repeatedly.
  void Stop();
  bool running() const;

  // Re-reads the snapshot; on error the previous one stays in effect.
  Status ReloadSnapshot();

  // Re-reads the certificate (chain) and key files for new connections. On
  // error (unreadable, not PEM, key does not match) the previous pair stays
  // in effect and the status names the file and the reason.
  Status ReloadCertificate();
  // The serial number (lowercase hex) of the certificate new connections get.
  std::string certificate_serial() const;

  struct TlsCredentials;  // a parsed certificate chain and key (OpenSSL objects)

 private:
  PchatServer(PchatOptions options, std::unique_ptr<httplib::SSLServer> server);
  void InstallRoutes();
  // The pair the next handshake presents; never null after Create().
  std::shared_ptr<const TlsCredentials> credentials() const;
  // OpenSSL's certificate callback (SSL_CTX_set_cert_cb); `arg` is the server.
  static int SelectCertificate(::ssl_st* ssl, void* arg);

  // Constant after construction.
  const PchatOptions options_;
  std::unique_ptr<httplib::SSLServer> server_;
  int port_ = 0;

  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> serving_{false};

  mutable std::mutex mu_;
  bool has_snapshot_ = false;              // guarded by mu_
  topos::v1::HostConfig snapshot_;         // guarded by mu_

  mutable std::mutex tls_mu_;
  std::shared_ptr<const TlsCredentials> credentials_;  // guarded by tls_mu_
};

}  // namespace topos::pchat
