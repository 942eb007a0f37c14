#include "controller/ca/controller_certificates.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <system_error>

#include "certs/csr.h"
#include "common/file_io.h"
#include "controller/ca/certificate_issuer.h"

namespace topos::controller {
namespace {

namespace fs = std::filesystem;

// True when `certificate` chains to `ca` for `usage` now.
bool SignedBy(const certs::Certificate& certificate, const certs::CertificateAuthority& ca,
              certs::Usage usage) {
  return certs::VerifyChain(certificate, {ca.certificate()}, {}, usage).ok();
}

Status Record(Store& store, const certs::Certificate& certificate, CertificatePurpose purpose) {
  Status stored = store.InsertCertificate(DescribeCertificate(certificate, purpose));
  if (stored.code() == Status::Code::kAlreadyExists) return Status::Ok();
  return stored;
}

}  // namespace

Status EnsureServerCertificate(const fs::path& server_dir, const certs::CertificateAuthority& ca,
                               Store& store, bool* reissued) {
  *reissued = false;
  const fs::path cert_path = server_dir / "cert.pem";
  const fs::path key_path = server_dir / "key.pem";
  auto cert_pem = ReadFile(cert_path);
  if (!cert_pem.ok()) return cert_pem.status().WithContext("the controller's server certificate");
  auto current = certs::Certificate::FromPem(*cert_pem);
  if (!current.ok()) return current.status().WithContext(cert_path.string());
  auto key_pem = ReadFile(key_path);
  auto key = key_pem.ok() ? certs::PrivateKey::FromPem(*key_pem)
                          : Result<certs::PrivateKey>(key_pem.status());
  if (key.ok() && current->MatchesKey(*key) && SignedBy(*current, ca, certs::Usage::kServer)) {
    return Status::Ok();
  }
  // Same names, a fresh key (of the same type when the old one is readable).
  auto fresh = certs::PrivateKey::Generate(key.ok() ? key->type() : certs::KeyType::kEcdsaP256);
  if (!fresh.ok()) return fresh.status();
  certs::SigningPolicy policy;
  policy.common_name = current->common_name();
  policy.organizational_unit = kControllerUnit;
  policy.allowed_dns_names = current->dns_names();
  policy.allowed_ip_addresses = current->ip_addresses();
  policy.usage = certs::Usage::kServer;
  policy.validity = policy.max_validity = std::chrono::hours(24 * 397);
  auto csr = certs::Csr::Create(*fresh, policy.common_name, policy.allowed_dns_names,
                                policy.allowed_ip_addresses);
  if (!csr.ok()) return csr.status().WithContext("a CSR for the server certificate");
  auto issued = ca.Sign(*csr, policy);
  if (!issued.ok()) return issued.status().WithContext("issuing the server certificate");
  // Recorded first: a certificate in use is always in the inventory.
  TOPOS_RETURN_IF_ERROR(Record(store, *issued, CertificatePurpose::kControllerServer));
  // Key first, certificate last (see MakeReloadingServerCredentials).
  TOPOS_RETURN_IF_ERROR(WriteFileAtomically(key_path, fresh->ToPem(), 0600));
  TOPOS_RETURN_IF_ERROR(WriteFileAtomically(cert_path, issued->ToPem(), 0644));
  spdlog::info("controller server certificate reissued by {} (serial {})",
               ca.certificate().common_name(), issued->serial_hex());
  *reissued = true;
  return Status::Ok();
}

Status EnsureOperatorCertificate(const fs::path& admin_dir, const certs::CertificateAuthority& ca,
                                 Store& store, bool* reissued) {
  *reissued = false;
  std::error_code ec;
  if (!fs::exists(admin_dir / "key.pem", ec)) return Status::Ok();
  auto key_pem = ReadFile(admin_dir / "key.pem");
  if (!key_pem.ok()) return key_pem.status();
  auto key = certs::PrivateKey::FromPem(*key_pem);
  if (!key.ok()) return key.status().WithContext((admin_dir / "key.pem").string());
  auto cert_pem = ReadFile(admin_dir / "cert.pem");
  if (!cert_pem.ok()) return cert_pem.status();
  auto current = certs::Certificate::FromPem(*cert_pem);
  if (!current.ok()) return current.status().WithContext((admin_dir / "cert.pem").string());
  if (current->MatchesKey(*key) && SignedBy(*current, ca, certs::Usage::kClient)) {
    return Status::Ok();
  }
  certs::SigningPolicy policy;
  policy.common_name = current->common_name();
  policy.organizational_unit = kOperatorUnit;
  policy.usage = certs::Usage::kClient;
  policy.validity = policy.max_validity = std::chrono::hours(24 * 365);
  auto csr = certs::Csr::Create(*key, policy.common_name, {});
  if (!csr.ok()) return csr.status().WithContext("a CSR for the operator certificate");
  auto issued = ca.Sign(*csr, policy);
  if (!issued.ok()) return issued.status().WithContext("issuing the operator certificate");
  TOPOS_RETURN_IF_ERROR(Record(store, *issued, CertificatePurpose::kOperator));
  TOPOS_RETURN_IF_ERROR(WriteFileAtomically(admin_dir / "cert.pem", issued->ToPem(), 0644));
  spdlog::info("operator certificate {} in {} reissued by {} (serial {})", policy.common_name,
               admin_dir.string(), ca.certificate().common_name(), issued->serial_hex());
  *reissued = true;
  return Status::Ok();
}

Status WriteOperatorBundle(const fs::path& admin_dir, const std::string& bundle_pem) {
  std::error_code ec;
  if (!fs::is_directory(admin_dir, ec)) return Status::Ok();
  auto current = ReadFile(admin_dir / "ca.pem");
  if (current.ok() && *current == bundle_pem) return Status::Ok();
  return WriteFileAtomically(admin_dir / "ca.pem", bundle_pem, 0644);
}

}  // namespace topos::controller
