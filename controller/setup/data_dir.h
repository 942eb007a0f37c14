// The controller's data directory: created once by `topos-controller init`,
// loaded by `topos-controller run`.
//
//   DIR/controller.conf     name and listen address (key = value lines)
//   DIR/ca/ca.pem, ca.key   the CA that signs (key 0600)
//   DIR/ca/bundle.pem       every CA trusted now; next.*, previous.* during
//                           a CA rotation (see controller/ca/ca_keyring.h)
//   DIR/server/cert.pem, key.pem   the controller's TLS server identity,
//                           re-read by the running server when they change
//   DIR/admin/ca.pem, cert.pem, key.pem   the first operator's credential
//   DIR/topos.db            the SQLite store
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "certs/certificate_authority.h"
#include "certs/private_key.h"
#include "controller/ca/ca_keyring.h"
#include "common/grpc_tls.h"
#include "common/status.h"

namespace topos::controller {

inline constexpr char kDefaultListen[] = "0.0.0.0:7443";
inline constexpr char kFirstOperator[] = "admin";

struct InitOptions {
  std::filesystem::path data_dir;
  std::string name;                        // the controller's FQDN
  std::string listen = kDefaultListen;     // HOST:PORT to serve on
  std::vector<std::string> extra_sans;     // more DNS names or IPs for the server cert
  certs::KeyType key_type = certs::KeyType::kEcdsaP256;
};

// Creates the data directory. Refuses (AlreadyExists) if DIR exists and is
// not empty, so an existing CA is never overwritten. On failure removes
// what it created.
Status InitDataDir(const InitOptions& options);

struct DataDir {
  std::filesystem::path root;
  std::string name;
  std::string listen;
  certs::CertificateAuthority ca;  // the signing CA when loaded
  TlsIdentity server_identity;     // as loaded; ca_bundle_pem is the bundle
  std::shared_ptr<CaKeyring> keyring;  // the CAs, as they change

  std::filesystem::path database_path() const { return root / "topos.db"; }
  std::filesystem::path server_cert_path() const { return root / "server" / "cert.pem"; }
  std::filesystem::path server_key_path() const { return root / "server" / "key.pem"; }
  std::filesystem::path bundle_path() const { return root / "ca" / "bundle.pem"; }
  std::filesystem::path admin_dir() const { return root / "admin"; }
};

// Loads a data directory made by InitDataDir (or by an older version,
// without ca/bundle.pem: it is written); repairs a CA step a crash left
// half-done (CaKeyring::Load). Errors name the missing or broken file.
Result<DataDir> LoadDataDir(const std::filesystem::path& root);

// Writes a credential directory (ca.pem, cert.pem, key.pem 0600).
Status WriteCredentials(const std::filesystem::path& dir, const std::string& ca_pem,
                        const std::string& cert_pem, const std::string& key_pem);

}  // namespace topos::controller
