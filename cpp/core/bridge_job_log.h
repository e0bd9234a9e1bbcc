// A native job's log lines (TrtInt8BatchSource::log), on their way to JavaScript and kept for error reports.
// log() is called from the job thread, possibly very often (TensorRT's verbose log, progress events), and must
// never block it on the JavaScript thread nor grow memory without bound:
//   - the live queue holds at most kMaxQueued lines; one TSFN call drains all of it at a time, so JS is woken once
//     per batch of lines instead of once per line. A line that finds the queue full is counted, not queued, and
//     JS is told how many it missed (the history below still has the latest ones);
//   - the history keeps the last kMaxHistory lines for the job's result and error reports.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace trt_int8 {
namespace bridge {

struct LogLine {
  int32_t severity;
  std::string text;
};

class JobLog {
 public:
  static constexpr size_t kMaxQueued = 4096;
  static constexpr size_t kMaxHistory = 2000;

  // Records a line. True when the caller must schedule a drain on the JS thread (none is pending yet).
  bool Add(int32_t severity, const char* text) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (history_.size() >= kMaxHistory) {
      history_.pop_front();
      ++droppedHistory_;
    }
    history_.push_back(LogLine{severity, text});
    if (queue_.size() >= kMaxQueued) {
      ++notDelivered_;
      ++missedSinceDrain_;
    } else {
      queue_.push_back(LogLine{severity, text});
      highWater_ = std::max(highWater_, queue_.size());
    }
    if (drainPending_) return false;
    drainPending_ = true;
    return true;
  }

  // JS thread: takes every queued line; `missed` is how many found the queue full since the last drain.
  std::vector<LogLine> Drain(uint64_t& missed) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<LogLine> lines(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
    queue_.clear();
    missed = missedSinceDrain_;
    missedSinceDrain_ = 0;
    drainPending_ = false;
    return lines;
  }

  // A drain that could not be scheduled (environment teardown): let the next line try again.
  void DrainNotScheduled() {
    std::lock_guard<std::mutex> lock(mutex_);
    drainPending_ = false;
  }

  struct Snapshot {
    std::vector<LogLine> history;
    uint64_t droppedHistory;
    uint64_t notDelivered;
    size_t highWater;
  };
  Snapshot Take() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return Snapshot{std::vector<LogLine>(history_.begin(), history_.end()), droppedHistory_, notDelivered_, highWater_};
  }

 private:
  mutable std::mutex mutex_;
  std::deque<LogLine> history_;
  std::deque<LogLine> queue_;
  bool drainPending_ = false;
  uint64_t droppedHistory_ = 0;
  uint64_t notDelivered_ = 0;
  uint64_t missedSinceDrain_ = 0;
  size_t highWater_ = 0;
};

}  // namespace bridge
}  // namespace trt_int8
