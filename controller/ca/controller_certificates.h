// The controller's own certificates in its data directory, kept signed by
// the CA that signs now (a CA rotation switches it):
//   DIR/server/cert.pem + key.pem   the TLS server identity: reissued with a
//       new key and the same names when it does not chain to the signing CA
//       or does not match its key; the running server re-reads the files.
//   DIR/admin/cert.pem              the first operator's certificate:
//       reissued for the existing DIR/admin/key.pem, same subject.
// Each new certificate is recorded in the Store. Both calls do nothing when
// the certificate is already good, so they can be repeated after a crash.
//
// Thread-safety: plain functions; callers serialize calls on one data dir.
#pragma once

#include <filesystem>
#include <string>

#include "certs/certificate_authority.h"
#include "common/status.h"
#include "controller/store/store.h"

namespace topos::controller {

// Returns true (in `*reissued`) when a new certificate was written.
Status EnsureServerCertificate(const std::filesystem::path& server_dir,
                               const certs::CertificateAuthority& ca, Store& store,
                               bool* reissued);
// A missing DIR/admin (an operator removed it) is left alone: OK.
Status EnsureOperatorCertificate(const std::filesystem::path& admin_dir,
                                 const certs::CertificateAuthority& ca, Store& store,
                                 bool* reissued);
// Writes DIR/admin/ca.pem = `bundle_pem` unless it holds that already.
Status WriteOperatorBundle(const std::filesystem::path& admin_dir, const std::string& bundle_pem);

}  // namespace topos::controller
