// Persists what agent streams report (last seen, facts) in batches, off the
// gRPC threads: ten thousand agents heartbeating must not mean ten thousand
// transactions, nor a stream reaction waiting on disk.
//
// Thread-safety: Queue() from any thread; one background thread writes.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "controller/store/store.h"

namespace topos::controller {

class ReportWriter {
 public:
  ReportWriter(Store& store, std::chrono::milliseconds flush_interval);
  ~ReportWriter();  // flushes what is queued, then stops

  // Later reports for a host replace earlier ones, keeping facts and version
  // from an earlier Hello when the later report lacks them.
  void Queue(HostReport report);
  // Writes everything queued now (tests and shutdown).
  void Flush();

 private:
  void Run();

  Store& store_;
  const std::chrono::milliseconds flush_interval_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::unordered_map<std::string, HostReport> pending_;  // guarded by mutex_
  bool stopping_ = false;                                // guarded by mutex_
  bool urgent_ = false;  // a Hello is queued: write it now, not at the next tick
  std::mutex flush_mutex_;  // one writer at a time
  std::thread thread_;
};

}  // namespace topos::controller
