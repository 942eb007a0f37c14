// A PKCS#10 certificate signing request: built on the host that owns the key,
// parsed (and its self-signature checked) on the controller.
//
// Invariant: every Csr's self-signature has been verified (proof that the
// requester holds the private key): FromPem verifies it and Create signs
// with the key itself. CertificateAuthority::Sign relies on this and does
// not verify it again, so the request behind native() must not be changed.
//
// Thread-safety: immutable after construction.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "certs/private_key.h"
#include "common/status.h"

struct X509_req_st;

namespace topos::certs {

class Csr {
 public:
  // Builds and signs a CSR with `key`. `dns_names` and `ip_addresses` become
  // subjectAltName entries; `common_name` the subject CN. Names are checked
  // for syntax (no empty names, no control characters, at most 253 bytes).
  static Result<Csr> Create(const PrivateKey& key, const std::string& common_name,
                            const std::vector<std::string>& dns_names,
                            const std::vector<std::string>& ip_addresses = {});
  // Parses PEM and verifies the CSR's own signature; a CSR whose signature
  // does not verify is refused ("CSR signature does not verify").
  static Result<Csr> FromPem(std::string_view pem);

  std::string ToPem() const;
  std::string common_name() const;
  std::vector<std::string> dns_names() const;
  std::vector<std::string> ip_addresses() const;
  std::string PublicKeyPem() const;

  // For certs/ internals; must not be modified (see the invariant above).
  X509_req_st* native() const { return req_.get(); }

 private:
  explicit Csr(X509_req_st* req);
  std::shared_ptr<X509_req_st> req_;
};

}  // namespace topos::certs
