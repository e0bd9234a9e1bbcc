// TensorRT's ILogger and IProgressMonitor, forwarded to the calibrator bridge's source (and so to JS).
// The bridge allows source calls from the job thread only, while TensorRT may log from its own worker
// threads: lines from other threads are queued and flushed on the job thread at the next chance.
#pragma once
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../core/bridge_abi.h"
#include "../core/progress_coalescer.h"
#include "trt_api.h"

namespace trt_int8::trt {

using trt_int8::ProgressCoalescer;
using trt_int8::progressLine;

class ForwardingLogger : public nvinfer1::ILogger {
 public:
  // Lines above maxSeverity (numerically: more verbose) are dropped before they reach JS.
  // severityMask: bit s set forwards severity s (0: every severity up to maxSeverity).
  explicit ForwardingLogger(int maxSeverity, uint32_t severityMask = 0) : maxSeverity_(maxSeverity), severityMask_(severityMask) {}

  // Starts forwarding to `source` from the calling thread (the job thread); null detaches.
  void attach(TrtInt8BatchSource* source) {
    std::lock_guard<std::mutex> lock(mutex_);
    source_ = source;
    jobThread_ = std::this_thread::get_id();
  }

  void log(Severity severity, const char* msg) noexcept override {
    int level = static_cast<int>(severity);
    if (level <= static_cast<int>(Severity::kERROR)) rememberError(msg);
    // Filtered before anything is copied: TensorRT's verbose output is large and nobody may be listening.
    if (level > maxSeverity_ || (severityMask_ && (level < 0 || level > 31 || !(severityMask_ & (1u << level))))) return;
    forward(level, msg);
  }

  // Call on the job thread: forwards lines queued from other threads.
  void flush() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (std::this_thread::get_id() == jobThread_) flushLocked();
  }

  // Sends a line of our own (progress) through the same channel, whatever the severity filter.
  void note(int severity, const std::string& message) noexcept { forward(severity, message.c_str()); }

 private:
  void forward(int level, const char* msg) noexcept {
    try {
      std::lock_guard<std::mutex> lock(mutex_);
      if (source_ && std::this_thread::get_id() == jobThread_) {
        flushLocked();
        source_->log(source_->self, level, msg);
      } else if (pending_.size() < kMaxPendingLines) {
        pending_.emplace_back(level, msg ? msg : "");
      } else {
        ++droppedPending_;  // a flood from TensorRT's worker threads must not grow memory without bound
      }
    } catch (...) {
      // Logging must never throw into TensorRT; a lost line is the lesser harm.
    }
  }


 public:
  // The last few error lines, for the message of a failed build.
  std::string lastErrors() const {
    std::lock_guard<std::mutex> lock(errorMutex_);
    std::string out;
    for (const auto& e : errors_) {
      if (!out.empty()) out += "\n";
      out += e;
    }
    return out;
  }

 private:
  void flushLocked() {
    if (!source_) return;
    for (const auto& [level, text] : pending_) source_->log(source_->self, level, text.c_str());
    pending_.clear();
    if (droppedPending_) {
      std::string notice = "trt-int8: " + std::to_string(droppedPending_) + " TensorRT log lines from worker threads were dropped";
      droppedPending_ = 0;
      source_->log(source_->self, TRT_INT8_LOG_WARNING, notice.c_str());
    }
  }
  void rememberError(const char* msg) noexcept {
    try {
      std::lock_guard<std::mutex> lock(errorMutex_);
      // The first errors name the cause (e.g. a library TensorRT could not load), the last ones where it
      // ended: keep both ends, drop the middle.
      if (errors_.size() >= kKeptErrors) errors_.erase(errors_.begin() + kKeptErrors / 2);
      errors_.emplace_back(msg ? msg : "");
    } catch (...) {
    }
  }

  static constexpr size_t kKeptErrors = 8;
  static constexpr size_t kMaxPendingLines = 1024;
  size_t droppedPending_ = 0;
  int maxSeverity_;
  uint32_t severityMask_;
  mutable std::mutex mutex_;
  TrtInt8BatchSource* source_ = nullptr;
  std::thread::id jobThread_;
  std::vector<std::pair<int, std::string>> pending_;
  mutable std::mutex errorMutex_;
  std::vector<std::string> errors_;
};

// TensorRT's IProgressMonitor. Abort is checked on every step from the bridge's flag (an atomic load: nothing
// goes to JavaScript for it); events go to JS only when someone listens (onProgress), thinned by the coalescer.
class ForwardingProgressMonitor : public nvinfer1::IProgressMonitor {
 public:
  ForwardingProgressMonitor(ForwardingLogger& logger, TrtInt8BatchSource* source, bool forwardEvents)
      : logger_(logger), source_(source), forwardEvents_(forwardEvents) {}

  void phaseStart(const char* phaseName, const char* parentPhase, int32_t nbSteps) noexcept override {
    if (forwardEvents_ && admit([&] { return coalescer_.admitStart(phaseName, parentPhase); }))
      emit("start", phaseName, parentPhase, nbSteps);
  }
  bool stepComplete(const char* phaseName, int32_t step) noexcept override {
    if (forwardEvents_ && admit([&] { return coalescer_.admitStep(phaseName); })) emit("step", phaseName, nullptr, step);
    // Returning false makes TensorRT cancel the build: that is how an AbortSignal (or a failed calibrator
    // callback, or the environment shutting down) reaches the builder.
    return !(source_ && source_->is_aborted(source_->self));
  }
  void phaseFinish(const char* phaseName) noexcept override {
    if (forwardEvents_ && admit([&] { return coalescer_.admitFinish(phaseName); })) emit("finish", phaseName, nullptr, 0);
  }

 private:
  template <typename Fn>
  bool admit(Fn&& decide) noexcept {
    try {
      // TensorRT documents no threading for the monitor; the lock is uncontended in practice.
      std::lock_guard<std::mutex> lock(mutex_);
      return decide();
    } catch (...) {
      return false;
    }
  }
  void emit(const char* event, const char* phase, const char* parent, int32_t number) noexcept {
    try {
      logger_.note(TRT_INT8_LOG_INFO, progressLine(event, phase, parent, number));
    } catch (...) {
    }
  }
  ForwardingLogger& logger_;
  TrtInt8BatchSource* source_;
  bool forwardEvents_;
  std::mutex mutex_;
  ProgressCoalescer coalescer_;
};

}  // namespace trt_int8::trt
