#include "stats_thread_pool.h"

namespace trt_int8::stats {

ThreadPool::ThreadPool(unsigned threadCount) {
  if (threadCount == 0) threadCount = 1;
  workers_.reserve(threadCount);
  try {
    for (unsigned i = 0; i < threadCount; ++i) workers_.emplace_back([this] { workerLoop(); });
  } catch (...) {
    // A thread could not start (process limits): stop and join the ones that did, so no joinable std::thread is
    // destroyed (std::terminate), then let the caller report it.
    shutdown();
    throw;
  }
}

ThreadPool::~ThreadPool() { shutdown(); }

void ThreadPool::submit(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return;
    queue_.push_back(std::move(task));
  }
  wake_.notify_one();
}

void ThreadPool::shutdown() {
  std::deque<std::function<void()>> dropped;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ && workers_.empty()) return;
    stopping_ = true;
    dropped.swap(queue_);
  }
  wake_.notify_all();
  for (auto& worker : workers_) {
    if (worker.joinable()) worker.join();
  }
  workers_.clear();
  // `dropped` is destroyed here, outside the lock: task captures may own large buffers.
}

void ThreadPool::workerLoop() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    try {
      task();
    } catch (...) {
      // Tasks report failures through their job; nothing may escape a worker thread.
    }
  }
}

}  // namespace trt_int8::stats
