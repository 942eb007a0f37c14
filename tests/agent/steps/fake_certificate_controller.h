// A stand-in for the controller's RequestCertificate, for the certificate
// step tests: an in-process gRPC server (plain TCP on 127.0.0.1, port 0)
// with its own CA that issues, holds pending or denies, as the test says,
// and counts what it signs.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "certs/certificate_authority.h"
#include "certs/csr.h"
#include "topos/v1/agent.grpc.pb.h"

namespace topos::agent::steps_test {

class FakeCertificateController final : public topos::v1::AgentService::Service {
 public:
  enum class Answer { kIssue, kPending, kDeny };

  FakeCertificateController() {
    auto ca = certs::CertificateAuthority::Create("Fake controller CA");
    EXPECT_TRUE(ca.ok()) << ca.status().message();
    ca_ = std::make_unique<certs::CertificateAuthority>(std::move(*ca));
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
    EXPECT_GT(port_, 0);
  }
  ~FakeCertificateController() override { server_->Shutdown(std::chrono::system_clock::now()); }

  // For StepContext::controller.
  std::function<std::unique_ptr<topos::v1::AgentService::StubInterface>()> Stubs() const {
    std::string target = "127.0.0.1:" + std::to_string(port_);
    return [target]() -> std::unique_ptr<topos::v1::AgentService::StubInterface> {
      return topos::v1::AgentService::NewStub(
          grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
    };
  }

  void set_answer(Answer answer) {
    std::lock_guard lock(mutex_);
    answer_ = answer;
  }
  // Validity of what it signs next (the CA backdates by 5 minutes, so a
  // few seconds make a certificate that is due for renewal at once).
  void set_validity(std::chrono::seconds validity) {
    std::lock_guard lock(mutex_);
    validity_ = validity;
  }
  int signed_count() {
    std::lock_guard lock(mutex_);
    return signed_;
  }
  // Requests that asked about an earlier request id instead of sending a CSR.
  int followups() {
    std::lock_guard lock(mutex_);
    return followups_;
  }
  std::string ca_pem() const { return ca_->certificate().ToPem(); }

  // How long the last request was given to be answered, from its arrival.
  std::chrono::milliseconds last_time_allowed() {
    std::lock_guard lock(mutex_);
    return last_time_allowed_;
  }

  grpc::Status RequestCertificate(grpc::ServerContext* context, const topos::v1::CertificateRequest* request,
                                  topos::v1::CertificateReply* reply) override {
    std::lock_guard lock(mutex_);
    last_time_allowed_ = std::chrono::duration_cast<std::chrono::milliseconds>(
        context->deadline() - std::chrono::system_clock::now());
    std::string id = request->request_id();
    if (request->csr_pem().empty()) {
      ++followups_;
      if (!csrs_.count(id)) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no request " + id);
    } else {
      id = "req-" + std::to_string(++requests_);
      csrs_[id] = request->csr_pem();
    }
    reply->set_request_id(id);
    if (answer_ == Answer::kPending) {
      reply->set_state(topos::v1::CERTIFICATE_PENDING);
      reply->set_reason("names not granted");
      return grpc::Status::OK;
    }
    if (answer_ == Answer::kDeny) {
      reply->set_state(topos::v1::CERTIFICATE_DENIED);
      reply->set_reason("operator said no");
      return grpc::Status::OK;
    }
    auto csr = certs::Csr::FromPem(csrs_[id]);
    if (!csr.ok()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, csr.status().message());
    certs::SigningPolicy policy;
    policy.common_name = csr->common_name();
    policy.allowed_dns_names = csr->dns_names();
    policy.usage = certs::Usage::kServer;
    policy.validity = validity_;
    auto certificate = ca_->Sign(*csr, policy);
    if (!certificate.ok()) {
      return grpc::Status(grpc::StatusCode::INTERNAL, certificate.status().message());
    }
    ++signed_;
    reply->set_state(topos::v1::CERTIFICATE_ISSUED);
    reply->set_certificate_pem(certificate->ToPem());
    reply->set_ca_bundle_pem(ca_->certificate().ToPem());
    return grpc::Status::OK;
  }

 private:
  std::unique_ptr<certs::CertificateAuthority> ca_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::mutex mutex_;
  Answer answer_ = Answer::kIssue;                     // guarded
  std::chrono::seconds validity_{std::chrono::hours(24)};  // guarded
  std::map<std::string, std::string> csrs_;            // request id -> CSR; guarded
  int requests_ = 0;                                   // guarded
  int signed_ = 0;                                     // guarded
  std::chrono::milliseconds last_time_allowed_{0};     // guarded
  int followups_ = 0;                                  // guarded
};

}  // namespace topos::agent::steps_test
