// AdminService: Deploy (stream the steps of one host's deployment) and the
// service certificate requests operators decide.
#include <spdlog/spdlog.h>

#include <atomic>
#include <deque>
#include <thread>

#include "certs/crypto.h"
#include "controller/api/admin_service.h"
#include "controller/deploy/deploy_plan.h"
#include "controller/deploy/host_deploy.h"
#include "controller/topology/host_slice.h"

namespace topos::controller {
namespace {

constexpr std::uint32_t kDefaultStepTimeoutSeconds = 300;
constexpr std::uint32_t kMaxStepTimeoutSeconds = 24 * 3600;

std::int64_t Unix(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// One Deploy call: prepares the plan on the executor, then runs it on a
// thread of its own (a deploy waits on agents for minutes; executor threads
// must not). Events queue; one write in flight. Deletes itself in OnDone,
// after the deploy thread has stopped.
class DeployReactor final : public grpc::ServerWriteReactor<topos::v1::DeployEvent> {
 public:
  DeployReactor(ControllerContext& context, grpc::CallbackServerContext* call,
                const topos::v1::DeployRequest& request)
      : context_(context), call_(call), request_(request) {
    context_.executor.Post([this] { Prepare(); });
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mutex_);
    outbox_.pop_front();
    writing_ = false;
    if (!ok) {  // the operator went away: stop the deploy and end the call
      cancelled_ = true;
      outbox_.clear();
      if (!finished_) {
        finished_ = true;
        Finish(grpc::Status(grpc::StatusCode::CANCELLED, "deploy stream broken"));
      }
      return;
    }
    WriteNextLocked();
  }
  void OnCancel() override { cancelled_ = true; }
  void OnDone() override {
    cancelled_ = true;
    if (worker_.joinable()) worker_.join();
    delete this;
  }

 private:
  void Prepare() {
    Caller caller;
    grpc::Status status =
        AuthorizeOperator(*call_, context_.revocations, context_.store, kRoleDeployer, &caller);
    if (!status.ok()) return FinishWith(status);
    const std::string& fqdn = request_.host_fqdn();
    if (fqdn.empty() || fqdn.size() > 253) {
      return FinishWith(ToGrpc(Status::InvalidArgument("--host is required (a host FQDN)")));
    }
    if (request_.step_timeout_seconds() > kMaxStepTimeoutSeconds) {
      return FinishWith(ToGrpc(Status::InvalidArgument("step timeout must be at most 24h")));
    }
    auto published = context_.replicator.Current();
    if (!published.topology) {
      return FinishWith(ToGrpc(Status::FailedPrecondition(
          "no topology is published: run toposctl topology publish first")));
    }
    // The version's own index: the slice in time proportional to it.
    auto slice = published.slices->Build(fqdn, published.version, published.created_at_unix);
    if (!slice) {
      return FinishWith(ToGrpc(Status::NotFound("host \"" + fqdn + "\" is not in topology version " +
                                                std::to_string(published.version))));
    }
    const std::uint32_t timeout = request_.step_timeout_seconds() == 0 ? kDefaultStepTimeoutSeconds
                                                                       : request_.step_timeout_seconds();
    const std::string prefix = "deploy-" + certs::HexEncode(certs::RandomBytes(6));
    auto steps =
        request_.action() != v1::STEP_KIND_UNSPECIFIED
            ? PlanServiceAction(*slice, request_.action(), request_.service(), prefix, timeout)
            : PlanHostDeploy(
                  *slice,
                  [this](const v1::Service& service) {
                    return context_.artifacts.Resolve(service.name(), service.version(),
                                                      service.artifact());
                  },
                  prefix, timeout);
    if (!steps.ok()) return FinishWith(ToGrpc(steps.status()));

    if (request_.dry_run()) {
      for (const auto& step : *steps) {
        topos::v1::DeployEvent planned;
        *planned.mutable_step() = step;
        planned.set_message(DescribeStep(step));
        Emit(std::move(planned));
      }
      topos::v1::DeployEvent done;
      done.set_done(true);
      done.set_ok(true);
      done.set_message("dry run: " + std::to_string(steps->size()) + " steps would run on " + fqdn);
      return Emit(std::move(done));
    }
    if (!context_.hub.Live(fqdn).connected) {
      return FinishWith(ToGrpc(Status::Unavailable(
          "host \"" + fqdn + "\" is not connected; start its agent (topos-agent run) and retry")));
    }
    spdlog::info("operator={} deploys host={} ({} steps)", caller.subject, fqdn, steps->size());
    worker_ = std::thread([this, fqdn, steps = std::move(*steps)]() mutable {
      HostDeploy deploy(context_.steps, fqdn, std::move(steps),
                        [this](topos::v1::DeployEvent event) { Emit(std::move(event)); });
      bool ok = deploy.Run(cancelled_);
      spdlog::info("deploy of host={} {}", fqdn, ok ? "succeeded" : "failed");
    });
  }

  // Queues an event; the last one (done) finishes the call once written.
  void Emit(topos::v1::DeployEvent event) {
    std::lock_guard lock(mutex_);
    if (finished_) return;
    if (event.done()) done_queued_ = true;
    outbox_.push_back(std::move(event));
    WriteNextLocked();
  }

  void WriteNextLocked() {
    if (writing_) return;
    if (!outbox_.empty()) {
      writing_ = true;
      StartWrite(&outbox_.front());
    } else if (done_queued_ && !finished_) {
      finished_ = true;
      Finish(grpc::Status::OK);
    }
  }

  void FinishWith(const grpc::Status& status) {
    std::lock_guard lock(mutex_);
    if (finished_) return;
    finished_ = true;
    Finish(status);
  }

  ControllerContext& context_;
  grpc::CallbackServerContext* call_;
  const topos::v1::DeployRequest request_;
  std::atomic<bool> cancelled_{false};
  std::thread worker_;
  std::mutex mutex_;
  std::deque<topos::v1::DeployEvent> outbox_;  // guarded by mutex_
  bool writing_ = false;                      // guarded
  bool done_queued_ = false;                  // guarded
  bool finished_ = false;                     // guarded
};

}  // namespace

topos::v1::CertificateRequestInfo DescribeCertificateRequest(const CertificateRequestRecord& request) {
  topos::v1::CertificateRequestInfo info;
  info.set_id(request.id);
  info.set_host_fqdn(request.host_fqdn);
  info.set_service(request.service);
  for (const auto& name : request.names) info.add_names(name);
  switch (request.state) {
    case CertificateRequestState::kPending:
      info.set_state(topos::v1::CERTIFICATE_PENDING);
      break;
    case CertificateRequestState::kIssued:
      info.set_state(topos::v1::CERTIFICATE_ISSUED);
      break;
    case CertificateRequestState::kDenied:
      info.set_state(topos::v1::CERTIFICATE_DENIED);
      break;
  }
  info.set_reason(request.reason);
  info.set_requested_at_unix(Unix(request.requested_at));
  info.set_decided_by(request.decided_by);
  info.set_serial(request.serial);
  if (request.not_after) info.set_not_after_unix(Unix(*request.not_after));
  return info;
}

grpc::ServerWriteReactor<topos::v1::DeployEvent>* AdminServiceHandler::Deploy(
    grpc::CallbackServerContext* context, const topos::v1::DeployRequest* request) {
  return new DeployReactor(context_, context, *request);
}

grpc::ServerUnaryReactor* AdminServiceHandler::ListCertificateRequests(
    grpc::CallbackServerContext* context, const topos::v1::ListCertificateRequestsRequest* request,
    topos::v1::ListCertificateRequestsResponse* response) {
  return Run(context, kAnyRole, [this, request, response](const Caller&) {
    auto requests = context_.store.ListCertificateRequests(request->pending_only(), "");
    if (!requests.ok()) return ToGrpc(requests.status());
    for (const auto& record : *requests) *response->add_requests() = DescribeCertificateRequest(record);
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* AdminServiceHandler::DecideCertificateRequest(
    grpc::CallbackServerContext* context, const topos::v1::DecideCertificateRequestRequest* request,
    topos::v1::DecideCertificateResponse* response) {
  return Run(context, kRoleCaAdmin, [this, request, response](const Caller& caller) {
    auto decided = context_.certificates.Decide(request->id(), request->approve(), request->reason(),
                                                caller.subject, std::chrono::system_clock::now());
    if (!decided.ok()) return ToGrpc(decided.status());
    *response->mutable_request() = DescribeCertificateRequest(*decided);
    return grpc::Status::OK;
  });
}

}  // namespace topos::controller
