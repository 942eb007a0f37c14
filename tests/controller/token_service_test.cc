#include "controller/tokens/token_service.h"

#include <gtest/gtest.h>

#include <random>

#include "certs/crypto.h"
#include "controller/store/sqlite_store.h"

namespace topos::controller {
namespace {

class TokenServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("topos-tokens-" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(dir_);
    store_ = std::move(*SqliteStore::Open(dir_ / "topos.db"));
    tokens_ = std::make_unique<TokenService>(*store_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<TokenService> tokens_;
  TimePoint now_ = std::chrono::system_clock::now();
};

TEST_F(TokenServiceTest, TokenHas256BitSecretAndOnlyItsHashIsStored) {
  auto issued = tokens_->Create("chat01.contoso.test", kDefaultTokenTtl, "admin", now_);
  ASSERT_TRUE(issued.ok()) << issued.status().message();
  std::string secret = issued->token.substr(issued->token.find('.') + 1);
  EXPECT_EQ(secret.size(), 64u);  // 32 bytes, hex
  auto stored = store_->GetToken(issued->record.id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->secret_hash, certs::Sha256Hex(secret));
  EXPECT_EQ(stored->secret_hash.find(secret), std::string::npos);
  // Two tokens never share a secret.
  auto other = tokens_->Create("chat01.contoso.test", kDefaultTokenTtl, "admin", now_);
  EXPECT_NE(other->token, issued->token);
}

TEST_F(TokenServiceTest, AcceptsAFreshTokenForItsHost) {
  auto issued = tokens_->Create("chat01.contoso.test", kDefaultTokenTtl, "admin", now_);
  EXPECT_TRUE(tokens_->Check(issued->token, "chat01.contoso.test", now_).ok());
}

TEST_F(TokenServiceTest, RefusesWrongHostExpiredRevokedUsedAndForged) {
  auto issued = tokens_->Create("chat01.contoso.test", std::chrono::minutes(5), "admin", now_);
  auto wrong_host = tokens_->Check(issued->token, "chat02.contoso.test", now_);
  EXPECT_NE(wrong_host.status().message().find("is for host chat01.contoso.test"),
            std::string::npos);
  auto expired = tokens_->Check(issued->token, "chat01.contoso.test", now_ + std::chrono::minutes(6));
  EXPECT_NE(expired.status().message().find("expired"), std::string::npos);

  std::string forged = issued->token;
  forged.back() = forged.back() == '0' ? '1' : '0';
  auto forged_check = tokens_->Check(forged, "chat01.contoso.test", now_);
  EXPECT_EQ(forged_check.status().code(), Status::Code::kUnauthenticated);
  EXPECT_EQ(tokens_->Check("garbage", "chat01.contoso.test", now_).status().code(),
            Status::Code::kUnauthenticated);

  ASSERT_TRUE(store_->RevokeToken(issued->record.id, now_).ok());
  auto revoked = tokens_->Check(issued->token, "chat01.contoso.test", now_);
  EXPECT_NE(revoked.status().message().find("revoked"), std::string::npos);
}

TEST_F(TokenServiceTest, RefusesTtlOutOfRangeAndBadHost) {
  EXPECT_FALSE(tokens_->Create("chat01.contoso.test", std::chrono::seconds(10), "a", now_).ok());
  EXPECT_FALSE(tokens_->Create("chat01.contoso.test", std::chrono::hours(24 * 8), "a", now_).ok());
  EXPECT_FALSE(tokens_->Create("not a host", kDefaultTokenTtl, "a", now_).ok());
}

TEST_F(TokenServiceTest, StateReflectsLifecycle) {
  auto issued = tokens_->Create("chat01.contoso.test", std::chrono::minutes(5), "admin", now_);
  EXPECT_EQ(TokenService::StateOf(issued->record, now_), "unused");
  EXPECT_EQ(TokenService::StateOf(issued->record, now_ + std::chrono::hours(1)), "expired");
  TokenRecord used = issued->record;
  used.used_at = now_;
  EXPECT_EQ(TokenService::StateOf(used, now_), "used");
}

}  // namespace
}  // namespace topos::controller
