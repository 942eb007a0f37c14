#include "agent/link/trust_files.h"

#include "certs/certificate.h"
#include "certs/crl.h"
#include "certs/crypto.h"
#include "common/file_io.h"
#include "topos/v1/agent.pb.h"

namespace topos::agent {

std::string TrustGenerationOf(const std::string& ca_bundle_pem, const std::string& crl_pem) {
  return certs::Sha256Hex(ca_bundle_pem + crl_pem);
}

Status TrustFiles::Validate(const topos::v1::TrustUpdate& update) {
  const std::string& bundle_pem = update.ca_bundle_pem();
  if (bundle_pem.empty()) return Status::InvalidArgument("trust update: the CA bundle is empty");
  if (bundle_pem.size() > kMaxTrustBundleBytes) {
    return Status::InvalidArgument("trust update: the CA bundle is " +
                                   std::to_string(bundle_pem.size()) +
                                   " bytes, over the 64 KiB limit");
  }
  auto bundle = certs::Certificate::BundleFromPem(bundle_pem);
  if (!bundle.ok()) {
    return Status::InvalidArgument("trust update: the CA bundle does not parse: " +
                                   bundle.status().message());
  }
  if (bundle->empty()) {
    return Status::InvalidArgument("trust update: the CA bundle holds no certificate");
  }
  for (const certs::Certificate& certificate : *bundle) {
    if (!certificate.is_ca()) {
      return Status::InvalidArgument("trust update: the CA bundle holds \"" +
                                     certificate.common_name() + "\" (serial " +
                                     certificate.serial_hex() + "), which is not a CA");
    }
  }
  const std::string& crl_pem = update.crl_pem();
  if (crl_pem.size() > kMaxTrustCrlBytes) {
    return Status::InvalidArgument("trust update: the CRL is " + std::to_string(crl_pem.size()) +
                                   " bytes, over the 4 MiB limit");
  }
  if (!crl_pem.empty()) {
    auto crl = certs::ParseCrl(crl_pem);
    if (!crl.ok()) {
      return Status::InvalidArgument("trust update: the CRL does not parse: " +
                                     crl.status().message());
    }
  }
  std::string expected = TrustGenerationOf(bundle_pem, crl_pem);
  if (update.generation() != expected) {
    return Status::InvalidArgument("trust update: generation \"" +
                                   update.generation().substr(0, 80) +
                                   "\" is not the SHA-256 of the bundle and CRL (" + expected +
                                   ")");
  }
  return Status::Ok();
}

Status TrustFiles::Apply(const topos::v1::TrustUpdate& update) const {
  TOPOS_RETURN_IF_ERROR(Validate(update));
  TOPOS_RETURN_IF_ERROR(EnsurePrivateDirectory(state_dir_ / "identity"));
  TOPOS_RETURN_IF_ERROR(EnsurePrivateDirectory(trust_dir()));
  TOPOS_RETURN_IF_ERROR(WriteFileAtomically(identity_bundle_path(), update.ca_bundle_pem(), 0644));
  TOPOS_RETURN_IF_ERROR(WriteFileAtomically(bundle_path(), update.ca_bundle_pem(), 0644));
  TOPOS_RETURN_IF_ERROR(WriteFileAtomically(crl_path(), update.crl_pem(), 0644));
  return WriteFileAtomically(generation_path(), update.generation() + "\n", 0644);
}

std::string TrustFiles::Generation() const {
  std::error_code ec;
  if (!std::filesystem::exists(generation_path(), ec)) return "";
  auto text = ReadFile(generation_path(), 256);
  if (!text.ok()) return "";
  std::string generation = *text;
  while (!generation.empty() && (generation.back() == '\n' || generation.back() == '\r')) {
    generation.pop_back();
  }
  return generation;
}

}  // namespace topos::agent
