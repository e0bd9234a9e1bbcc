// A small fixed-size pool of std::threads owned by one HistogramCollector. Statistics work runs here,
// not on libuv's pool, so long histogram batches never starve fs/dns/zlib work of the Node process.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace trt_int8::stats {

class ThreadPool {
 public:
  explicit ThreadPool(unsigned threadCount);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Tasks must not throw; a task that does is caught and ignored so the worker survives.
  void submit(std::function<void()> task);
  // Drops queued tasks, waits for running ones, joins the workers. Idempotent; never call from a worker.
  void shutdown();
  unsigned size() const { return static_cast<unsigned>(workers_.size()); }

 private:
  void workerLoop();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;
  std::vector<std::thread> workers_;
  bool stopping_ = false;
};

}  // namespace trt_int8::stats
