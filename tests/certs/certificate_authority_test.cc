#include "certs/certificate_authority.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/certs/test_util.h"

namespace topos::certs {
namespace {

using std::chrono::hours;
using std::chrono::seconds;
using std::chrono::system_clock;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

CertificateAuthority NewCa(const std::string& name = "Test Root CA",
                           KeyType type = KeyType::kEcdsaP256, seconds validity = hours(24 * 365)) {
  Result<CertificateAuthority> ca = CertificateAuthority::Create(name, type, validity);
  EXPECT_TRUE(ca.ok()) << ca.status().message();
  return std::move(ca).value();
}

Csr NewCsr(const std::vector<std::string>& dns = {"agent-1.example"},
           KeyType type = KeyType::kEcdsaP256) {
  Result<PrivateKey> key = PrivateKey::Generate(type);
  EXPECT_TRUE(key.ok());
  Result<Csr> csr = Csr::Create(*key, "whatever-the-host-says", dns);
  EXPECT_TRUE(csr.ok()) << csr.status().message();
  return std::move(csr).value();
}

SigningPolicy AgentPolicy(Usage usage = Usage::kClient) {
  SigningPolicy policy;
  policy.common_name = "agent-1";
  policy.organizational_unit = "agents";
  policy.allowed_dns_names = {"agent-1.example", "agent-1.internal"};
  policy.usage = usage;
  return policy;
}

Certificate MustSign(const CertificateAuthority& ca, const Csr& csr, const SigningPolicy& policy) {
  Result<Certificate> cert = ca.Sign(csr, policy);
  EXPECT_TRUE(cert.ok()) << cert.status().message();
  return std::move(cert).value();
}

TEST(CertificateAuthority, CreatesSelfSignedCa) {
  CertificateAuthority ca = NewCa();
  const Certificate& cert = ca.certificate();
  EXPECT_TRUE(cert.is_ca());
  EXPECT_EQ(cert.common_name(), "Test Root CA");
  EXPECT_EQ(cert.issuer_common_name(), "Test Root CA");
  EXPECT_TRUE(cert.MatchesKey(ca.key()));
  EXPECT_NEAR(std::chrono::duration<double>(cert.not_after() - system_clock::now()).count(),
              24 * 365 * 3600.0, 60);

  testing::TempDir dir;
  testing::CommandResult text = testing::RunCommand(
      "openssl x509 -noout -ext basicConstraints,keyUsage,subjectKeyIdentifier -in " +
      dir.Write("ca.pem", cert.ToPem()));
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_THAT(text.output, HasSubstr("X509v3 Basic Constraints: critical\n    CA:TRUE"));
  EXPECT_THAT(text.output, HasSubstr("X509v3 Key Usage: critical\n    Certificate Sign, CRL Sign"));
  EXPECT_THAT(text.output, HasSubstr("Subject Key Identifier"));
}

TEST(CertificateAuthority, RefusesBadCreateArguments) {
  EXPECT_FALSE(CertificateAuthority::Create("").ok());
  EXPECT_FALSE(CertificateAuthority::Create("x", KeyType::kEcdsaP256, seconds(0)).ok());
}

TEST(CertificateAuthority, LoadsWhatItSaved) {
  CertificateAuthority ca = NewCa();
  Result<CertificateAuthority> loaded =
      CertificateAuthority::Load(ca.certificate().ToPem(), ca.key().ToPem());
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->certificate().Sha256Fingerprint(), ca.certificate().Sha256Fingerprint());
  // The loaded CA issues certificates that chain to the original.
  Certificate cert = MustSign(*loaded, NewCsr(), AgentPolicy());
  EXPECT_TRUE(VerifyChain(cert, {ca.certificate()}, {}, Usage::kClient).ok());
}

TEST(CertificateAuthority, LoadRefusesMismatchedKey) {
  CertificateAuthority ca = NewCa();
  CertificateAuthority other = NewCa("Other CA");
  Result<CertificateAuthority> loaded =
      CertificateAuthority::Load(ca.certificate().ToPem(), other.key().ToPem());
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(loaded.status().message(), HasSubstr("does not match"));
}

TEST(CertificateAuthority, LoadRefusesNonCaCertificate) {
  CertificateAuthority ca = NewCa();
  Result<PrivateKey> key = PrivateKey::Generate();
  Certificate leaf = MustSign(ca, *Csr::Create(*key, "x", {}), AgentPolicy());
  Result<CertificateAuthority> loaded = CertificateAuthority::Load(leaf.ToPem(), key->ToPem());
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(loaded.status().message(), HasSubstr("is not a CA"));
}

TEST(CertificateAuthority, LoadNamesWhichInputIsBad) {
  CertificateAuthority ca = NewCa();
  Result<CertificateAuthority> bad_cert = CertificateAuthority::Load("junk", ca.key().ToPem());
  ASSERT_FALSE(bad_cert.ok());
  EXPECT_THAT(bad_cert.status().message(), HasSubstr("CA certificate: "));
  Result<CertificateAuthority> bad_key = CertificateAuthority::Load(ca.certificate().ToPem(), "");
  ASSERT_FALSE(bad_key.ok());
  EXPECT_THAT(bad_key.status().message(), HasSubstr("CA key: "));
}

TEST(CertificateAuthority, SubjectComesFromPolicyNotCsr) {
  CertificateAuthority ca = NewCa();
  Certificate cert = MustSign(ca, NewCsr({"agent-1.example"}), AgentPolicy());
  EXPECT_EQ(cert.common_name(), "agent-1");
  EXPECT_EQ(cert.organizational_unit(), "agents");
  EXPECT_EQ(cert.issuer_common_name(), "Test Root CA");
  EXPECT_THAT(cert.dns_names(), ElementsAre("agent-1.example"));  // not all allowed names
  EXPECT_FALSE(cert.is_ca());

  SigningPolicy no_ou = AgentPolicy();
  no_ou.organizational_unit.clear();
  EXPECT_EQ(MustSign(ca, NewCsr(), no_ou).organizational_unit(), "");
}

TEST(CertificateAuthority, RefusesNameOutsidePolicy) {
  CertificateAuthority ca = NewCa();
  Result<Certificate> cert = ca.Sign(NewCsr({"agent-1.example", "bank.example"}), AgentPolicy());
  ASSERT_FALSE(cert.ok());
  EXPECT_EQ(cert.status().code(), Status::Code::kPermissionDenied);
  EXPECT_THAT(cert.status().message(),
              HasSubstr("name \"bank.example\" is not allowed for this certificate"));
}

TEST(CertificateAuthority, RefusesIpOutsidePolicy) {
  CertificateAuthority ca = NewCa();
  Result<PrivateKey> key = PrivateKey::Generate();
  testing::TempDir dir;
  testing::CommandResult made =
      testing::RunCommand("openssl req -new -key " + dir.Write("key.pem", key->ToPem()) +
                          " -subj /CN=x -addext subjectAltName=IP:10.9.9.9");
  ASSERT_EQ(made.exit_code, 0) << made.output;
  Result<Csr> csr = Csr::FromPem(made.output);
  ASSERT_TRUE(csr.ok()) << csr.status().message();
  Result<Certificate> cert = ca.Sign(*csr, AgentPolicy());
  ASSERT_FALSE(cert.ok());
  EXPECT_THAT(cert.status().message(),
              HasSubstr("name \"10.9.9.9\" is not allowed for this certificate"));
}

TEST(CertificateAuthority, RefusesUnsupportedSanTypes) {
  CertificateAuthority ca = NewCa();
  Result<PrivateKey> key = PrivateKey::Generate();
  testing::TempDir dir;
  testing::CommandResult made =
      testing::RunCommand("openssl req -new -key " + dir.Write("key.pem", key->ToPem()) +
                          " -subj /CN=x -addext subjectAltName=URI:spiffe://evil/admin");
  ASSERT_EQ(made.exit_code, 0) << made.output;
  Result<Certificate> cert = ca.Sign(*Csr::FromPem(made.output), AgentPolicy());
  ASSERT_FALSE(cert.ok());
  EXPECT_THAT(cert.status().message(), HasSubstr("only DNS names and IP addresses"));
}

TEST(CertificateAuthority, SignsCsrWithoutNames) {
  CertificateAuthority ca = NewCa();
  Certificate cert = MustSign(ca, NewCsr({}), AgentPolicy());
  EXPECT_THAT(cert.dns_names(), IsEmpty());
  EXPECT_TRUE(VerifyChain(cert, {ca.certificate()}, {}, Usage::kClient).ok());
}

TEST(CertificateAuthority, RefusesBadPolicy) {
  CertificateAuthority ca = NewCa();
  SigningPolicy policy = AgentPolicy();
  policy.common_name.clear();
  EXPECT_EQ(ca.Sign(NewCsr(), policy).status().code(), Status::Code::kInvalidArgument);
  policy = AgentPolicy();
  policy.validity = seconds(-1);
  EXPECT_EQ(ca.Sign(NewCsr(), policy).status().code(), Status::Code::kInvalidArgument);
}

TEST(CertificateAuthority, CapsValidity) {
  CertificateAuthority ca = NewCa();
  SigningPolicy policy = AgentPolicy();
  policy.validity = hours(24 * 1000);
  policy.max_validity = hours(24 * 10);
  Certificate cert = MustSign(ca, NewCsr(), policy);
  EXPECT_NEAR(std::chrono::duration<double>(cert.not_after() - system_clock::now()).count(),
              10 * 24 * 3600.0, 60);
  // Backdated for clock skew.
  EXPECT_NEAR(std::chrono::duration<double>(system_clock::now() - cert.not_before()).count(), 300.0,
              60);

  policy.validity = hours(2);
  cert = MustSign(ca, NewCsr(), policy);
  EXPECT_NEAR(std::chrono::duration<double>(cert.not_after() - system_clock::now()).count(),
              2 * 3600.0, 60);
}

TEST(CertificateAuthority, NeverOutlivesTheCa) {
  CertificateAuthority ca = NewCa("Short CA", KeyType::kEcdsaP256, hours(1));
  Certificate cert = MustSign(ca, NewCsr(), AgentPolicy());  // asks for 7 days
  EXPECT_LE(cert.not_after(), ca.certificate().not_after());
  EXPECT_TRUE(VerifyChain(cert, {ca.certificate()}, {}, Usage::kClient).ok());
}

TEST(CertificateAuthority, SerialsAreRandomAndDistinct) {
  CertificateAuthority ca = NewCa();
  std::set<std::string> serials;
  for (int i = 0; i < 8; ++i) {
    std::string serial = MustSign(ca, NewCsr(), AgentPolicy()).serial_hex();
    EXPECT_EQ(serial.size(), 32u) << serial;
    EXPECT_LT(serial[0], '8') << "serial must be positive: " << serial;
    serials.insert(serial);
  }
  EXPECT_EQ(serials.size(), 8u);
}

TEST(CertificateAuthority, SetsExtendedKeyUsage) {
  CertificateAuthority ca = NewCa();
  Certificate client = MustSign(ca, NewCsr(), AgentPolicy(Usage::kClient));
  Certificate server = MustSign(ca, NewCsr(), AgentPolicy(Usage::kServer));
  Certificate both = MustSign(ca, NewCsr(), AgentPolicy(Usage::kServerAndClient));
  const std::vector<Certificate> roots = {ca.certificate()};

  EXPECT_TRUE(VerifyChain(client, roots, {}, Usage::kClient).ok());
  EXPECT_TRUE(VerifyChain(server, roots, {}, Usage::kServer).ok());
  EXPECT_TRUE(VerifyChain(both, roots, {}, Usage::kServerAndClient).ok());

  Status wrong = VerifyChain(client, roots, {}, Usage::kServer);
  ASSERT_FALSE(wrong.ok());
  EXPECT_THAT(wrong.message(), HasSubstr("unsuitable certificate purpose"));
  EXPECT_THAT(wrong.message(), HasSubstr("TLS server"));
  EXPECT_FALSE(VerifyChain(server, roots, {}, Usage::kClient).ok());
  EXPECT_FALSE(VerifyChain(server, roots, {}, Usage::kServerAndClient).ok());

  testing::TempDir dir;
  testing::CommandResult text = testing::RunCommand(
      "openssl x509 -noout -ext basicConstraints,keyUsage,extendedKeyUsage,"
      "authorityKeyIdentifier,subjectKeyIdentifier -in " +
      dir.Write("both.pem", both.ToPem()));
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_THAT(text.output, HasSubstr("X509v3 Basic Constraints: critical\n    CA:FALSE"));
  EXPECT_THAT(text.output, HasSubstr("X509v3 Key Usage: critical\n    Digital Signature\n"));
  EXPECT_THAT(text.output,
              HasSubstr("TLS Web Server Authentication, TLS Web Client Authentication"));
  EXPECT_THAT(text.output, HasSubstr("X509v3 Authority Key Identifier"));
  EXPECT_THAT(text.output, HasSubstr("X509v3 Subject Key Identifier"));
}

TEST(CertificateAuthority, RsaKeysGetKeyEncipherment) {
  CertificateAuthority ca = NewCa("RSA CA", KeyType::kRsa3072);
  Certificate cert =
      MustSign(ca, NewCsr({"agent-1.example"}, KeyType::kRsa3072), AgentPolicy(Usage::kServer));
  EXPECT_TRUE(VerifyChain(cert, {ca.certificate()}, {}, Usage::kServer).ok());
  testing::TempDir dir;
  testing::CommandResult text = testing::RunCommand("openssl x509 -noout -ext keyUsage -in " +
                                                    dir.Write("rsa.pem", cert.ToPem()));
  EXPECT_THAT(text.output, HasSubstr("Digital Signature, Key Encipherment"));
  testing::CommandResult verify = testing::RunCommand(
      "openssl verify -purpose sslserver -CAfile " + dir.Write("ca.pem", ca.certificate().ToPem()) +
      " " + dir.File("rsa.pem"));
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
}

TEST(CertificateAuthority, VerifyChainRefusesOtherCa) {
  CertificateAuthority ca = NewCa();
  CertificateAuthority other = NewCa("Other CA");
  Certificate cert = MustSign(ca, NewCsr(), AgentPolicy());
  Status status = VerifyChain(cert, {other.certificate()}, {}, Usage::kClient);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), Status::Code::kUnauthenticated);
  EXPECT_THAT(status.message(), HasSubstr("unable to get local issuer certificate"));
  // Trusting both works: the right root is found among several.
  EXPECT_TRUE(VerifyChain(cert, {other.certificate(), ca.certificate()}, {}, Usage::kClient).ok());
  EXPECT_FALSE(VerifyChain(cert, {}, {}, Usage::kClient).ok());
}

TEST(CertificateAuthority, VerifyChainHonoursValidityWindow) {
  CertificateAuthority ca = NewCa();
  Certificate cert = MustSign(ca, NewCsr(), AgentPolicy());
  const std::vector<Certificate> roots = {ca.certificate()};
  Status expired = VerifyChain(cert, roots, {}, Usage::kClient, cert.not_after() + hours(1));
  ASSERT_FALSE(expired.ok());
  EXPECT_THAT(expired.message(), HasSubstr("certificate has expired"));
  Status early = VerifyChain(cert, roots, {}, Usage::kClient, cert.not_before() - hours(1));
  ASSERT_FALSE(early.ok());
  EXPECT_THAT(early.message(), HasSubstr("certificate is not yet valid"));
  EXPECT_TRUE(VerifyChain(cert, roots, {}, Usage::kClient, cert.not_after() - hours(1)).ok());
}

TEST(CertificateAuthority, OpenSslVerifiesIssuedCertificate) {
  CertificateAuthority ca = NewCa();
  CertificateAuthority other = NewCa("Other CA");
  Certificate cert = MustSign(ca, NewCsr(), AgentPolicy(Usage::kClient));
  testing::TempDir dir;
  std::string ca_file = dir.Write("ca.pem", ca.certificate().ToPem());
  std::string other_file = dir.Write("other.pem", other.certificate().ToPem());
  std::string leaf_file = dir.Write("leaf.pem", cert.ToPem());

  testing::CommandResult ok =
      testing::RunCommand("openssl verify -purpose sslclient -CAfile " + ca_file + " " + leaf_file);
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_THAT(ok.output, HasSubstr("OK"));

  testing::CommandResult bad =
      testing::RunCommand("openssl verify -CAfile " + other_file + " " + leaf_file);
  EXPECT_NE(bad.exit_code, 0) << bad.output;
  EXPECT_THAT(bad.output, HasSubstr("unable to get local issuer certificate"));
}

// The issued certificate certifies exactly the requester's key, whichever
// way Sign copies it over (EC keys and RSA keys take different paths), both
// as issued and as read back from PEM; a certificate for one requester never
// matches another's key.
TEST(CertificateAuthority, IssuedCertificateCarriesTheRequestersKey) {
  for (KeyType type : {KeyType::kEcdsaP256, KeyType::kRsa3072}) {
    SCOPED_TRACE(type == KeyType::kEcdsaP256 ? "ecdsa-p256" : "rsa-3072");
    CertificateAuthority ca = NewCa();
    Result<PrivateKey> key = PrivateKey::Generate(type);
    Result<PrivateKey> other_key = PrivateKey::Generate(type);
    ASSERT_TRUE(key.ok() && other_key.ok());
    Result<Csr> csr = Csr::Create(*key, "agent-1", {"agent-1.example"});
    ASSERT_TRUE(csr.ok()) << csr.status().message();
    // As the controller receives it: PEM, parsed (and its signature checked).
    Result<Csr> received = Csr::FromPem(csr->ToPem());
    ASSERT_TRUE(received.ok()) << received.status().message();
    Certificate cert = MustSign(ca, *received, AgentPolicy(Usage::kServer));
    EXPECT_EQ(cert.PublicKeyPem(), csr->PublicKeyPem());
    EXPECT_TRUE(cert.MatchesKey(*key));
    EXPECT_FALSE(cert.MatchesKey(*other_key));
    Result<Certificate> reread = Certificate::FromPem(cert.ToPem());
    ASSERT_TRUE(reread.ok()) << reread.status().message();
    EXPECT_EQ(reread->PublicKeyPem(), csr->PublicKeyPem());
    EXPECT_TRUE(reread->MatchesKey(*key));
    EXPECT_TRUE(VerifyChain(*reread, {ca.certificate()}, {}, Usage::kServer).ok());
  }
}

TEST(CertificateAuthority, SignIsSafeFromSeveralThreads) {
  CertificateAuthority ca = NewCa();
  std::vector<Csr> csrs;
  for (int i = 0; i < 8; ++i) csrs.push_back(NewCsr());
  std::vector<std::string> serials(csrs.size());
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (std::size_t i = static_cast<std::size_t>(t); i < csrs.size(); i += 2) {
        Result<Certificate> cert = ca.Sign(csrs[i], AgentPolicy());
        if (cert.ok() && VerifyChain(*cert, {ca.certificate()}, {}, Usage::kClient).ok()) {
          serials[i] = cert->serial_hex();
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::set<std::string> distinct(serials.begin(), serials.end());
  EXPECT_EQ(distinct.size(), csrs.size());
  EXPECT_EQ(distinct.count(""), 0u);
}

}  // namespace
}  // namespace topos::certs
