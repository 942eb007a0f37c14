// Artifacts end to end over real mutual TLS: an operator pushes a tarball
// through the admin API, an enrolled agent's ArtifactCache fetches it,
// resumes a partial download, verifies the digest and serves it from cache.
#include <gmock/gmock.h>

#include <atomic>
#include <fstream>
#include <random>
#include <thread>

#include "agent/artifacts/artifact_cache.h"
#include "agent/state/agent_state.h"
#include "certs/certificate_authority.h"
#include "certs/crypto.h"
#include "certs/csr.h"
#include "certs/private_key.h"
#include "common/file_io.h"
#include "common/grpc_tls.h"
#include "controller/ca/certificate_issuer.h"
#include "controller/setup/data_dir.h"
#include "controller/store/sqlite_store.h"
#include "tests/integration/fleet_fixture.h"

namespace topos::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr char kHost[] = "chat01.contoso.test";
constexpr std::size_t kMiB = 1 << 20;

// Deterministic bytes that are not one repeated value.
std::string MakeContent(std::size_t size, unsigned seed) {
  std::mt19937 random(seed);
  std::string content(size, '\0');
  for (auto& c : content) c = static_cast<char>(random());
  return content;
}

std::size_t CountFiles(const fs::path& dir) {
  std::error_code error;
  if (!fs::exists(dir, error)) return 0;
  std::size_t n = 0;
  for (auto it = fs::directory_iterator(dir); it != fs::directory_iterator(); ++it) ++n;
  return n;
}

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteAll(const fs::path& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

class ArtifactTest : public FleetTest {
 protected:
  void SetUp() override {
    FleetTest::SetUp();
    content_ = MakeContent(3 * kMiB + 12345, 7);
    digest_ = certs::Sha256Hex(content_);
  }

  topos::v1::ArtifactInfo HeaderFor(const std::string& content,
                                    const std::string& version = "6.0.9319") {
    topos::v1::ArtifactInfo header;
    header.set_service("topos-pchat");
    header.set_version(version);
    header.set_size(content.size());
    header.set_sha256(certs::Sha256Hex(content));
    header.set_file_name("topos-pchat-" + version + ".tar.gz");
    return header;
  }

  // Sends `messages` as one PushArtifact call.
  static grpc::Status PushMessages(topos::v1::AdminService::Stub& stub,
                                   const std::vector<topos::v1::PushArtifactChunk>& messages,
                                   topos::v1::PushArtifactResponse* response) {
    auto context = Context();
    auto writer = stub.PushArtifact(context.get(), response);
    for (const auto& message : messages) {
      if (!writer->Write(message)) break;
    }
    writer->WritesDone();
    return writer->Finish();
  }

  static std::vector<topos::v1::PushArtifactChunk> Messages(
      const topos::v1::ArtifactInfo& header, const std::string& content) {
    std::vector<topos::v1::PushArtifactChunk> messages(1);
    *messages[0].mutable_header() = header;
    for (std::size_t at = 0; at < content.size(); at += kMiB) {
      messages.emplace_back().set_data(content.substr(at, kMiB));
    }
    return messages;
  }

  grpc::Status Push(const std::string& content, topos::v1::PushArtifactResponse* response,
                    const std::string& version = "6.0.9319") {
    return PushMessages(*AdminStub(), Messages(HeaderFor(content, version), content), response);
  }

  // The enrolled agent's own stub (its identity certificate).
  std::unique_ptr<topos::v1::AgentService::Stub> AgentStub() {
    auto state = agent::StateDir(StateDirOf(kHost)).Load();
    EXPECT_TRUE(state.ok()) << state.status().message();
    return topos::v1::AgentService::NewStub(
        MakeChannel(address(), MakeMutualTlsCredentials(state->identity), true));
  }

  fs::path CacheDir() const { return StateDirOf(kHost) / "artifacts"; }

  std::string content_;
  std::string digest_;
};

TEST_F(ArtifactTest, PushedArtifactIsFetchedVerifiedAndThenServedFromCache) {
  topos::v1::PushArtifactResponse pushed;
  grpc::Status status = Push(content_, &pushed);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(pushed.already_present());
  EXPECT_EQ(pushed.artifact().sha256(), digest_);
  EXPECT_EQ(pushed.artifact().size(), content_.size());
  EXPECT_EQ(pushed.artifact().pushed_by(), "admin");

  topos::v1::ListArtifactsRequest list_request;
  list_request.set_service("topos-pchat");
  topos::v1::ListArtifactsResponse listed;
  auto context = Context();
  ASSERT_TRUE(AdminStub()->ListArtifacts(context.get(), list_request, &listed).ok());
  ASSERT_EQ(listed.artifacts_size(), 1);
  EXPECT_EQ(listed.artifacts(0).sha256(), digest_);
  EXPECT_EQ(listed.artifacts(0).file_name(), "topos-pchat-6.0.9319.tar.gz");

  ASSERT_TRUE(EnrollHost(kHost).ok());
  agent::ArtifactCache cache(CacheDir());
  EXPECT_FALSE(cache.Has(digest_));
  auto stub = AgentStub();
  auto fetched = cache.Fetch(*stub, digest_, content_.size());
  ASSERT_TRUE(fetched.ok()) << fetched.status().message();
  EXPECT_EQ(*fetched, CacheDir() / digest_);
  EXPECT_EQ(ReadAll(*fetched), content_);
  EXPECT_TRUE(cache.Has(digest_));
  EXPECT_FALSE(fs::exists(CacheDir() / (digest_ + ".partial")));

  // Served from the cache: no controller needed.
  StopController();
  auto again = cache.Fetch(*stub, digest_, content_.size());
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(*again, *fetched);
}

TEST_F(ArtifactTest, FetchResumesFromAPartialDownload) {
  topos::v1::PushArtifactResponse pushed;
  ASSERT_TRUE(Push(content_, &pushed).ok());
  ASSERT_TRUE(EnrollHost(kHost).ok());
  agent::ArtifactCache cache(CacheDir());
  WriteAll(CacheDir() / (digest_ + ".partial"), std::string_view(content_).substr(0, kMiB));
  auto stub = AgentStub();
  auto fetched = cache.Fetch(*stub, digest_, content_.size());
  ASSERT_TRUE(fetched.ok()) << fetched.status().message();
  EXPECT_EQ(*agent::Sha256OfFile(*fetched), digest_);
  EXPECT_EQ(fs::file_size(*fetched), content_.size());
}

TEST_F(ArtifactTest, CorruptPartialFailsVerificationAndLeavesNothingInTheCache) {
  topos::v1::PushArtifactResponse pushed;
  ASSERT_TRUE(Push(content_, &pushed).ok());
  ASSERT_TRUE(EnrollHost(kHost).ok());
  agent::ArtifactCache cache(CacheDir());
  std::string wrong = content_;
  wrong[100] = static_cast<char>(wrong[100] ^ 0xff);
  WriteAll(CacheDir() / (digest_ + ".partial"), std::string_view(wrong).substr(0, kMiB));
  auto stub = AgentStub();
  auto fetched = cache.Fetch(*stub, digest_, content_.size());
  ASSERT_FALSE(fetched.ok());
  EXPECT_EQ(fetched.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_THAT(fetched.status().message(), HasSubstr(digest_));
  EXPECT_THAT(fetched.status().message(), HasSubstr(certs::Sha256Hex(wrong)));
  EXPECT_EQ(CountFiles(CacheDir()), 0u);
  EXPECT_FALSE(cache.Has(digest_));

  // The next fetch starts over and succeeds.
  auto retried = cache.Fetch(*stub, digest_, content_.size());
  ASSERT_TRUE(retried.ok()) << retried.status().message();
  EXPECT_EQ(ReadAll(*retried), content_);
}

TEST_F(ArtifactTest, FetchGivesUpAfterMaxAttemptsAndCanBeCancelled) {
  ASSERT_TRUE(EnrollHost(kHost).ok());
  auto stub = AgentStub();
  StopController();
  agent::ArtifactCache cache(CacheDir());
  auto unreachable = cache.Fetch(*stub, digest_, content_.size(), 3);
  EXPECT_EQ(unreachable.status().code(), Status::Code::kUnavailable);
  EXPECT_EQ(CountFiles(CacheDir()), 0u) << "a failed fetch with no bytes leaves no file";

  // Cancelling ends a fetch that would otherwise keep retrying.
  std::atomic<bool> cancel{false};
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    cancel = true;
  });
  auto started = std::chrono::steady_clock::now();
  auto cancelled = cache.Fetch(*stub, digest_, content_.size(), 1000, &cancel);
  canceller.join();
  EXPECT_FALSE(cancelled.ok());
  EXPECT_THAT(cancelled.status().message(), HasSubstr("cancelled"));
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
}

TEST_F(ArtifactTest, FetchRefusesUnknownAndMalformedDigests) {
  ASSERT_TRUE(EnrollHost(kHost).ok());
  auto stub = AgentStub();
  agent::ArtifactCache cache(CacheDir());
  auto unknown = cache.Fetch(*stub, digest_, content_.size());
  EXPECT_EQ(unknown.status().code(), Status::Code::kNotFound) << unknown.status().message();
  EXPECT_EQ(CountFiles(CacheDir()), 0u);
  EXPECT_EQ(cache.Fetch(*stub, "not-a-digest", 10).status().code(),
            Status::Code::kInvalidArgument);

  // The controller checks too, whatever the client does.
  for (const std::string& bad : {std::string("not-a-digest"), std::string(64, 'A'),
                                 std::string(63, 'a'), std::string("")}) {
    topos::v1::FetchArtifactRequest request;
    request.set_sha256(bad);
    auto context = Context();
    auto reader = stub->FetchArtifact(context.get(), request);
    topos::v1::ArtifactChunk chunk;
    EXPECT_FALSE(reader->Read(&chunk));
    grpc::Status status = reader->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
    EXPECT_THAT(status.error_message(), HasSubstr("64 lowercase hex"));
  }
  topos::v1::FetchArtifactRequest request;
  request.set_sha256(digest_);
  auto context = Context();
  auto reader = stub->FetchArtifact(context.get(), request);
  topos::v1::ArtifactChunk chunk;
  EXPECT_FALSE(reader->Read(&chunk));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ArtifactTest, FetchStreamsFromTheOffsetAndRefusesOffsetsPastTheEnd) {
  topos::v1::PushArtifactResponse pushed;
  ASSERT_TRUE(Push(content_, &pushed).ok());
  ASSERT_TRUE(EnrollHost(kHost).ok());
  auto stub = AgentStub();
  {
    topos::v1::FetchArtifactRequest request;
    request.set_sha256(digest_);
    request.set_offset(content_.size() - 10);
    auto context = Context();
    auto reader = stub->FetchArtifact(context.get(), request);
    topos::v1::ArtifactChunk chunk;
    ASSERT_TRUE(reader->Read(&chunk));
    EXPECT_EQ(chunk.offset(), content_.size() - 10);
    EXPECT_EQ(chunk.total_size(), content_.size());
    EXPECT_EQ(chunk.data(), content_.substr(content_.size() - 10));
    EXPECT_FALSE(reader->Read(&chunk));
    EXPECT_TRUE(reader->Finish().ok());
  }
  topos::v1::FetchArtifactRequest request;
  request.set_sha256(digest_);
  request.set_offset(content_.size() + 1);
  auto context = Context();
  auto reader = stub->FetchArtifact(context.get(), request);
  topos::v1::ArtifactChunk chunk;
  EXPECT_FALSE(reader->Read(&chunk));
  grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_THAT(status.error_message(), HasSubstr("past the end"));
}

TEST_F(ArtifactTest, FetchIsForAgentsOnly) {
  topos::v1::PushArtifactResponse pushed;
  ASSERT_TRUE(Push(content_, &pushed).ok());
  TlsIdentity admin{*ReadFile(data_dir_ / "admin" / "ca.pem"),
                    *ReadFile(data_dir_ / "admin" / "cert.pem"),
                    *ReadFile(data_dir_ / "admin" / "key.pem")};
  auto stub = topos::v1::AgentService::NewStub(
      MakeChannel(address(), MakeMutualTlsCredentials(admin), true));
  topos::v1::FetchArtifactRequest request;
  request.set_sha256(digest_);
  auto context = Context();
  auto reader = stub->FetchArtifact(context.get(), request);
  topos::v1::ArtifactChunk chunk;
  EXPECT_FALSE(reader->Read(&chunk));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(ArtifactTest, SamePushTwiceIsAlreadyPresentAndOtherContentIsRefused) {
  topos::v1::PushArtifactResponse first;
  ASSERT_TRUE(Push(content_, &first).ok());
  topos::v1::PushArtifactResponse second;
  grpc::Status status = Push(content_, &second);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(second.already_present());
  EXPECT_EQ(second.artifact().sha256(), digest_);

  const std::string other = MakeContent(kMiB + 7, 8);
  topos::v1::PushArtifactResponse refused;
  status = Push(other, &refused);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_THAT(status.error_message(), HasSubstr(digest_));
  // Without a declared digest the refusal comes after the upload, still
  // leaving nothing behind.
  auto header = HeaderFor(other);
  header.clear_sha256();
  status = PushMessages(*AdminStub(), Messages(header, other), &refused);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(CountFiles(data_dir_ / "artifacts" / "sha256"), 1u);
  EXPECT_EQ(CountFiles(data_dir_ / "artifacts" / "tmp"), 0u);
}

TEST_F(ArtifactTest, PushWithWrongDeclaredDigestStoresNothing) {
  auto header = HeaderFor(content_);
  header.set_sha256(certs::Sha256Hex("something else"));
  topos::v1::PushArtifactResponse response;
  grpc::Status status = PushMessages(*AdminStub(), Messages(header, content_), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr(digest_));
  EXPECT_THAT(status.error_message(), HasSubstr(certs::Sha256Hex("something else")));
  topos::v1::ListArtifactsResponse listed;
  auto context = Context();
  ASSERT_TRUE(AdminStub()->ListArtifacts(context.get(), {}, &listed).ok());
  EXPECT_EQ(listed.artifacts_size(), 0);
  EXPECT_EQ(CountFiles(data_dir_ / "artifacts" / "sha256"), 0u);
  EXPECT_EQ(CountFiles(data_dir_ / "artifacts" / "tmp"), 0u);
}

TEST_F(ArtifactTest, PushRefusesMessagesThatBreakTheProtocol) {
  const std::string small = "0123456789";
  struct Case {
    std::string what;
    std::vector<topos::v1::PushArtifactChunk> messages;
    std::string expect;
  };
  std::vector<Case> cases;
  {
    std::vector<topos::v1::PushArtifactChunk> m(1);
    m[0].set_data(small);
    cases.push_back({"data before header", m, "first message"});
  }
  {
    auto m = Messages(HeaderFor(small), small);
    m[0].set_data("x");
    cases.push_back({"header with data", m, "only the header"});
  }
  {
    auto m = Messages(HeaderFor(small), small);
    *m.emplace_back().mutable_header() = HeaderFor(small);
    cases.push_back({"second header", m, "second"});
  }
  {
    auto m = Messages(HeaderFor(small), small);
    m.emplace_back().set_data("more");
    cases.push_back({"more than declared", m, "declared size"});
  }
  {
    const std::string big(kMiB + 1, 'b');
    cases.push_back({"chunk over 1 MiB", Messages(HeaderFor(big), "") , "1 MiB"});
    cases.back().messages.emplace_back().set_data(big);
  }
  {
    auto m = Messages(HeaderFor(small), small.substr(0, 5));
    cases.push_back({"fewer than declared", m, "received 5 bytes"});
  }
  cases.push_back({"no messages", {}, "header"});
  {
    auto header = HeaderFor(small);
    header.set_service("Bad Name");
    cases.push_back({"bad service", Messages(header, small), "service name"});
  }
  for (const auto& c : cases) {
    topos::v1::PushArtifactResponse response;
    grpc::Status status = PushMessages(*AdminStub(), c.messages, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.what;
    EXPECT_THAT(status.error_message(), HasSubstr(c.expect)) << c.what;
  }
  EXPECT_EQ(CountFiles(data_dir_ / "artifacts" / "sha256"), 0u);
  EXPECT_EQ(CountFiles(data_dir_ / "artifacts" / "tmp"), 0u);
}

TEST_F(ArtifactTest, PushNeedsTheDeployerRoleListingAnyRole) {
  // A second operator who may only read.
  StopController();
  {
    auto store = controller::SqliteStore::Open(data_dir_ / "topos.db");
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->UpsertOperator("viewer", {"viewer"}).ok());
  }
  auto data = controller::LoadDataDir(data_dir_);
  ASSERT_TRUE(data.ok());
  auto key = certs::PrivateKey::Generate();
  ASSERT_TRUE(key.ok());
  auto csr = certs::Csr::Create(*key, "viewer", {});
  ASSERT_TRUE(csr.ok());
  certs::SigningPolicy policy;
  policy.common_name = "viewer";
  policy.organizational_unit = controller::kOperatorUnit;
  policy.usage = certs::Usage::kClient;
  auto cert = data->ca.Sign(*csr, policy);
  ASSERT_TRUE(cert.ok()) << cert.status().message();
  StartController();
  TlsIdentity viewer{data->ca.certificate().ToPem(), cert->ToPem(), key->ToPem()};
  auto stub =
      topos::v1::AdminService::NewStub(MakeChannel(address(), MakeMutualTlsCredentials(viewer), true));

  topos::v1::PushArtifactResponse response;
  grpc::Status status = PushMessages(*stub, Messages(HeaderFor(content_), content_), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(status.error_message(), HasSubstr("deployer"));
  EXPECT_EQ(CountFiles(data_dir_ / "artifacts" / "tmp"), 0u);

  topos::v1::ListArtifactsResponse listed;
  auto context = Context();
  status = stub->ListArtifacts(context.get(), {}, &listed);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

}  // namespace
}  // namespace topos::testing
