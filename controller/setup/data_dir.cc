#include "controller/setup/data_dir.h"

#include <fstream>
#include <sstream>

#include "common/file_io.h"
#include "common/text.h"
#include "controller/ca/certificate_issuer.h"
#include "controller/store/sqlite_store.h"

namespace topos::controller {
namespace {

namespace fs = std::filesystem;

bool LooksLikeIp(const std::string& name) {
  return name.find(':') != std::string::npos ||
         name.find_first_not_of("0123456789.") == std::string::npos;
}

Result<certs::Certificate> IssueWithKey(const certs::CertificateAuthority& ca,
                                        const certs::PrivateKey& key,
                                        const certs::SigningPolicy& policy) {
  auto csr = certs::Csr::Create(key, policy.common_name, policy.allowed_dns_names,
                                policy.allowed_ip_addresses);
  if (!csr.ok()) return csr.status();
  return ca.Sign(*csr, policy);
}

Status Populate(const InitOptions& options) {
  const fs::path& dir = options.data_dir;
  TOPOS_RETURN_IF_ERROR(EnsurePrivateDirectory(dir));
  TOPOS_RETURN_IF_ERROR(EnsurePrivateDirectory(dir / "ca"));
  TOPOS_RETURN_IF_ERROR(EnsurePrivateDirectory(dir / "server"));

  auto ca = certs::CertificateAuthority::Create("Topos CA " + options.name, options.key_type);
  if (!ca.ok()) return ca.status().WithContext("creating the CA");
  TOPOS_RETURN_IF_ERROR(WriteFileAtomically(dir / "ca" / "ca.pem", ca->certificate().ToPem()));
  TOPOS_RETURN_IF_ERROR(WriteFileAtomically(dir / "ca" / "ca.key", ca->key().ToPem(), 0600));
  auto keyring = CaKeyring::Load(dir / "ca");  // writes bundle.pem
  if (!keyring.ok()) return keyring.status();

  // The server certificate: the controller's name plus the loopback names, so
  // local agents and toposctl can verify it without name overrides.
  certs::SigningPolicy server;
  server.common_name = options.name;
  server.organizational_unit = kControllerUnit;
  server.allowed_dns_names = {options.name, "localhost"};
  server.allowed_ip_addresses = {"127.0.0.1"};
  for (const auto& san : options.extra_sans) {
    (LooksLikeIp(san) ? server.allowed_ip_addresses : server.allowed_dns_names).push_back(san);
  }
  server.usage = certs::Usage::kServer;
  server.validity = server.max_validity = std::chrono::hours(24 * 397);
  auto server_key = certs::PrivateKey::Generate(options.key_type);
  if (!server_key.ok()) return server_key.status();
  auto server_cert = IssueWithKey(*ca, *server_key, server);
  if (!server_cert.ok()) return server_cert.status().WithContext("issuing the server certificate");
  TOPOS_RETURN_IF_ERROR(WriteFileAtomically(dir / "server" / "cert.pem", server_cert->ToPem()));
  TOPOS_RETURN_IF_ERROR(WriteFileAtomically(dir / "server" / "key.pem", server_key->ToPem(), 0600));

  certs::SigningPolicy admin;
  admin.common_name = kFirstOperator;
  admin.organizational_unit = kOperatorUnit;
  admin.usage = certs::Usage::kClient;
  admin.validity = admin.max_validity = std::chrono::hours(24 * 365);
  auto admin_key = certs::PrivateKey::Generate(options.key_type);
  if (!admin_key.ok()) return admin_key.status();
  auto admin_cert = IssueWithKey(*ca, *admin_key, admin);
  if (!admin_cert.ok()) return admin_cert.status().WithContext("issuing the operator certificate");
  TOPOS_RETURN_IF_ERROR(WriteCredentials(dir / "admin", ca->certificate().ToPem(),
                                         admin_cert->ToPem(), admin_key->ToPem()));

  auto store = SqliteStore::Open(dir / "topos.db");
  if (!store.ok()) return store.status();
  TOPOS_RETURN_IF_ERROR((*store)->InsertCertificate(
      DescribeCertificate(*server_cert, CertificatePurpose::kControllerServer)));
  TOPOS_RETURN_IF_ERROR((*store)->InsertCertificate(
      DescribeCertificate(*admin_cert, CertificatePurpose::kOperator)));
  TOPOS_RETURN_IF_ERROR((*store)->UpsertOperator(
      kFirstOperator, {"topology-admin", "deployer", "ca-admin", "chat-admin", "user-admin", "viewer"}));

  std::ostringstream conf;
  conf << "# topos-controller configuration, written by `topos-controller init`\n"
       << "name = " << options.name << "\n"
       << "listen = " << options.listen << "\n";
  return WriteFileAtomically(dir / "controller.conf", conf.str());
}

Result<std::string> ReadConfValue(const std::string& conf, const std::string& key,
                                  const fs::path& path) {
  std::istringstream in(conf);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    auto trim = [](std::string s) {
      s.erase(0, s.find_first_not_of(" \t"));
      s.erase(s.find_last_not_of(" \t\r") + 1);
      return s;
    };
    if (trim(line.substr(0, eq)) == key) return trim(line.substr(eq + 1));
  }
  return Status::InvalidArgument(path.string() + ": missing \"" + key + " = ...\"");
}

}  // namespace

Status WriteCredentials(const fs::path& dir, const std::string& ca_pem,
                        const std::string& cert_pem, const std::string& key_pem) {
  TOPOS_RETURN_IF_ERROR(EnsurePrivateDirectory(dir));
  TOPOS_RETURN_IF_ERROR(WriteFileAtomically(dir / "ca.pem", ca_pem));
  TOPOS_RETURN_IF_ERROR(WriteFileAtomically(dir / "cert.pem", cert_pem));
  return WriteFileAtomically(dir / "key.pem", key_pem, 0600);
}

Status InitDataDir(const InitOptions& options) {
  TOPOS_RETURN_IF_ERROR(CheckFqdn(options.name).WithContext("--name"));
  TOPOS_RETURN_IF_ERROR(CheckHostPort(options.listen, true).WithContext("--listen"));
  std::error_code ec;
  if (fs::exists(options.data_dir, ec) && !fs::is_empty(options.data_dir, ec)) {
    return Status::AlreadyExists(options.data_dir.string() +
                                 " already exists and is not empty; refusing to overwrite it "
                                 "(choose another --data-dir or remove it yourself)");
  }
  bool existed = fs::exists(options.data_dir, ec);
  Status status = Populate(options);
  if (!status.ok()) {
    // Leave nothing half-made: a later init must be able to start clean.
    if (existed) {
      for (const auto& entry : fs::directory_iterator(options.data_dir, ec)) {
        fs::remove_all(entry.path(), ec);
      }
    } else {
      fs::remove_all(options.data_dir, ec);
    }
  }
  return status;
}

Result<DataDir> LoadDataDir(const fs::path& root) {
  if (!fs::is_directory(root)) {
    return Status::NotFound(root.string() +
                            " is not a data directory (create one with `topos-controller init`)");
  }
  auto conf = ReadFile(root / "controller.conf");
  if (!conf.ok()) return conf.status();
  auto name = ReadConfValue(*conf, "name", root / "controller.conf");
  if (!name.ok()) return name.status();
  auto listen = ReadConfValue(*conf, "listen", root / "controller.conf");
  if (!listen.ok()) return listen.status();

  auto keyring = CaKeyring::Load(root / "ca");
  if (!keyring.ok()) return keyring.status();
  auto cert = ReadFile(root / "server" / "cert.pem");
  if (!cert.ok()) return cert.status();
  auto key = ReadFile(root / "server" / "key.pem");
  if (!key.ok()) return key.status();

  std::shared_ptr<CaKeyring> shared = std::move(keyring).value();
  DataDir data{root, *name, *listen, *shared->signing(),
               TlsIdentity{shared->BundlePem(), *cert, *key}, shared};
  return data;
}

}  // namespace topos::controller
