// The certificate inventory: every certificate with its state, and the
// filters of `toposctl certs list`.
#include "controller/certificates/certificate_inventory.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace topos::controller {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const TimePoint kNow = TimePoint(std::chrono::seconds(1'800'000'000));
constexpr auto kDay = std::chrono::hours(24);

CertificateRecord Identity(const std::string& serial, const std::string& host, TimePoint not_after) {
  CertificateRecord record;
  record.serial = serial;
  record.subject = host;
  record.purpose = CertificatePurpose::kAgentIdentity;
  record.fingerprint = std::string(64, 'f');
  record.not_after = not_after;
  record.pem = "not a certificate";  // still listed, without names
  return record;
}

CertificateRequestRecord Service(const std::string& id, const std::string& host,
                                 CertificateRequestState state, const std::string& serial = "",
                                 TimePoint not_after = TimePoint()) {
  CertificateRequestRecord request;
  request.id = id;
  request.host_fqdn = host;
  request.service = "pchat";
  request.names = {host, "chatpool.example.test"};
  request.state = state;
  request.serial = serial;
  if (state == CertificateRequestState::kIssued) request.not_after = not_after;
  return request;
}

std::vector<std::string> Serials(const std::vector<v1::CertificateInventoryItem>& items) {
  std::vector<std::string> serials;
  for (const auto& item : items) serials.push_back(item.serial().empty() ? item.request_id() : item.serial());
  return serials;
}

class CertificateInventory : public ::testing::Test {
 protected:
  void SetUp() override {
    auto revoked = Identity("0b", "chat02.example.test", kNow + 5 * kDay);
    revoked.revoked_at = kNow - kDay;
    revoked.revoke_reason = "key leaked";
    certificates_ = {Identity("0a", "chat01.example.test", kNow + 6 * kDay), revoked,
                     Identity("0c", "fe01.example.test", kNow - kDay)};  // expired
    CertificateRecord operator_cert = Identity("0d", "admin", kNow + 300 * kDay);
    operator_cert.purpose = CertificatePurpose::kOperator;
    certificates_.push_back(operator_cert);
    requests_ = {Service("r1", "chat01.example.test", CertificateRequestState::kIssued, "1a", kNow + 2 * kDay),
                 Service("r2", "chat02.example.test", CertificateRequestState::kPending),
                 Service("r3", "fe01.example.test", CertificateRequestState::kDenied)};
    requests_[2].reason = "name not granted";
    pools_ = {{"chat", {"chat01.example.test", "chat02.example.test"}}, {"fe", {"fe01.example.test"}}};
  }

  std::vector<v1::CertificateInventoryItem> List(const v1::ListCertificatesRequest& request) {
    auto items = FilterCertificateInventory(BuildCertificateInventory(certificates_, requests_, kNow),
                                            request, pools_, kNow);
    EXPECT_TRUE(items.ok()) << items.status().message();
    return items.ok() ? *items : std::vector<v1::CertificateInventoryItem>{};
  }

  std::vector<CertificateRecord> certificates_;
  std::vector<CertificateRequestRecord> requests_;
  std::map<std::string, std::set<std::string>> pools_;
};

TEST_F(CertificateInventory, ListsEveryCertificateSoonestExpiryFirstWithItsState) {
  auto items = List({});
  // Expired, service (2 days), revoked (5), identity (6), operator (300),
  // then the requests never issued.
  EXPECT_THAT(Serials(items), ElementsAre("0c", "1a", "0b", "0a", "0d", "r2", "r3"));
  std::map<std::string, std::string> states;
  for (const auto& item : items) states[item.serial().empty() ? item.request_id() : item.serial()] = item.state();
  EXPECT_EQ(states["0c"], "expired");
  EXPECT_EQ(states["1a"], "issued");
  EXPECT_EQ(states["0b"], "revoked");
  EXPECT_EQ(states["r2"], "pending");
  EXPECT_EQ(states["r3"], "denied");
  EXPECT_EQ(items[1].purpose(), "service pchat");
  EXPECT_THAT(items[1].names(), ElementsAre("chat01.example.test", "chatpool.example.test"));
  EXPECT_EQ(items[2].revoke_reason(), "key leaked");
  EXPECT_EQ(items[3].purpose(), "agent identity");
  EXPECT_EQ(items[3].host_fqdn(), "chat01.example.test");
  EXPECT_EQ(items[4].purpose(), "operator");
  EXPECT_EQ(items[4].host_fqdn(), "");
}

TEST_F(CertificateInventory, ExpiringWithinKeepsOnlyLiveCertificatesInTheWindow) {
  v1::ListCertificatesRequest request;
  request.set_expiring_within_seconds(std::chrono::seconds(6 * kDay).count());
  // Not the expired, revoked, pending or denied ones; 6 days is inclusive.
  EXPECT_THAT(Serials(List(request)), ElementsAre("1a", "0a"));
  request.set_expiring_within_seconds(std::chrono::seconds(kDay).count());
  EXPECT_TRUE(List(request).empty());
}

TEST_F(CertificateInventory, HostAndPoolFilters) {
  v1::ListCertificatesRequest by_host;
  by_host.set_host_fqdn("chat01.example.test");
  EXPECT_THAT(Serials(List(by_host)), ElementsAre("1a", "0a"));
  v1::ListCertificatesRequest by_pool;
  by_pool.set_pool("fe");
  EXPECT_THAT(Serials(List(by_pool)), ElementsAre("0c", "r3"));
}

TEST_F(CertificateInventory, RefusesAnUnknownPoolAndANegativeWindow) {
  v1::ListCertificatesRequest request;
  request.set_pool("nope");
  auto unknown = FilterCertificateInventory({}, request, pools_, kNow);
  EXPECT_EQ(unknown.status().code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(unknown.status().message(), HasSubstr("pools: chat, fe"));
  v1::ListCertificatesRequest negative;
  negative.set_expiring_within_seconds(-1);
  EXPECT_EQ(FilterCertificateInventory({}, negative, pools_, kNow).status().code(),
            Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace topos::controller
