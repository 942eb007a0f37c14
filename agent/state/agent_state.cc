#include "agent/state/agent_state.h"

#include <sstream>

#include "certs/certificate.h"
#include "certs/private_key.h"
#include "common/file_io.h"

namespace topos::agent {
namespace fs = std::filesystem;

namespace {

Result<std::string> ConfValue(const std::string& conf, const std::string& key) {
  std::istringstream in(conf);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + " = ", 0) == 0) return line.substr(key.size() + 3);
  }
  return Status::InvalidArgument("agent.conf has no \"" + key + "\"");
}

bool Matches(const std::string& cert_pem, const std::string& key_pem) {
  auto cert = certs::Certificate::FromPem(cert_pem);
  auto key = certs::PrivateKey::FromPem(key_pem);
  return cert.ok() && key.ok() && cert->MatchesKey(*key);
}

// Completes a renewal that was interrupted between its two renames.
void FinishInterruptedSwap(const fs::path& dir) {
  std::error_code ec;
  fs::path next_key = dir / "key.next.pem", next_cert = dir / "cert.next.pem";
  if (!fs::exists(next_key, ec) || !fs::exists(next_cert, ec)) return;
  auto key = ReadFile(next_key);
  auto cert = ReadFile(next_cert);
  if (key.ok() && cert.ok() && Matches(*cert, *key)) {
    fs::rename(next_key, dir / "key.pem", ec);
    fs::rename(next_cert, dir / "cert.pem", ec);
  } else {
    fs::remove(next_key, ec);
    fs::remove(next_cert, ec);
  }
}

}  // namespace

bool StateDir::IsEnrolled() const {
  std::error_code ec;
  return fs::exists(root_ / "agent.conf", ec) && fs::exists(certificate_path(), ec);
}

Result<AgentState> StateDir::Load() const {
  if (!IsEnrolled()) {
    return Status::NotFound(root_.string() +
                            " holds no enrollment yet (run `topos-agent enroll` with a token "
                            "from `toposctl token create`)");
  }
  FinishInterruptedSwap(root_ / "identity");
  auto conf = ReadFile(root_ / "agent.conf");
  if (!conf.ok()) return conf.status();
  AgentState state;
  auto controller = ConfValue(*conf, "controller");
  auto host = ConfValue(*conf, "host");
  if (!controller.ok()) return controller.status();
  if (!host.ok()) return host.status();
  state.controller = *controller;
  state.host_fqdn = *host;
  auto ca = ReadFile(root_ / "identity" / "ca.pem");
  auto cert = ReadFile(certificate_path());
  auto key = ReadFile(key_path());
  for (const auto* r : {&ca, &cert, &key}) {
    if (!r->ok()) return r->status();
  }
  if (!Matches(*cert, *key)) {
    return Status::FailedPrecondition(certificate_path().string() +
                                      " does not match its key; re-enroll with a new token");
  }
  state.identity = TlsIdentity{*ca, *cert, *key};
  return state;
}

Status StateDir::Save(const AgentState& state) const {
  TOPOS_RETURN_IF_ERROR(EnsurePrivateDirectory(root_));
  TOPOS_RETURN_IF_ERROR(EnsurePrivateDirectory(root_ / "identity"));
  TOPOS_RETURN_IF_ERROR(WriteFileAtomically(key_path(), state.identity.private_key_pem, 0600));
  TOPOS_RETURN_IF_ERROR(WriteFileAtomically(root_ / "identity" / "ca.pem",
                                            state.identity.ca_bundle_pem));
  TOPOS_RETURN_IF_ERROR(WriteFileAtomically(certificate_path(), state.identity.certificate_pem));
  // agent.conf last: its presence marks a complete enrollment.
  return WriteFileAtomically(root_ / "agent.conf", "# written by topos-agent enroll\ncontroller = " +
                                                       state.controller + "\nhost = " +
                                                       state.host_fqdn + "\n");
}

Status StateDir::ReplaceIdentity(const std::string& certificate_pem, const std::string& key_pem,
                                 const std::string& ca_bundle_pem) const {
  fs::path dir = root_ / "identity";
  TOPOS_RETURN_IF_ERROR(WriteFileAtomically(dir / "key.next.pem", key_pem, 0600));
  TOPOS_RETURN_IF_ERROR(WriteFileAtomically(dir / "cert.next.pem", certificate_pem));
  TOPOS_RETURN_IF_ERROR(WriteFileAtomically(dir / "ca.pem", ca_bundle_pem));
  FinishInterruptedSwap(dir);
  return Status::Ok();
}

}  // namespace topos::agent
