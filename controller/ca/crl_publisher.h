// Publishes the CA's certificate revocation list: signs it from the Store's
// revoked serials, keeps it in memory for GetCrl, and writes it atomically
// to a file (DATA_DIR/ca/crl.pem) that relying parties can read.
//
// Each CRL is valid for kCrlValidity and is re-signed once less than half of
// that remains (every 3.5 days at the latest), by a background thread that
// checks every kCrlCheckInterval, so an expired CRL never takes anything
// down; Refresh() re-signs at once (after a revocation). thisUpdate is set
// kCrlClockSkew in the past so that a relying party whose clock runs behind
// never sees a CRL from the future.
//
// The CRL Number increases with every signing and survives restarts: it is
// read back from the file at construction (the file is its only record).
//
// The signing CA comes from a source called at each signing, so a CA
// rotation switches it at runtime. While a rotation keeps the previous CA
// trusted, each signing also makes a CRL of the same entries signed by the
// previous CA (certificates it issued are still in use): `trust_pem` holds
// both, for the hosts' trust stores; `pem`, the file and GetCrl keep the
// signing CA's alone. A listener hears of every signing (the TrustPublisher
// pushes trust_pem to the agents).
//
// Thread-safety: every method is safe from any thread; Refresh() calls are
// serialized. Start()/Stop() must not race with each other or destruction.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "certs/certificate_authority.h"
#include "common/status.h"
#include "controller/store/store.h"

namespace topos::controller {

inline constexpr std::chrono::seconds kCrlValidity{7 * 24 * 3600};
inline constexpr std::chrono::seconds kCrlClockSkew{5 * 60};
inline constexpr std::chrono::seconds kCrlCheckInterval{60};

// One signed CRL as published.
struct PublishedCrl {
  std::string pem;  // empty before the first signing (and no readable file)
  // pem, then the same list signed by the previous CA during a CA rotation.
  std::string trust_pem;
  TimePoint this_update;
  TimePoint next_update;
  std::uint64_t number = 0;
  std::size_t entries = 0;  // revoked serials listed
};

class CrlPublisher {
 public:
  using Clock = std::function<TimePoint()>;
  // The CA to sign with now; null for none (only for `previous`).
  using CaSource = std::function<std::shared_ptr<const certs::CertificateAuthority>()>;

  // Reads `crl_file` if it holds a CRL signed by `ca` (its number is
  // continued and it is served until the first Refresh); an unreadable or
  // foreign file is logged and replaced at the first Refresh. `store` and
  // `ca` must outlive the publisher. `clock` and `check_interval` drive the
  // background thread (tests pass a fake clock and a short interval).
  CrlPublisher(Store& store, const certs::CertificateAuthority& ca,
               std::filesystem::path crl_file,
               Clock clock = [] { return std::chrono::system_clock::now(); },
               std::chrono::milliseconds check_interval = kCrlCheckInterval);
  // Signs with whatever `signing` returns at each signing, and also with
  // `previous` when it returns a CA (see above).
  CrlPublisher(Store& store, CaSource signing, CaSource previous, std::filesystem::path crl_file,
               Clock clock = [] { return std::chrono::system_clock::now(); },
               std::chrono::milliseconds check_interval = kCrlCheckInterval);
  ~CrlPublisher();  // Stop()s
  CrlPublisher(const CrlPublisher&) = delete;
  CrlPublisher& operator=(const CrlPublisher&) = delete;

  // Signs a new CRL of every revoked serial (with its revocation time from
  // the Store, or `now` where the Store has none), valid until now +
  // kCrlValidity, with the next CRL Number; writes it to the file, then
  // serves it. On error (Store, signing or disk) the previous CRL stays
  // published and the error names what failed.
  Status Refresh(TimePoint now);
  // Refresh()es unless the published CRL (e.g. the one read back at start)
  // already lists exactly the Store's revoked serials, is signed by the
  // current CA with no previous CA to cover, and is not DueForResign(now).
  // The controller calls it at start: a restart then keeps the hosts' trust
  // generation, instead of every agent rewriting its CRL when it returns.
  // Sets *signed_now (if given) to whether it signed.
  Status RefreshIfStale(TimePoint now, bool* signed_now = nullptr);

  // The CRL now published.
  PublishedCrl Current() const;

  // Called after every successful signing with the new CRL (outside the
  // publisher's locks, on the signing thread). Set before Start().
  void SetListener(std::function<void(const PublishedCrl&)> listener);

  // True when no CRL is published yet or less than half of kCrlValidity
  // remains before its nextUpdate at `now`.
  bool DueForResign(TimePoint now) const;

  // Starts / stops the background thread that re-signs when due (checked at
  // start, then every check interval). Stop() returns once it has ended;
  // both are idempotent.
  void Start();
  void Stop();

 private:
  void Load();
  void Run();

  // Constant after construction.
  Store& store_;
  const CaSource signing_;
  const CaSource previous_;
  const std::filesystem::path crl_file_;
  const Clock clock_;
  const std::chrono::milliseconds check_interval_;

  std::mutex refresh_mutex_;  // held for a whole Refresh: one signing at a time

  mutable std::mutex mutex_;
  PublishedCrl current_;  // guarded by mutex_
  std::vector<std::string> current_serials_;  // current_'s entries, sorted; guarded by mutex_
  std::function<void(const PublishedCrl&)> listener_;  // guarded by mutex_

  std::mutex thread_mutex_;
  std::condition_variable wake_;
  bool stop_ = false;   // guarded by thread_mutex_
  std::thread thread_;  // started/joined by Start()/Stop() only
};

}  // namespace topos::controller
