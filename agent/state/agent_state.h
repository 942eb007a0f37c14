// The agent's state directory:
//
//   DIR/agent.conf          controller address and this host's FQDN
//   DIR/identity/ca.pem     the pinned CA bundle
//   DIR/identity/cert.pem   this host's identity certificate
//   DIR/identity/key.pem    its private key (0600; never leaves the host)
//
// Renewal writes the new key and certificate as *.next.pem first, then
// renames them into place; Load() finishes an interrupted swap, so a crash
// never leaves a certificate that does not match its key.
#pragma once

#include <filesystem>
#include <string>

#include "common/grpc_tls.h"
#include "common/status.h"

namespace topos::agent {

struct AgentState {
  std::string controller;  // HOST:PORT
  std::string host_fqdn;
  TlsIdentity identity;
};

class StateDir {
 public:
  explicit StateDir(std::filesystem::path root) : root_(std::move(root)) {}

  bool IsEnrolled() const;
  // NotFound ("not enrolled yet ...") if the directory holds no identity.
  Result<AgentState> Load() const;
  // Writes a fresh enrollment (key 0600).
  Status Save(const AgentState& state) const;
  // Replaces the identity certificate and key after a renewal.
  Status ReplaceIdentity(const std::string& certificate_pem, const std::string& key_pem,
                         const std::string& ca_bundle_pem) const;

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path key_path() const { return root_ / "identity" / "key.pem"; }
  std::filesystem::path certificate_path() const { return root_ / "identity" / "cert.pem"; }

 private:
  std::filesystem::path root_;
};

}  // namespace topos::agent
