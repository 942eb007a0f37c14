#include "agent/node/agent_node.h"

#include <spdlog/spdlog.h>

#include "agent/state/agent_state.h"
#include "common/grpc_tls.h"

namespace topos::agent {

AgentNode::AgentNode(std::filesystem::path state_dir, NodeOptions options)
    : state_dir_(std::move(state_dir)), options_(std::move(options)) {}

AgentNode::~AgentNode() { Stop(); }

Status AgentNode::Start() {
  StateDir dir(state_dir_);
  auto state = dir.Load();
  if (!state.ok()) return state.status();
  auto journal = StepJournal::Open(state_dir_);
  if (!journal.ok()) return journal.status().WithContext("step journal");
  auto services = MakeServiceManager(options_.service_manager, state_dir_);
  if (!services.ok()) return services.status().WithContext("service manager");
  services_ = std::move(*services);

  StepContext context;
  context.state_dir = state_dir_;
  context.host_fqdn = state->host_fqdn;
  context.ca_file = dir.root() / "identity" / "ca.pem";
  context.journal = std::move(*journal);
  context.services = services_;
  context.artifacts = std::make_shared<ArtifactCache>(state_dir_ / "artifacts");
  context.controller = [dir]() -> std::unique_ptr<topos::v1::AgentService::StubInterface> {
    // Loaded per use: the identity may have been renewed since.
    auto current = dir.Load();
    TlsIdentity identity = current.ok() ? current->identity : TlsIdentity{};
    std::string address = current.ok() ? current->controller : "";
    // A connection of the step's own, closed with the stub when the step
    // ends: a shared one (gRPC's default for the same target) would carry the
    // artifact download over the link's connection, whose read buffers then
    // keep megabytes of the download for minutes after the step.
    return topos::v1::AgentService::NewStub(MakeChannel(
        address, MakeMutualTlsCredentials(identity), /*private_connection=*/true));
  };
  context.controller_on_link = [this]() -> std::unique_ptr<topos::v1::AgentService::StubInterface> {
    auto channel = link_ ? link_->channel() : nullptr;
    return channel ? topos::v1::AgentService::NewStub(channel) : nullptr;
  };
  context.applied_config_version = [this] { return link_ ? link_->applied_config_version() : 0; };
  StepContext renewer_context = context;
  executor_ = std::make_unique<StepExecutor>(std::move(context));
  renewer_ = std::make_unique<CertificateRenewer>(std::move(renewer_context), *executor_,
                                                  options_.renewer);

  LinkOptions link_options = options_.link;
  link_options.steps = executor_.get();
  // New trust from the controller reaches the services' CA files too (both
  // CAs during a rotation), then whatever the caller hooked in.
  link_options.on_trust_changed = [executor = executor_.get(),
                                   chained = options_.link.on_trust_changed](
                                      const std::string& ca_bundle_pem, const std::string& crl_pem) {
    auto refreshed = executor->RefreshServiceTrust(ca_bundle_pem);
    if (!refreshed.ok()) {
      spdlog::error("refresh the services' CA files: {}", refreshed.status().message());
    } else if (*refreshed > 0) {
      spdlog::info("the new trust bundle is in the CA files of {} service(s)", *refreshed);
    }
    if (chained) chained(ca_bundle_pem, crl_pem);
  };
  link_ = std::make_unique<ControllerLink>(dir, link_options);
  TOPOS_RETURN_IF_ERROR(link_->Start());
  executor_->Start();
  renewer_->Start();
  return Status::Ok();
}

void AgentNode::Stop() {
  // The renewer first: it may be waiting for a step of the executor's.
  if (renewer_) renewer_->Stop();
  if (link_) link_->Stop();
  if (executor_) executor_->Stop();
}

Status AgentNode::Wait() {
  Status ended = link_ ? link_->Wait() : Status::Ok();
  if (renewer_) renewer_->Stop();
  if (executor_) executor_->Stop();
  return ended;
}

}  // namespace topos::agent
