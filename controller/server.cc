#include "controller/server.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/executor.h"
#include "common/grpc_tls.h"
#include "controller/api/admin_service.h"
#include "controller/api/agent_service.h"
#include "controller/ca/ca_rotation.h"
#include "controller/ca/ca_rotation_fleet.h"
#include "controller/ca/certificate_issuer.h"
#include "controller/ca/crl_publisher.h"
#include "controller/ca/revocation_list.h"
#include "controller/hub/agent_hub.h"
#include "controller/hub/report_writer.h"
#include "controller/hub/trust_publisher.h"
#include "controller/replication/replicator.h"
#include "controller/tokens/token_service.h"

namespace topos::controller {

// Members are declared in dependency order: destroyed in reverse, so the
// gRPC server goes before the services and hub it calls into.
struct ControllerServer::State {
  DataDir data_dir;
  std::unique_ptr<Store> store;
  CertificateIssuer issuer;
  TokenService tokens;
  RevocationList revocations;
  CrlPublisher crl;
  ReportWriter reports;
  AgentHub hub;
  TrustPublisher trust;
  Executor executor;
  Replicator replicator;
  ArtifactStore artifacts;
  ServiceCertificates certificates;
  StepTracker steps;
  rollout::RolloutManager rollouts;
  ControllerCaFleet ca_fleet;
  CaRotation ca_rotation;
  ControllerContext context;
  AgentServiceHandler agent_service;
  AdminServiceHandler admin_service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  unsigned reconnect_rate = 0;  // ServerOptions.reconnect_rate
  std::mutex mutex;
  std::condition_variable stopped_cv;
  bool stopped = false;   // Shutdown() has begun
  bool finished = false;  // Shutdown() has completed

  State(DataDir dir, std::unique_ptr<Store> s, const ServerOptions& options)
      : data_dir(std::move(dir)),
        store(std::move(s)),
        issuer(*data_dir.keyring, options.agent_certificate_validity),
        tokens(*store),
        crl(*store, [k = data_dir.keyring] { return k->signing(); },
            [k = data_dir.keyring] { return k->previous_ca(); }, data_dir.root / "ca" / "crl.pem"),
        reports(*store, options.report_flush_interval),
        hub(reports),
        trust(hub),
        executor(options.worker_threads),
        replicator(hub, executor),
        artifacts(data_dir.root / "artifacts", *store),
        certificates(*store, issuer, replicator),
        steps(hub),
        rollouts({*store, steps, hub, replicator, artifacts}),
        ca_fleet(trust, hub, crl, rollouts),
        ca_rotation(*store, *data_dir.keyring, ca_fleet, {data_dir.root, data_dir.name}),
        context{*store,     issuer,    tokens,       hub,   revocations, crl, executor,
                replicator, artifacts, certificates, steps, rollouts,    trust, ca_rotation, ""},
        agent_service(context),
        admin_service(context) {}
};

unsigned DefaultReconnectRate() { return 100 * std::max(1u, std::thread::hardware_concurrency()); }

namespace {

// The address to print in enroll commands: the listen host unless it is a
// wildcard, in which case the controller's name.
std::string Advertised(const std::string& listen, const std::string& name, int port) {
  std::string host = listen.substr(0, listen.rfind(':'));
  if (host.empty() || host == "0.0.0.0" || host == "[::]" || host == "::") host = name;
  return host + ":" + std::to_string(port);
}

}  // namespace

Result<std::unique_ptr<ControllerServer>> ControllerServer::Start(DataDir data_dir,
                                                                  std::unique_ptr<Store> store,
                                                                  const ServerOptions& options) {
  std::string listen = options.listen.empty() ? data_dir.listen : options.listen;
  auto revoked = store->ListRevokedSerials();
  if (!revoked.ok()) return revoked.status();

  auto state = std::make_unique<State>(std::move(data_dir), std::move(store), options);
  state->context.identity_grace = options.identity_grace;
  state->reconnect_rate = options.reconnect_rate;
  state->revocations.Add(*revoked);
  // A CRL listing every revocation exists from the start (the one of the
  // last run, if still current: agents then keep their trust generation),
  // then re-signed in the background before it gets old.
  TOPOS_RETURN_IF_ERROR(state->crl.RefreshIfStale(std::chrono::system_clock::now()));
  state->crl.Start();
  // Agents hold the bundle and CRL in their local stores (TrustUpdate).
  state->trust.PublishBundle(state->issuer.CaBundlePem());
  state->trust.PublishCrl(state->crl.Current().trust_pem);
  // Every later signing (revocations, re-signing, CA rotation) goes out too.
  state->crl.SetListener(
      [trust = &state->trust](const PublishedCrl& crl) { trust->PublishCrl(crl.trust_pem); });
  state->hub.SetTrustListeners(
      [trust = &state->trust](const std::string& fqdn, const std::string& generation) {
        trust->OnHello(fqdn, generation);
      },
      [trust = &state->trust](const std::string& fqdn, const topos::v1::TrustApplied& applied) {
        trust->OnApplied(fqdn, applied);
      });
  TOPOS_RETURN_IF_ERROR(state->replicator.Load(*state->store));
  state->hub.SetHelloListener([replicator = &state->replicator](const std::string& fqdn,
                                                                 std::uint64_t version) {
    replicator->OnHello(fqdn, version);
  });
  state->hub.SetRefusedListener([replicator = &state->replicator](const std::string& fqdn) {
    replicator->OnRefused(fqdn);
  });
  state->hub.SetStepListeners(
      [steps = &state->steps](const std::string& fqdn, const topos::v1::StepUpdate& update) {
        steps->OnStepUpdate(fqdn, update);
      },
      [steps = &state->steps](const std::string& fqdn,
                              const std::vector<topos::v1::StepUpdate>& journal) {
        steps->OnHello(fqdn, journal);
      });

  // Unfinished rollouts resume at once; their agents are waited for as
  // they reconnect (engine.h rule 7).
  TOPOS_RETURN_IF_ERROR(state->rollouts.Recover());
  // An unfinished CA rotation resumes; our own certificates are fixed first.
  TOPOS_RETURN_IF_ERROR(state->ca_rotation.Recover());

  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen, MakeReloadingServerCredentials(
                               {state->data_dir.server_key_path().string(),
                                state->data_dir.server_cert_path().string(),
                                state->data_dir.bundle_path().string()}),
                           &state->port);
  ApplyServerSettings(builder);
  builder.RegisterService(&state->agent_service);
  builder.RegisterService(&state->admin_service);
  state->server = builder.BuildAndStart();
  if (!state->server || state->port == 0) {
    return Status::Unavailable("cannot listen on " + listen +
                               " (address in use or not local?)");
  }
  state->context.advertised_address = Advertised(listen, state->data_dir.name, state->port);
  state->ca_rotation.Start();
  spdlog::info("controller {} serving on {} (agents dial {}), CA sha256 {}", state->data_dir.name,
               listen, state->context.advertised_address, state->issuer.CaFingerprint());
  return std::unique_ptr<ControllerServer>(new ControllerServer(std::move(state)));
}

ControllerServer::ControllerServer(std::unique_ptr<State> state) : state_(std::move(state)) {}

ControllerServer::~ControllerServer() { Shutdown(); }

int ControllerServer::port() const { return state_->port; }
std::string ControllerServer::address() const { return state_->context.advertised_address; }
std::size_t ControllerServer::connected_agents() const { return state_->hub.connected_count(); }

void ControllerServer::Shutdown() {
  {
    std::lock_guard lock(state_->mutex);
    if (state_->stopped) return;
    state_->stopped = true;
  }
  // Rollouts first: disconnecting agents must not be recorded as hosts
  // going offline; they resume from the store at the next start.
  state_->ca_rotation.Stop();
  state_->rollouts.Shutdown();
  state_->crl.Stop();
  state_->hub.DisconnectAll("controller shutting down", state_->reconnect_rate);
  // Streams that do not end by themselves are cancelled after the deadline.
  state_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  state_->server->Wait();
  state_->reports.Flush();
  spdlog::info("controller stopped");
  {
    std::lock_guard lock(state_->mutex);
    state_->finished = true;
  }
  state_->stopped_cv.notify_all();
}

void ControllerServer::Wait() {
  std::unique_lock lock(state_->mutex);
  state_->stopped_cv.wait(lock, [this] { return state_->finished; });
}

}  // namespace topos::controller
