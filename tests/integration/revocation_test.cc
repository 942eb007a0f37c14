// Revocation over the admin API: a revoked agent identity is cut at once and
// refused afterwards, and the inventory shows it.
#include "tests/integration/fleet_fixture.h"

#include <gmock/gmock.h>

#include "certs/crl.h"
#include "common/file_io.h"

namespace topos::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kHost[] = "chat01.contoso.test";

class RevocationTest : public FleetTest {
 protected:
  grpc::Status Revoke(const std::string& serial, const std::string& host,
                      topos::v1::RevokeCertificateResponse* response) {
    topos::v1::RevokeCertificateRequest request;
    request.set_serial(serial);
    request.set_host_fqdn(host);
    request.set_reason("key copied to a laptop");
    auto context = Context();
    return AdminStub()->RevokeCertificate(context.get(), request, response);
  }

  std::vector<topos::v1::CertificateInventoryItem> Inventory(const std::string& host) {
    topos::v1::ListCertificatesRequest request;
    request.set_host_fqdn(host);
    topos::v1::ListCertificatesResponse response;
    auto context = Context();
    grpc::Status status = AdminStub()->ListCertificates(context.get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return {response.certificates().begin(), response.certificates().end()};
  }

  std::string IdentitySerial(const std::string& host) {
    topos::v1::GetHostRequest request;
    request.set_fqdn(host);
    topos::v1::GetHostResponse response;
    auto context = Context();
    EXPECT_TRUE(AdminStub()->GetHost(context.get(), request, &response).ok());
    return response.host().certificate_serial();
  }
};

TEST_F(RevocationTest, RevokingAHostCutsItsLiveStreamAndRefusesItFromThenOn) {
  ASSERT_TRUE(EnrollHost(kHost).ok());
  auto link = StartLink(kHost);
  ASSERT_TRUE(Eventually([&] { return StatusOf(kHost) == "online"; }));
  const std::string serial = IdentitySerial(kHost);

  topos::v1::RevokeCertificateResponse response;
  grpc::Status status = Revoke("", kHost, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.revoked_serials_size(), 1);
  EXPECT_EQ(response.revoked_serials(0), serial);
  EXPECT_TRUE(response.stream_cut());

  Status ended = link->Wait();
  EXPECT_EQ(ended.code(), Status::Code::kPermissionDenied) << ended.message();
  auto again = StartLink(kHost);
  Status refused = again->Wait();
  EXPECT_EQ(refused.code(), Status::Code::kPermissionDenied);
  EXPECT_THAT(refused.message(), HasSubstr("revoked"));
  EXPECT_EQ(controller_->connected_agents(), 0u);

  // The published CRL lists the serial at once, signed by the controller's CA.
  topos::v1::GetCrlResponse crl;
  auto crl_context = Context();
  ASSERT_TRUE(AdminStub()->GetCrl(crl_context.get(), topos::v1::GetCrlRequest(), &crl).ok());
  auto ca_pem = ReadFile(data_dir_ / "ca" / "ca.pem");
  ASSERT_TRUE(ca_pem.ok()) << ca_pem.status().message();
  auto ca = certs::Certificate::FromPem(*ca_pem);
  ASSERT_TRUE(ca.ok());
  EXPECT_TRUE(certs::VerifyCrl(crl.crl_pem(), *ca).ok());
  auto listed = certs::ParseCrl(crl.crl_pem());
  ASSERT_TRUE(listed.ok()) << listed.status().message();
  ASSERT_EQ(listed->revoked.size(), 1u);
  EXPECT_EQ(listed->revoked[0].serial_hex, serial);

  auto inventory = Inventory(kHost);
  ASSERT_EQ(inventory.size(), 1u);
  EXPECT_EQ(inventory[0].state(), "revoked");
  EXPECT_EQ(inventory[0].purpose(), "agent identity");
  EXPECT_THAT(inventory[0].revoke_reason(), HasSubstr("key copied to a laptop"));
  EXPECT_EQ(inventory[0].sha256_fingerprint().size(), 64u);

  // Everything is revoked already: a second call has nothing left to do.
  topos::v1::RevokeCertificateResponse second;
  ASSERT_TRUE(Revoke("", kHost, &second).ok());
  EXPECT_EQ(second.revoked_serials_size(), 0);
}

TEST_F(RevocationTest, RevokingTheIdentityBySerialCutsTheStreamToo) {
  ASSERT_TRUE(EnrollHost(kHost).ok());
  auto link = StartLink(kHost);
  ASSERT_TRUE(Eventually([&] { return StatusOf(kHost) == "online"; }));
  topos::v1::RevokeCertificateResponse response;
  ASSERT_TRUE(Revoke(IdentitySerial(kHost), "", &response).ok());
  EXPECT_TRUE(response.stream_cut());
  EXPECT_EQ(link->Wait().code(), Status::Code::kPermissionDenied);
}

TEST_F(RevocationTest, BadRevocationsAreRefusedSayingWhy) {
  ASSERT_TRUE(EnrollHost(kHost).ok());
  const std::string serial = IdentitySerial(kHost);
  topos::v1::RevokeCertificateResponse response;

  grpc::Status both = Revoke(serial, kHost, &response);
  EXPECT_EQ(both.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(both.error_message(), HasSubstr("not both"));
  grpc::Status neither = Revoke("", "", &response);
  EXPECT_EQ(neither.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  grpc::Status garbage = Revoke("'; DROP TABLE certificates; --", "", &response);
  EXPECT_EQ(garbage.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(garbage.error_message(), HasSubstr("is not a certificate serial"));
  grpc::Status unknown = Revoke("abcdef0123", "", &response);
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::NOT_FOUND);
  grpc::Status no_host = Revoke("", "nowhere.contoso.test", &response);
  EXPECT_EQ(no_host.error_code(), grpc::StatusCode::NOT_FOUND);

  ASSERT_TRUE(Revoke(serial, "", &response).ok());
  grpc::Status twice = Revoke(serial, "", &response);
  EXPECT_EQ(twice.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(twice.error_message(), HasSubstr("already revoked"));
}

TEST_F(RevocationTest, InventoryFiltersByExpiryWindow) {
  ASSERT_TRUE(EnrollHost(kHost).ok());
  ASSERT_TRUE(EnrollHost("chat02.contoso.test").ok());
  topos::v1::ListCertificatesRequest request;
  request.set_expiring_within_seconds(3600);  // agent identities live days, not an hour
  topos::v1::ListCertificatesResponse soon;
  auto context = Context();
  ASSERT_TRUE(AdminStub()->ListCertificates(context.get(), request, &soon).ok());
  EXPECT_EQ(soon.certificates_size(), 0);
  request.set_expiring_within_seconds(400LL * 24 * 3600);
  topos::v1::ListCertificatesResponse year;
  auto context2 = Context();
  ASSERT_TRUE(AdminStub()->ListCertificates(context2.get(), request, &year).ok());
  int identities = 0;
  for (const auto& item : year.certificates()) identities += item.purpose() == "agent identity";
  EXPECT_EQ(identities, 2);
  request.set_expiring_within_seconds(-5);
  topos::v1::ListCertificatesResponse bad;
  auto context3 = Context();
  EXPECT_EQ(AdminStub()->ListCertificates(context3.get(), request, &bad).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace topos::testing
