// Runs a CA rotation without an outage, in three phases:
//
//   trust    a new CA is made (CaKeyring::PrepareNext) and the bundle of
//            both CAs is pushed to every host; waits until every online
//            host holds it (hosts_confirmed of hosts_online).
//   reissue  the new CA signs from now on (PromoteNext); the controller's
//            server and operator certificates are reissued at once, the CRL
//            re-signed; connected agents are asked to renew their identity,
//            at most batch_size at a time; every service certificate is
//            reissued by one certificate rollout. Done when every enrolled
//            host's identity is signed by the new CA and that rollout
//            succeeded (if it fails the rotation pauses; resume starts a new
//            one).
//   retire   the old CA leaves the bundle (RetirePrevious), which is pushed
//            again; waits until every online host holds it; then "done".
//
// The rotation is stored (Store::*CaRotation) before every transition and
// every keyring step is idempotent, so a controller restarted at any point
// resumes it (Recover). A paused rotation does nothing until resumed.
//
// Thread-safety: every public method is safe from any thread; one mutex
// serializes ticks and commands. Start()/Stop() must not race each other.
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/status.h"
#include "controller/ca/ca_keyring.h"
#include "controller/ca/ca_rotation_fleet.h"
#include "controller/store/store.h"
#include "topos/v1/admin.pb.h"

namespace topos::controller {

inline constexpr std::uint32_t kDefaultCaRotationBatch = 50;
inline constexpr std::size_t kMaxWaitingFor = 50;

struct CaRotationOptions {
  std::filesystem::path data_dir;  // server/ and admin/ are kept signed by the signing CA
  std::string controller_name;     // goes into the new CA's subject
  std::chrono::milliseconds tick_interval{500};
  // The controller's own TLS re-reads DIR/ca/bundle.pem (every second, see
  // MakeReloadingServerCredentials): phase trust lasts at least this long
  // after this process published the bundle, so the server itself trusts
  // the new CA before anything is signed by it.
  std::chrono::milliseconds tls_settle{2500};
  // A renewal request not answered within this is sent again.
  std::chrono::seconds renewal_timeout{60};
  std::function<TimePoint()> clock = [] { return std::chrono::system_clock::now(); };
};

class CaRotation {
 public:
  // Every reference must outlive the rotation.
  CaRotation(Store& store, CaKeyring& keyring, CaRotationFleet& fleet, CaRotationOptions options);
  ~CaRotation();  // Stop()s
  CaRotation(const CaRotation&) = delete;
  CaRotation& operator=(const CaRotation&) = delete;

  // Loads the newest stored rotation; if it is unfinished it resumes at the
  // next tick. Also reissues the controller's own certificates when they
  // are not signed by the signing CA (a crash in mid-transition), so call
  // it before the server starts serving.
  Status Recover();
  // The background thread: Tick() every tick_interval, sooner after a
  // command. Both idempotent.
  void Start();
  void Stop();

  // `toposctl ca rotate`. FailedPrecondition while another rotation is
  // unfinished. batch_size 0 means kDefaultCaRotationBatch.
  Result<v1::CaRotation> Begin(std::uint32_t batch_size, const std::string& actor);
  // Pause or resume the unfinished rotation. FailedPrecondition if none;
  // pausing a paused one (resuming a running one) changes nothing.
  Result<v1::CaRotation> Control(v1::CaRotationAction action, const std::string& actor);
  // `toposctl ca status`.
  v1::GetCaStatusResponse Describe();

  // Advances the rotation by what can be done now (the thread calls it;
  // tests call it directly).
  void Tick();

 private:
  bool Unfinished() const;  // holds mutex_
  Status Save();            // holds mutex_; stores rotation_
  void SetMessage(const std::string& message);
  void TickTrust();
  void TickReissue();
  void TickRetire();
  Status EnsurePromoted();
  Status EnsureRetired();
  // Identity of every enrolled host; fills identities_* and waiting_for.
  Status CountIdentities(std::vector<std::string>* pending);
  bool SignedByCurrent(const std::string& serial);
  void RequestRenewals(const std::vector<std::string>& pending);
  void Run();
  void WakeRunner();  // ends the runner's current wait; takes thread_mutex_

  // Constant after construction.
  Store& store_;
  CaKeyring& keyring_;
  CaRotationFleet& fleet_;
  const CaRotationOptions options_;

  std::mutex mutex_;  // held by every tick and command
  std::optional<v1::CaRotation> rotation_;  // the newest rotation; guarded
  TimePoint created_at_;                    // of rotation_; guarded
  // Per process, guarded: work done once per phase since this start.
  bool promoted_ = false;   // reissue: keyring, own certificates, CRL done
  bool retired_ = false;    // retire: keyring, CRL, admin bundle done
  bool no_service_certificates_ = false;  // the rollout had nothing to reissue
  std::optional<TimePoint> trust_published_at_;  // phase trust: first publish here
  std::map<std::string, TimePoint> renewal_sent_;  // fqdn -> when; guarded
  std::map<std::string, bool> signed_by_current_;  // serial -> verdict; guarded

  std::mutex thread_mutex_;
  std::condition_variable wake_;
  bool stop_ = false;          // guarded by thread_mutex_
  bool woken_ = false;         // guarded by thread_mutex_
  std::thread thread_;
};

}  // namespace topos::controller
