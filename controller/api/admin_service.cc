#include "controller/api/admin_service.h"

#include <spdlog/spdlog.h>

#include <map>
#include <set>

#include "controller/hub/host_status.h"
#include "controller/topology/host_slice.h"
#include "topos/v1/agent_journal.pb.h"

namespace topos::controller {
namespace {

std::int64_t Unix(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

grpc::ServerUnaryReactor* AdminServiceHandler::Run(
    grpc::CallbackServerContext* context, const char* role,
    std::function<grpc::Status(const Caller&)> work) {
  auto* reactor = context->DefaultReactor();
  context_.executor.Post([this, context, reactor, role, work = std::move(work)] {
    Caller caller;
    grpc::Status status =
        AuthorizeOperator(*context, context_.revocations, context_.store, role, &caller);
    if (status.ok()) status = work(caller);
    reactor->Finish(status);
  });
  return reactor;
}

grpc::ServerUnaryReactor* AdminServiceHandler::CreateToken(
    grpc::CallbackServerContext* context, const topos::v1::CreateTokenRequest* request,
    topos::v1::CreateTokenResponse* response) {
  return Run(context, kRoleDeployer, [this, request, response](const Caller& caller) {
    std::chrono::seconds ttl = request->ttl_seconds() == 0
                                   ? kDefaultTokenTtl
                                   : std::chrono::seconds(request->ttl_seconds());
    auto issued = context_.tokens.Create(request->host_fqdn(), ttl, caller.subject,
                                         std::chrono::system_clock::now());
    if (!issued.ok()) return ToGrpc(issued.status());
    spdlog::info("operator={} created token {} for host={}", caller.subject, issued->record.id,
                 issued->record.host_fqdn);
    response->set_token(issued->token);
    response->set_token_id(issued->record.id);
    response->set_expires_at_unix(Unix(issued->record.expires_at));
    response->set_ca_sha256(context_.issuer.CaFingerprint());
    response->set_controller_address(context_.advertised_address);
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* AdminServiceHandler::ListTokens(grpc::CallbackServerContext* context,
                                                          const topos::v1::ListTokensRequest*,
                                                          topos::v1::ListTokensResponse* response) {
  return Run(context, kAnyRole, [this, response](const Caller&) {
    auto tokens = context_.store.ListTokens();
    if (!tokens.ok()) return ToGrpc(tokens.status());
    auto now = std::chrono::system_clock::now();
    for (const auto& token : *tokens) {
      auto* info = response->add_tokens();
      info->set_token_id(token.id);
      info->set_host_fqdn(token.host_fqdn);
      info->set_created_at_unix(Unix(token.created_at));
      info->set_expires_at_unix(Unix(token.expires_at));
      info->set_state(TokenService::StateOf(token, now));
      info->set_created_by(token.created_by);
    }
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* AdminServiceHandler::RevokeToken(
    grpc::CallbackServerContext* context, const topos::v1::RevokeTokenRequest* request,
    topos::v1::RevokeTokenResponse*) {
  return Run(context, kRoleDeployer, [this, request](const Caller& caller) {
    Status status = context_.store.RevokeToken(request->token_id(), std::chrono::system_clock::now());
    if (status.ok()) {
      spdlog::info("operator={} revoked token {}", caller.subject, request->token_id());
    }
    return ToGrpc(status);
  });
}

topos::v1::HostInfo AdminServiceHandler::DescribeHost(
    const HostRecord& host, const PublishedTopology& published,
    std::chrono::system_clock::time_point now) const {
  topos::v1::HostInfo info;
  LiveState live = context_.hub.Live(host.fqdn);
  auto last_seen = live.last_seen ? live.last_seen : host.last_seen;
  HostStatus status = ComputeHostStatus(host.removed_at.has_value(), live.connected, last_seen,
                                        live.heartbeat_interval, now);
  info.set_fqdn(host.fqdn);
  info.set_status(HostStatusName(status));
  info.set_last_seen_unix(last_seen ? Unix(*last_seen) : 0);
  info.set_agent_version(host.agent_version);
  info.mutable_facts()->ParseFromString(host.facts);
  info.set_certificate_serial(host.certificate_serial);
  info.set_certificate_not_after_unix(Unix(host.certificate_not_after));
  info.set_enrolled_at_unix(Unix(host.enrolled_at));
  info.set_refused_duplicate_connections(host.refused_duplicate_connections);
  info.set_enrolled(true);
  info.set_applied_config_version(live.connected ? live.applied_config_version
                                                 : host.applied_config_version);
  if (published.slices) {
    auto placement = published.slices->Place(host.fqdn);
    info.set_site(placement.site);
    for (const auto& pool : placement.pools) info.add_pools(pool);
    info.set_in_topology(!placement.pools.empty());
  }
  return info;
}

grpc::ServerUnaryReactor* AdminServiceHandler::ListHosts(grpc::CallbackServerContext* context,
                                                         const topos::v1::ListHostsRequest*,
                                                         topos::v1::ListHostsResponse* response) {
  return Run(context, kAnyRole, [this, response](const Caller&) {
    auto hosts = context_.store.ListHosts();
    if (!hosts.ok()) return ToGrpc(hosts.status());
    auto requests = context_.store.ListCertificateRequests(false, "");
    if (!requests.ok()) return ToGrpc(requests.status());
    // Each host's soonest-expiring live service certificate.
    std::map<std::string, const CertificateRequestRecord*> soonest_service;
    for (const auto& request : *requests) {
      if (request.state != CertificateRequestState::kIssued || request.revoked_at ||
          !request.not_after) {
        continue;
      }
      auto& best = soonest_service[request.host_fqdn];
      if (best == nullptr || *request.not_after < *best->not_after) best = &request;
    }
    auto now = std::chrono::system_clock::now();
    // One version for the whole list, placed through its index: each host
    // costs its own pools, not a scan of the topology.
    PublishedTopology published = context_.replicator.Current();
    response->set_published_version(published.version);
    std::set<std::string> enrolled;
    for (const auto& host : *hosts) {
      topos::v1::HostInfo info = DescribeHost(host, published, now);
      info.set_soonest_certificate_not_after_unix(info.certificate_not_after_unix());
      info.set_soonest_certificate("agent identity");
      auto service = soonest_service.find(host.fqdn);
      if (service != soonest_service.end() &&
          Unix(*service->second->not_after) < info.certificate_not_after_unix()) {
        info.set_soonest_certificate_not_after_unix(Unix(*service->second->not_after));
        info.set_soonest_certificate("service " + service->second->service);
      }
      *response->add_hosts() = std::move(info);
      enrolled.insert(host.fqdn);
    }
    // Hosts the published topology names that never enrolled: flagged, so
    // an operator sees what is missing, not only what is there.
    if (published.slices) {
      for (const auto& named : published.slices->topology().hosts()) {
        if (enrolled.count(named.fqdn())) continue;
        auto* info = response->add_hosts();
        auto placement = published.slices->Place(named.fqdn());
        info->set_fqdn(named.fqdn());
        info->set_status("not enrolled");
        info->set_site(placement.site);
        for (const auto& pool : placement.pools) info->add_pools(pool);
        info->set_in_topology(true);
        info->set_enrolled(false);
      }
    }
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* AdminServiceHandler::GetHost(grpc::CallbackServerContext* context,
                                                       const topos::v1::GetHostRequest* request,
                                                       topos::v1::GetHostResponse* response) {
  return Run(context, kAnyRole, [this, request, response](const Caller&) {
    auto host = context_.store.GetHost(request->fqdn());
    if (!host.ok()) return ToGrpc(host.status());
    *response->mutable_host() =
        DescribeHost(*host, context_.replicator.Current(), std::chrono::system_clock::now());
    topos::v1::StoredServiceReports services;
    if (services.ParseFromString(host->services)) {
      for (const auto& service : services.services()) *response->mutable_host()->add_services() = service;
    }
    auto requests = context_.store.ListCertificateRequests(false, host->fqdn);
    if (!requests.ok()) return ToGrpc(requests.status());
    for (const auto& request : *requests) {
      *response->mutable_host()->add_certificates() = DescribeCertificateRequest(request);
    }
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* AdminServiceHandler::RemoveHost(
    grpc::CallbackServerContext* context, const topos::v1::RemoveHostRequest* request,
    topos::v1::RemoveHostResponse* response) {
  return Run(context, kRoleDeployer, [this, request, response](const Caller& caller) {
    auto revoked = context_.store.RemoveHost(request->fqdn(), std::chrono::system_clock::now(),
                                             "host removed by " + caller.subject);
    if (!revoked.ok()) return ToGrpc(revoked.status());
    // Stored first, then enforced: the list refuses the next call, the hub
    // cuts the live stream now.
    context_.revocations.Add(*revoked);
    if (!revoked->empty()) RefreshCrl(context_.crl, std::chrono::system_clock::now());
    context_.hub.Disconnect(request->fqdn(), "host removed by operator; certificate revoked",
                            false);
    spdlog::info("operator={} removed host={}, revoked {} certificate(s)", caller.subject,
                 request->fqdn(), revoked->size());
    for (const auto& serial : *revoked) response->add_revoked_serials(serial);
    return grpc::Status::OK;
  });
}

}  // namespace topos::controller
