#include "controller/tokens/token_service.h"

#include "certs/crypto.h"
#include "common/text.h"

namespace topos::controller {
namespace {

constexpr std::size_t kIdBytes = 8;
constexpr std::size_t kSecretBytes = 32;

bool IsLowerHex(const std::string& text) {
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

Result<IssuedToken> TokenService::Create(const std::string& host_fqdn, std::chrono::seconds ttl,
                                         const std::string& created_by, TimePoint now) {
  TOPOS_RETURN_IF_ERROR(CheckFqdn(host_fqdn));
  if (ttl < kMinTokenTtl || ttl > kMaxTokenTtl) {
    return Status::InvalidArgument("token TTL must be between 60s and 7d, got " +
                                   std::to_string(ttl.count()) + "s");
  }
  IssuedToken issued;
  std::string secret = certs::HexEncode(certs::RandomBytes(kSecretBytes));
  issued.record.id = certs::HexEncode(certs::RandomBytes(kIdBytes));
  issued.record.secret_hash = certs::Sha256Hex(secret);
  issued.record.host_fqdn = host_fqdn;
  issued.record.created_at = now;
  issued.record.expires_at = now + ttl;
  issued.record.created_by = created_by;
  issued.token = issued.record.id + "." + secret;
  TOPOS_RETURN_IF_ERROR(store_.InsertToken(issued.record));
  return issued;
}

Result<TokenRecord> TokenService::Check(const std::string& token, const std::string& host_fqdn,
                                        TimePoint now) {
  std::size_t dot = token.find('.');
  if (token.size() != (kIdBytes + kSecretBytes) * 2 + 1 || dot != kIdBytes * 2) {
    return Status::Unauthenticated("malformed token (expected <id>.<secret> as printed by "
                                   "`toposctl token create`)");
  }
  std::string id = token.substr(0, dot);
  std::string secret = token.substr(dot + 1);
  if (!IsLowerHex(id) || !IsLowerHex(secret)) {
    return Status::Unauthenticated("malformed token (not hexadecimal)");
  }
  auto record = store_.GetToken(id);
  if (!record.ok()) {
    if (record.status().code() == Status::Code::kNotFound) {
      return Status::Unauthenticated("unknown token " + id);
    }
    return record.status();
  }
  if (!certs::ConstantTimeEquals(certs::Sha256Hex(secret), record->secret_hash)) {
    return Status::Unauthenticated("token " + id + " does not match");
  }
  if (record->revoked_at) return Status::PermissionDenied("token " + id + " was revoked");
  if (record->used_at) return Status::PermissionDenied("token " + id + " was already used");
  if (now >= record->expires_at) return Status::PermissionDenied("token " + id + " has expired");
  if (record->host_fqdn != host_fqdn) {
    return Status::PermissionDenied("token " + id + " is for host " + record->host_fqdn +
                                    ", not " + host_fqdn);
  }
  return record;
}

std::string TokenService::StateOf(const TokenRecord& record, TimePoint now) {
  if (record.revoked_at) return "revoked";
  if (record.used_at) return "used";
  if (now >= record.expires_at) return "expired";
  return "unused";
}

}  // namespace topos::controller
