// CrlPublisher over a real SqliteStore: the CRL lists what the store has
// revoked, its number increases and survives a restart, it is re-signed
// once half of its validity has passed (by Refresh and by the background
// thread), and a failed write leaves the previous CRL published.
#include "controller/ca/crl_publisher.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "certs/crl.h"
#include "common/file_io.h"
#include "controller/store/sqlite_store.h"

namespace topos {
namespace {

namespace tc = topos::controller;
using std::chrono::hours;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Stored times have seconds precision. kT0 is 2023-11-14T22:13:20Z.
const tc::TimePoint kT0{seconds(1'700'000'000)};
constexpr seconds kHalfValidity = tc::kCrlValidity / 2;  // 3.5 days

std::vector<std::string> Serials(const certs::CrlInfo& info) {
  std::vector<std::string> serials;
  for (const auto& entry : info.revoked) serials.push_back(entry.serial_hex);
  return serials;
}

class CrlPublisherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device random;
    dir_ = std::filesystem::temp_directory_path() /
           ("topos-crl-publisher-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name() + "-" +
            std::to_string(random()));
    ASSERT_TRUE(std::filesystem::create_directories(dir_ / "ca"));
    crl_file_ = dir_ / "ca" / "crl.pem";
    auto store = tc::SqliteStore::Open(dir_ / "topos.db");
    ASSERT_TRUE(store.ok()) << store.status().message();
    store_ = std::move(store).value();
    auto ca = certs::CertificateAuthority::Create("Topos Test CA");
    ASSERT_TRUE(ca.ok()) << ca.status().message();
    ca_ = std::make_unique<certs::CertificateAuthority>(std::move(ca).value());
  }

  void TearDown() override {
    store_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  void InsertCertificate(const std::string& serial) {
    tc::CertificateRecord certificate;
    certificate.serial = serial;
    certificate.subject = "alice";
    certificate.purpose = tc::CertificatePurpose::kOperator;
    certificate.fingerprint = "fp-" + serial;
    certificate.issued_at = kT0;
    certificate.not_after = kT0 + hours(24 * 30);
    certificate.pem = "pem-" + serial;
    Status status = store_->InsertCertificate(certificate);
    ASSERT_TRUE(status.ok()) << status.message();
  }

  void Revoke(const std::string& serial, tc::TimePoint at) {
    Status status = store_->RevokeCertificate(serial, at, "test");
    ASSERT_TRUE(status.ok()) << status.message();
  }

  std::unique_ptr<tc::CrlPublisher> NewPublisher(
      tc::CrlPublisher::Clock clock = [] { return kT0; },
      std::chrono::milliseconds interval = tc::kCrlCheckInterval) {
    return std::make_unique<tc::CrlPublisher>(*store_, *ca_, crl_file_, std::move(clock),
                                              interval);
  }

  certs::CrlInfo MustParse(const std::string& pem) {
    Status verified = certs::VerifyCrl(pem, ca_->certificate());
    EXPECT_TRUE(verified.ok()) << verified.message();
    auto info = certs::ParseCrl(pem);
    EXPECT_TRUE(info.ok()) << info.status().message();
    return info.ok() ? *info : certs::CrlInfo{};
  }

  std::filesystem::path dir_;
  std::filesystem::path crl_file_;
  std::unique_ptr<tc::SqliteStore> store_;
  std::unique_ptr<certs::CertificateAuthority> ca_;
};

TEST_F(CrlPublisherTest, RefreshListsTheStoresRevokedSerialsWithTheirDates) {
  InsertCertificate("5d5c3f6493ecef06871d06487aa482ab");
  InsertCertificate("6e6c3f6493ecef06871d06487aa482ab");
  auto publisher = NewPublisher();
  EXPECT_TRUE(publisher->Current().pem.empty());
  EXPECT_TRUE(publisher->DueForResign(kT0));

  ASSERT_TRUE(publisher->Refresh(kT0).ok());
  certs::CrlInfo empty = MustParse(publisher->Current().pem);
  EXPECT_THAT(empty.revoked, IsEmpty());

  Revoke("5d5c3f6493ecef06871d06487aa482ab", kT0 + seconds(100));
  ASSERT_TRUE(publisher->Refresh(kT0 + seconds(200)).ok());
  tc::PublishedCrl crl = publisher->Current();
  certs::CrlInfo info = MustParse(crl.pem);
  EXPECT_THAT(Serials(info), ElementsAre("5d5c3f6493ecef06871d06487aa482ab"));
  EXPECT_EQ(info.revoked[0].revoked_at, kT0 + seconds(100));
  EXPECT_EQ(crl.entries, 1u);
  EXPECT_EQ(info.issuer_common_name, "Topos Test CA");
  // Backdated against clock skew; valid for a week from the signing.
  EXPECT_EQ(info.this_update, kT0 + seconds(200) - tc::kCrlClockSkew);
  EXPECT_EQ(info.next_update, kT0 + seconds(200) + tc::kCrlValidity);
  EXPECT_EQ(crl.next_update, info.next_update);

  // The file holds the same CRL, world-readable.
  auto file = ReadFile(crl_file_, certs::kMaxCrlPemBytes);
  ASSERT_TRUE(file.ok()) << file.status().message();
  EXPECT_EQ(*file, crl.pem);
  EXPECT_EQ(std::filesystem::status(crl_file_).permissions() & std::filesystem::perms::all,
            std::filesystem::perms(0644));
}

TEST_F(CrlPublisherTest, NumberIncreasesOnEveryRefreshAndSurvivesARestart) {
  {
    auto publisher = NewPublisher();
    ASSERT_TRUE(publisher->Refresh(kT0).ok());
    EXPECT_EQ(publisher->Current().number, 1u);
    ASSERT_TRUE(publisher->Refresh(kT0 + seconds(1)).ok());
    EXPECT_EQ(publisher->Current().number, 2u);
    EXPECT_EQ(MustParse(publisher->Current().pem).number, 2u);
  }
  auto restarted = NewPublisher();
  tc::PublishedCrl loaded = restarted->Current();
  EXPECT_EQ(loaded.number, 2u);
  EXPECT_FALSE(loaded.pem.empty());
  EXPECT_EQ(loaded.next_update, kT0 + seconds(1) + tc::kCrlValidity);
  EXPECT_FALSE(restarted->DueForResign(kT0 + seconds(2)));
  ASSERT_TRUE(restarted->Refresh(kT0 + seconds(2)).ok());
  EXPECT_EQ(restarted->Current().number, 3u);
}

TEST_F(CrlPublisherTest, RestartKeepsACurrentCrlAndReSignsAStaleOne) {
  InsertCertificate("5d5c3f6493ecef06871d06487aa482ab");
  InsertCertificate("6e6c3f6493ecef06871d06487aa482ab");
  Revoke("5d5c3f6493ecef06871d06487aa482ab", kT0);
  std::string first;
  {
    auto publisher = NewPublisher();
    bool signed_now = false;
    ASSERT_TRUE(publisher->RefreshIfStale(kT0, &signed_now).ok());  // no file yet
    EXPECT_TRUE(signed_now);
    first = publisher->Current().pem;
  }
  {
    // Nothing revoked meanwhile, not due: the same CRL, so the same trust
    // generation for every agent.
    auto restarted = NewPublisher();
    bool signed_now = true;
    ASSERT_TRUE(restarted->RefreshIfStale(kT0 + hours(1), &signed_now).ok());
    EXPECT_FALSE(signed_now);
    EXPECT_EQ(restarted->Current().pem, first);
    EXPECT_EQ(restarted->Current().number, 1u);
  }
  // A revocation recorded but not published before the stop (a crash).
  Revoke("6e6c3f6493ecef06871d06487aa482ab", kT0 + hours(2));
  {
    auto restarted = NewPublisher();
    bool signed_now = false;
    ASSERT_TRUE(restarted->RefreshIfStale(kT0 + hours(3), &signed_now).ok());
    EXPECT_TRUE(signed_now);
    EXPECT_THAT(Serials(MustParse(restarted->Current().pem)),
                ElementsAre("5d5c3f6493ecef06871d06487aa482ab", "6e6c3f6493ecef06871d06487aa482ab"));
    EXPECT_EQ(restarted->Current().number, 2u);
  }
  {
    // Half of its validity gone: re-signed even with nothing new.
    auto restarted = NewPublisher();
    bool signed_now = false;
    ASSERT_TRUE(
        restarted->RefreshIfStale(kT0 + hours(3) + kHalfValidity + seconds(1), &signed_now).ok());
    EXPECT_TRUE(signed_now);
    EXPECT_EQ(restarted->Current().number, 3u);
  }
}

TEST_F(CrlPublisherTest, CorruptOrForeignFileIsReplaced) {
  std::ofstream(crl_file_) << "not a CRL";
  auto publisher = NewPublisher();
  EXPECT_TRUE(publisher->Current().pem.empty());
  EXPECT_TRUE(publisher->DueForResign(kT0));
  ASSERT_TRUE(publisher->Refresh(kT0).ok());
  EXPECT_EQ(publisher->Current().number, 1u);

  // A CRL of another CA is not continued either.
  auto other = certs::CertificateAuthority::Create("Other CA");
  ASSERT_TRUE(other.ok());
  auto foreign = certs::SignCrl(*other, {}, kT0, kT0 + hours(1), 77);
  ASSERT_TRUE(foreign.ok());
  std::ofstream(crl_file_, std::ios::trunc) << *foreign;
  auto second = NewPublisher();
  EXPECT_TRUE(second->Current().pem.empty());
  ASSERT_TRUE(second->Refresh(kT0).ok());
  EXPECT_EQ(second->Current().number, 1u);
  MustParse(second->Current().pem);
}

TEST_F(CrlPublisherTest, DueHalfwayThroughValidityAndRefreshMovesNextUpdate) {
  auto publisher = NewPublisher();
  ASSERT_TRUE(publisher->Refresh(kT0).ok());
  const tc::PublishedCrl first = publisher->Current();
  EXPECT_FALSE(publisher->DueForResign(kT0));
  EXPECT_FALSE(publisher->DueForResign(kT0 + seconds(1)));
  EXPECT_FALSE(publisher->DueForResign(kT0 + kHalfValidity));
  const tc::TimePoint due = kT0 + kHalfValidity + seconds(1);  // 3.5 days + 1 s after signing
  EXPECT_TRUE(publisher->DueForResign(due));
  EXPECT_TRUE(publisher->DueForResign(first.next_update + seconds(1)));  // expired, certainly

  ASSERT_TRUE(publisher->Refresh(due).ok());
  const tc::PublishedCrl second = publisher->Current();
  EXPECT_EQ(second.next_update, due + tc::kCrlValidity);
  EXPECT_GT(second.next_update, first.next_update);
  EXPECT_EQ(second.number, first.number + 1);
  EXPECT_FALSE(publisher->DueForResign(due + seconds(1)));
}

TEST_F(CrlPublisherTest, BackgroundThreadSignsAtStartAndReSignsWhenDue) {
  std::atomic<std::int64_t> now_seconds{1'700'000'000};
  auto clock = [&now_seconds] { return tc::TimePoint(seconds(now_seconds.load())); };
  auto publisher = NewPublisher(clock, std::chrono::milliseconds(5));
  auto wait_for_number = [&](std::uint64_t number) {
    const auto deadline = std::chrono::steady_clock::now() + seconds(5);
    while (publisher->Current().number < number && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return publisher->Current().number;
  };
  publisher->Start();
  EXPECT_EQ(wait_for_number(1), 1u);  // no CRL yet: signed at once

  now_seconds += kHalfValidity.count() + 1;
  EXPECT_EQ(wait_for_number(2), 2u);
  EXPECT_EQ(publisher->Current().next_update, clock() + tc::kCrlValidity);
  publisher->Stop();
  publisher->Stop();  // idempotent
}

TEST_F(CrlPublisherTest, FailedWriteKeepsThePreviousCrl) {
  InsertCertificate("01");
  auto publisher = NewPublisher();
  ASSERT_TRUE(publisher->Refresh(kT0).ok());
  const std::string before = publisher->Current().pem;

  Revoke("01", kT0 + seconds(5));
  std::filesystem::remove_all(dir_ / "ca");
  Status failed = publisher->Refresh(kT0 + seconds(10));
  EXPECT_EQ(failed.code(), Status::Code::kInternal);
  EXPECT_THAT(failed.message(), HasSubstr("crl.pem"));
  EXPECT_EQ(publisher->Current().pem, before);
  EXPECT_EQ(publisher->Current().number, 1u);

  std::filesystem::create_directories(dir_ / "ca");
  ASSERT_TRUE(publisher->Refresh(kT0 + seconds(20)).ok());
  EXPECT_EQ(publisher->Current().number, 2u);
  EXPECT_THAT(Serials(MustParse(publisher->Current().pem)), ElementsAre("01"));
}

}  // namespace
}  // namespace topos
