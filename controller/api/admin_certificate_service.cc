// AdminService: the certificate inventory, revocation and the CRL.
#include <spdlog/spdlog.h>

#include "controller/api/admin_service.h"
#include "controller/certificates/certificate_inventory.h"

namespace topos::controller {
namespace {

constexpr std::size_t kMaxReasonBytes = 500;
constexpr std::size_t kMaxSerialChars = 64;

Status CheckSerial(const std::string& serial) {
  if (serial.empty() || serial.size() > kMaxSerialChars ||
      serial.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
    return Status::InvalidArgument("\"" + serial.substr(0, kMaxSerialChars) +
                                   "\" is not a certificate serial (hex, as toposctl certs list shows)");
  }
  return Status::Ok();
}

}  // namespace

void RefreshCrl(CrlPublisher& crl, std::chrono::system_clock::time_point now) {
  Status status = crl.Refresh(now);
  if (!status.ok()) {
    spdlog::error("the revocation is stored and enforced, but the CRL was not re-signed "
                  "(retried when due): {}", status.message());
  }
}

grpc::ServerUnaryReactor* AdminServiceHandler::ListCertificates(
    grpc::CallbackServerContext* context, const topos::v1::ListCertificatesRequest* request,
    topos::v1::ListCertificatesResponse* response) {
  return Run(context, kAnyRole, [this, request, response](const Caller&) {
    auto certificates = context_.store.ListCertificates();
    if (!certificates.ok()) return ToGrpc(certificates.status());
    auto requests = context_.store.ListCertificateRequests(false, "");
    if (!requests.ok()) return ToGrpc(requests.status());
    std::map<std::string, std::set<std::string>> pool_hosts;
    if (auto published = context_.replicator.Current(); published.topology) {
      for (const auto& pool : published.topology->pools()) {
        pool_hosts[pool.name()].insert(pool.hosts().begin(), pool.hosts().end());
      }
    }
    const auto now = std::chrono::system_clock::now();
    auto items = FilterCertificateInventory(BuildCertificateInventory(*certificates, *requests, now),
                                            *request, pool_hosts, now);
    if (!items.ok()) return ToGrpc(items.status());
    for (auto& item : *items) *response->add_certificates() = std::move(item);
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* AdminServiceHandler::RevokeCertificate(
    grpc::CallbackServerContext* context, const topos::v1::RevokeCertificateRequest* request,
    topos::v1::RevokeCertificateResponse* response) {
  return Run(context, kRoleCaAdmin, [this, request, response](const Caller& caller) {
    if (request->serial().empty() == request->host_fqdn().empty()) {
      return ToGrpc(Status::InvalidArgument("give a certificate SERIAL or --host FQDN, not both"));
    }
    if (request->reason().size() > kMaxReasonBytes) {
      return ToGrpc(Status::InvalidArgument("--reason is longer than 500 bytes"));
    }
    const auto now = std::chrono::system_clock::now();
    const std::string reason =
        (request->reason().empty() ? std::string("revoked") : request->reason()) + " (by " +
        caller.subject + ")";
    std::vector<std::string> revoked;
    std::string host;  // whose live stream to cut
    if (!request->serial().empty()) {
      Status shaped = CheckSerial(request->serial());
      if (!shaped.ok()) return ToGrpc(shaped);
      const std::string serial = request->serial();
      Status status = context_.store.RevokeCertificate(serial, now, reason);
      if (!status.ok()) return ToGrpc(status);
      revoked.push_back(serial);
      // Only an identity certificate carries a live stream.
      if (auto record = context_.store.GetCertificate(serial);
          record.ok() && record->purpose == CertificatePurpose::kAgentIdentity) {
        host = record->subject;
      }
    } else {
      auto serials = context_.store.RevokeHostCertificates(request->host_fqdn(), now, reason);
      if (!serials.ok()) return ToGrpc(serials.status());
      revoked = std::move(*serials);
      host = request->host_fqdn();
    }
    // Stored first, then enforced: the list refuses the next call at once,
    // the hub cuts the live stream now.
    context_.revocations.Add(revoked);
    if (!revoked.empty()) RefreshCrl(context_.crl, now);
    if (!host.empty() && !revoked.empty() && context_.hub.Live(host).connected) {
      context_.hub.Disconnect(host, "certificate revoked", false);
      response->set_stream_cut(true);
    }
    spdlog::info("operator={} revoked {} certificate(s){}{}", caller.subject, revoked.size(),
                 host.empty() ? "" : " of host=", host);
    for (const auto& serial : revoked) response->add_revoked_serials(serial);
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* AdminServiceHandler::GetCrl(grpc::CallbackServerContext* context,
                                                      const topos::v1::GetCrlRequest*,
                                                      topos::v1::GetCrlResponse* response) {
  return Run(context, kAnyRole, [this, response](const Caller&) {
    PublishedCrl crl = context_.crl.Current();
    if (crl.pem.empty()) {
      return ToGrpc(Status::Unavailable("no CRL has been signed yet (see the controller's log)"));
    }
    response->set_crl_pem(std::move(crl.pem));
    response->set_next_update_unix(
        std::chrono::duration_cast<std::chrono::seconds>(crl.next_update.time_since_epoch())
            .count());
    response->set_number(crl.number);
    response->set_entries(crl.entries);
    return grpc::Status::OK;
  });
}

}  // namespace topos::controller
