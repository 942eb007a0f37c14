// The controller's state, behind one interface: bootstrap tokens, hosts and
// their last reports, issued certificates, operators and their roles.
// SqliteStore is the embedded implementation; a PostgreSQL one comes later.
//
// Every method is a complete transaction: it either happens whole or not at
// all. Implementations are thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace topos::controller {

using TimePoint = std::chrono::system_clock::time_point;

struct TokenRecord {
  std::string id;            // public part of the token, for list and revoke
  std::string secret_hash;   // SHA-256 hex of the secret part; the secret is never stored
  std::string host_fqdn;     // the only host this token may enroll
  TimePoint created_at;
  TimePoint expires_at;
  std::optional<TimePoint> used_at;
  std::optional<TimePoint> revoked_at;
  std::string created_by;    // operator subject
};

enum class CertificatePurpose { kAgentIdentity, kOperator, kControllerServer };

struct CertificateRecord {
  std::string serial;        // lowercase hex, unique
  std::string subject;       // subject CN (host FQDN, operator name, controller name)
  CertificatePurpose purpose = CertificatePurpose::kAgentIdentity;
  std::string fingerprint;   // SHA-256 of the DER, lowercase hex
  TimePoint issued_at;
  TimePoint not_after;
  std::string pem;
  std::optional<TimePoint> revoked_at;
  std::string revoke_reason;
};

struct HostRecord {
  std::string fqdn;
  TimePoint enrolled_at;
  std::optional<TimePoint> removed_at;
  std::optional<TimePoint> last_seen;
  std::string agent_version;
  std::string facts;              // serialized topos.v1.HostFacts
  std::string certificate_serial; // the current identity certificate
  TimePoint certificate_not_after;
  int refused_duplicate_connections = 0;
  std::uint64_t applied_config_version = 0;   // local store version the agent reported
  std::optional<TimePoint> config_applied_at; // when it reported applying it
  std::string services;           // serialized topos.v1.ServiceReports the agent last sent
};

// What an agent's stream tells us; applied in batches (see UpdateHostReports).
struct HostReport {
  std::string fqdn;
  TimePoint seen_at;
  std::optional<std::string> agent_version;  // set on Hello
  std::optional<std::string> facts;          // set on Hello
  // Set on Hello and StoreApplied; also sets config_applied_at = seen_at
  // when it differs from the stored version.
  std::optional<std::uint64_t> applied_config_version;
  // Second connections refused for this identity since the last report;
  // added to the host's persistent count (seen_at is then not a contact).
  int refused_duplicates = 0;
  // Replaces the host's reported services (serialized topos.v1.ServiceReports).
  std::optional<std::string> services;
};

struct ArtifactRecord {
  std::string service;
  std::string version;
  std::string sha256;         // lowercase hex of the tarball
  std::uint64_t size = 0;
  std::string file_name;      // as pushed, for humans
  TimePoint pushed_at;
  std::string pushed_by;      // operator subject
};

enum class CertificateRequestState { kPending, kIssued, kDenied };

// A service certificate an agent asked for, and what became of it.
struct CertificateRequestRecord {
  std::string id;             // random, hex
  std::string host_fqdn;      // the caller's identity
  std::string service;
  std::vector<std::string> names;  // DNS names in the CSR
  std::string csr_pem;
  CertificateRequestState state = CertificateRequestState::kPending;
  std::string reason;         // why pending / denied
  TimePoint requested_at;
  std::optional<TimePoint> decided_at;
  std::string decided_by;     // operator subject, or "policy"
  std::string serial;         // the issued certificate
  std::optional<TimePoint> not_after;
  std::string certificate_pem;
  std::optional<TimePoint> revoked_at;  // issued and later revoked
  std::string revoke_reason;
};

// One published topology version: immutable once stored.
struct TopologyVersionRecord {
  std::uint64_t version = 0;  // assigned by AppendTopologyVersion: 1, 2, 3...
  std::string author;
  TimePoint created_at;
  std::string message;
  std::string sha256;         // of the canonical topology
  std::string source_name;    // file it came from
  std::string topology_yaml;  // empty when listed without content
  std::string roles_yaml;     // empty when listed without content
};

// One host of a rollout, stored apart from the rest of the rollout so that
// a decision round that changed a few hosts writes only those: storing every
// host each round made a 10,000-host rollout write a megabyte several times
// a second. `host` is opaque here (a serialized topos.v1.RolloutHost); it
// sits at `position` (0-based) of the rollout's pool number `pool`.
struct RolloutHostRecord {
  int pool = 0;
  int position = 0;
  std::string host;
};

// A rollout as stored. The store indexes id, state and time; `snapshot` is
// the serialized topos.v1.Rollout the rollout runner owns, opaque here, and
// `hosts` its hosts kept apart (rollout_record.h). Rollouts stored before
// hosts were kept apart have their hosts in the snapshot and none here.
struct RolloutRecord {
  std::string id;
  std::string state;  // "running", "paused", ... "succeeded"
  bool done = false;  // final state and no host running: never resumed
  TimePoint created_at;
  std::string snapshot;
  std::vector<RolloutHostRecord> hosts;
};

// One kept event of a rollout; `event` is a serialized topos.v1.RolloutEvent.
struct RolloutEventRecord {
  std::uint64_t seq = 0;  // 1, 2, ... per rollout, assigned by the runner
  std::string event;
};

// A CA rotation as stored: `snapshot` is the serialized topos.v1.CaRotation
// the rotation runner owns, opaque here.
struct CaRotationRecord {
  std::string id;
  TimePoint created_at;
  TimePoint updated_at;
  std::string snapshot;
};

class Store {
 public:
  virtual ~Store() = default;

  // Tokens. InsertToken fails with AlreadyExists on a duplicate id.
  virtual Status InsertToken(const TokenRecord& token) = 0;
  virtual Result<TokenRecord> GetToken(const std::string& id) = 0;  // NotFound
  virtual Result<std::vector<TokenRecord>> ListTokens() = 0;        // newest first
  // NotFound for an unknown id; FailedPrecondition if already used.
  virtual Status RevokeToken(const std::string& id, TimePoint at) = 0;

  // Marks the token used, creates or re-enrolls the host (clearing a
  // previous removal), records the certificate as the host's current one:
  // all in one transaction. FailedPrecondition ("token already used" /
  // "token revoked") if the token was consumed concurrently, so a token can
  // never enroll twice.
  virtual Status CompleteEnrollment(const std::string& token_id, const HostRecord& host,
                                    const CertificateRecord& certificate, TimePoint at) = 0;

  // Records a renewed identity certificate as the host's current one.
  virtual Status RecordRenewal(const std::string& fqdn, const CertificateRecord& certificate) = 0;

  // Records a certificate not tied to a host (operator, controller server).
  virtual Status InsertCertificate(const CertificateRecord& certificate) = 0;
  virtual Result<CertificateRecord> GetCertificate(const std::string& serial) = 0;  // NotFound
  // Serials of every revoked certificate (service certificates included),
  // for the in-memory refusal set.
  virtual Result<std::vector<std::string>> ListRevokedSerials() = 0;

  virtual Result<std::vector<HostRecord>> ListHosts() = 0;  // ordered by fqdn
  virtual Result<HostRecord> GetHost(const std::string& fqdn) = 0;  // NotFound
  // Applies many reports in one transaction; reports for unknown hosts are
  // skipped. Later reports for the same host win.
  virtual Status UpdateHostReports(const std::vector<HostReport>& reports) = 0;
  virtual Status CountRefusedDuplicate(const std::string& fqdn) = 0;
  // Marks the host removed and revokes its identity certificates and its
  // issued service certificates (as RevokeHostCertificates); returns their
  // serials, sorted. NotFound for unknown hosts.
  virtual Result<std::vector<std::string>> RemoveHost(const std::string& fqdn, TimePoint at,
                                                      const std::string& reason) = 0;

  // Topology versions: append-only, never overwritten. Append assigns the
  // next number (latest + 1) in the same transaction and returns it.
  virtual Result<std::uint64_t> AppendTopologyVersion(const TopologyVersionRecord& record) = 0;
  virtual Result<TopologyVersionRecord> GetTopologyVersion(std::uint64_t version) = 0;  // NotFound
  // NotFound if nothing has been published yet.
  virtual Result<TopologyVersionRecord> LatestTopologyVersion() = 0;
  // Oldest first; without content (yaml fields empty) unless `with_content`.
  virtual Result<std::vector<TopologyVersionRecord>> ListTopologyVersions(bool with_content) = 0;
  // Restores exported versions keeping their numbers, all or nothing.
  // FailedPrecondition if any version exists already; InvalidArgument for
  // duplicate or zero version numbers.
  virtual Status ImportTopologyVersions(const std::vector<TopologyVersionRecord>& versions) = 0;

  // Artifacts. InsertArtifact: AlreadyExists if (service, version) is stored
  // with a different digest; the same digest again is OK (idempotent push).
  virtual Status InsertArtifact(const ArtifactRecord& artifact) = 0;
  virtual Result<ArtifactRecord> GetArtifact(const std::string& service,
                                             const std::string& version) = 0;  // NotFound
  virtual Result<ArtifactRecord> GetArtifactByDigest(const std::string& sha256) = 0;  // NotFound
  // By service, then push time; all services when `service` is empty.
  virtual Result<std::vector<ArtifactRecord>> ListArtifacts(const std::string& service) = 0;

  // Every certificate of the certificates table (identities, operators,
  // the controller's), by serial.
  virtual Result<std::vector<CertificateRecord>> ListCertificates() = 0;
  // Revokes one certificate by serial, wherever it is stored (the
  // certificates table or an issued service certificate request).
  // NotFound for an unknown serial; FailedPrecondition if already revoked.
  virtual Status RevokeCertificate(const std::string& serial, TimePoint at,
                                   const std::string& reason) = 0;
  // Revokes every unrevoked certificate of a host: its identity
  // certificates (subject = fqdn) and its issued service certificates, in
  // one transaction; returns their serials (empty if none was left).
  // NotFound for a host that never enrolled.
  virtual Result<std::vector<std::string>> RevokeHostCertificates(const std::string& fqdn,
                                                                  TimePoint at,
                                                                  const std::string& reason) = 0;

  // Service certificate requests.
  virtual Status InsertCertificateRequest(const CertificateRequestRecord& request) = 0;
  virtual Result<CertificateRequestRecord> GetCertificateRequest(const std::string& id) = 0;
  // Newest first; only pending ones if `pending_only`; one host's if `host_fqdn` is set.
  virtual Result<std::vector<CertificateRequestRecord>> ListCertificateRequests(
      bool pending_only, const std::string& host_fqdn) = 0;
  // Records a decision (state, reason, decided_*, and for issued: serial,
  // not_after, certificate_pem) on a pending request. FailedPrecondition if
  // the request is no longer pending (decided twice).
  virtual Status DecideCertificateRequest(const CertificateRequestRecord& decided) = 0;

  // Rollouts. CreateRollout stores the rollout, its first events and the
  // steps planned for each host (host FQDN -> serialized
  // topos.v1.RolloutHostSteps) in one transaction; AlreadyExists for a
  // duplicate id. SaveRollout replaces state, done and snapshot, stores the
  // given hosts in place of those at the same pool and position (the others
  // stay as they were) and appends `events` in one transaction: NotFound
  // for an unknown id, AlreadyExists if an event's seq is already stored,
  // InvalidArgument for a negative pool or position. Get and List return
  // every stored host, by pool and then position.
  virtual Status CreateRollout(const RolloutRecord& rollout,
                               const std::vector<RolloutEventRecord>& events,
                               const std::vector<std::pair<std::string, std::string>>& host_steps) = 0;
  virtual Status SaveRollout(const RolloutRecord& rollout,
                             const std::vector<RolloutEventRecord>& events) = 0;
  virtual Result<RolloutRecord> GetRollout(const std::string& id) = 0;  // NotFound
  // Newest first; only those not done if `unfinished_only`.
  virtual Result<std::vector<RolloutRecord>> ListRollouts(bool unfinished_only) = 0;
  // Events with seq > after_seq in seq order, at most `limit` of them.
  virtual Result<std::vector<RolloutEventRecord>> ListRolloutEvents(const std::string& id,
                                                                     std::uint64_t after_seq,
                                                                     std::size_t limit) = 0;
  // The steps stored for one host of a rollout. NotFound if none.
  virtual Result<std::string> GetRolloutHostSteps(const std::string& id,
                                                  const std::string& host_fqdn) = 0;

  // CA rotations. Create: AlreadyExists for a duplicate id. Save replaces
  // updated_at and snapshot: NotFound for an unknown id.
  virtual Status CreateCaRotation(const CaRotationRecord& rotation) = 0;
  virtual Status SaveCaRotation(const CaRotationRecord& rotation) = 0;
  // Newest first (by created_at, then by insertion).
  virtual Result<std::vector<CaRotationRecord>> ListCaRotations() = 0;

  // Operators: roles keyed by certificate subject.
  virtual Status UpsertOperator(const std::string& subject,
                                const std::vector<std::string>& roles) = 0;
  // NotFound if the subject is not an operator.
  virtual Result<std::vector<std::string>> GetOperatorRoles(const std::string& subject) = 0;
};

}  // namespace topos::controller
