// A fixed pool of worker threads running posted tasks in FIFO order. gRPC
// reactions post their disk and crypto work here so that they never block
// gRPC's own threads.
//
// Thread-safety: Post() may be called from any thread. The destructor runs
// every task already posted, then joins the workers.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace topos {

class Executor {
 public:
  explicit Executor(unsigned threads);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  void Post(std::function<void()> task);

 private:
  void Work();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;  // guarded by mutex_
  bool stopping_ = false;                    // guarded by mutex_
  std::vector<std::thread> workers_;         // constant after construction
};

}  // namespace topos
