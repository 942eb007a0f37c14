// Store on SQLite in WAL mode: the embedded default, one file in the data
// directory. Schema changes are numbered migrations applied in order at Open.
//
// Thread-safety: all methods are safe to call from several threads; one
// connection is shared under a mutex (SQLite serializes writers anyway).
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>

#include "controller/store/store.h"

struct sqlite3;

namespace topos::sqlite {
class StatementCache;
}

namespace topos::controller {

class SqliteStore final : public Store {
 public:
  // Opens (creating if needed) the database at `path` and migrates it to the
  // latest schema. Refuses a database whose schema is newer than this binary
  // knows ("database schema version 7 is newer than this controller (5)").
  static Result<std::unique_ptr<SqliteStore>> Open(const std::filesystem::path& path);
  ~SqliteStore() override;

  int schema_version() const;

  Status InsertToken(const TokenRecord& token) override;
  Result<TokenRecord> GetToken(const std::string& id) override;
  Result<std::vector<TokenRecord>> ListTokens() override;
  Status RevokeToken(const std::string& id, TimePoint at) override;
  Status CompleteEnrollment(const std::string& token_id, const HostRecord& host,
                            const CertificateRecord& certificate, TimePoint at) override;
  Status RecordRenewal(const std::string& fqdn, const CertificateRecord& certificate) override;
  Status InsertCertificate(const CertificateRecord& certificate) override;
  Result<CertificateRecord> GetCertificate(const std::string& serial) override;
  Result<std::vector<std::string>> ListRevokedSerials() override;
  Result<std::vector<HostRecord>> ListHosts() override;
  Result<HostRecord> GetHost(const std::string& fqdn) override;
  Status UpdateHostReports(const std::vector<HostReport>& reports) override;
  Status CountRefusedDuplicate(const std::string& fqdn) override;
  Result<std::vector<std::string>> RemoveHost(const std::string& fqdn, TimePoint at,
                                              const std::string& reason) override;
  Result<std::uint64_t> AppendTopologyVersion(const TopologyVersionRecord& record) override;
  Result<TopologyVersionRecord> GetTopologyVersion(std::uint64_t version) override;
  Result<TopologyVersionRecord> LatestTopologyVersion() override;
  Result<std::vector<TopologyVersionRecord>> ListTopologyVersions(bool with_content) override;
  Status ImportTopologyVersions(const std::vector<TopologyVersionRecord>& versions) override;
  Status InsertArtifact(const ArtifactRecord& artifact) override;
  Result<ArtifactRecord> GetArtifact(const std::string& service,
                                     const std::string& version) override;
  Result<ArtifactRecord> GetArtifactByDigest(const std::string& sha256) override;
  Result<std::vector<ArtifactRecord>> ListArtifacts(const std::string& service) override;
  Result<std::vector<CertificateRecord>> ListCertificates() override;
  Status RevokeCertificate(const std::string& serial, TimePoint at,
                           const std::string& reason) override;
  Result<std::vector<std::string>> RevokeHostCertificates(const std::string& fqdn, TimePoint at,
                                                          const std::string& reason) override;
  Status InsertCertificateRequest(const CertificateRequestRecord& request) override;
  Result<CertificateRequestRecord> GetCertificateRequest(const std::string& id) override;
  Result<std::vector<CertificateRequestRecord>> ListCertificateRequests(
      bool pending_only, const std::string& host_fqdn) override;
  Status DecideCertificateRequest(const CertificateRequestRecord& decided) override;
  Status CreateRollout(const RolloutRecord& rollout, const std::vector<RolloutEventRecord>& events,
                       const std::vector<std::pair<std::string, std::string>>& host_steps) override;
  Status SaveRollout(const RolloutRecord& rollout,
                     const std::vector<RolloutEventRecord>& events) override;
  Result<RolloutRecord> GetRollout(const std::string& id) override;
  Result<std::vector<RolloutRecord>> ListRollouts(bool unfinished_only) override;
  Result<std::vector<RolloutEventRecord>> ListRolloutEvents(const std::string& id,
                                                            std::uint64_t after_seq,
                                                            std::size_t limit) override;
  Result<std::string> GetRolloutHostSteps(const std::string& id,
                                          const std::string& host_fqdn) override;
  Status CreateCaRotation(const CaRotationRecord& rotation) override;
  Status SaveCaRotation(const CaRotationRecord& rotation) override;
  Result<std::vector<CaRotationRecord>> ListCaRotations() override;
  Status UpsertOperator(const std::string& subject, const std::vector<std::string>& roles) override;
  Result<std::vector<std::string>> GetOperatorRoles(const std::string& subject) override;

 private:
  explicit SqliteStore(sqlite3* db);

  // Revokes the host's unrevoked identity certificates and issued service
  // certificates; returns their serials, sorted. The caller holds mutex_
  // and a transaction (shared by RemoveHost and RevokeHostCertificates).
  Result<std::vector<std::string>> RevokeHostCertificatesLocked(const std::string& fqdn,
                                                                TimePoint at,
                                                                const std::string& reason);

  sqlite3* db_;  // owned; guarded by mutex_
  // db_'s prepared statements, kept for reuse; destroyed before db_ closes.
  std::unique_ptr<sqlite::StatementCache> statements_;
  mutable std::mutex mutex_;
};

}  // namespace topos::controller
