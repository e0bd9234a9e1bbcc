// TensorRT's ILogger and IProgressMonitor, forwarded to the calibrator bridge's source (and so to JS).
// The bridge allows source calls from the job thread only, while TensorRT may log from its own worker
// threads: lines from other threads are queued and flushed on the job thread at the next chance.
#pragma once
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../core/bridge_abi.h"
#include "trt_api.h"

namespace trt_int8::trt {

class ForwardingLogger : public nvinfer1::ILogger {
 public:
  // Lines above maxSeverity (numerically: more verbose) are dropped before they reach JS.
  explicit ForwardingLogger(int maxSeverity) : maxSeverity_(maxSeverity) {}

  // Starts forwarding to `source` from the calling thread (the job thread); null detaches.
  void attach(TrtInt8BatchSource* source) {
    std::lock_guard<std::mutex> lock(mutex_);
    source_ = source;
    jobThread_ = std::this_thread::get_id();
  }

  void log(Severity severity, const char* msg) noexcept override {
    int level = static_cast<int>(severity);
    if (level <= static_cast<int>(Severity::kERROR)) rememberError(msg);
    if (level > maxSeverity_) return;
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
      } else {
        pending_.emplace_back(level, msg ? msg : "");
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
  int maxSeverity_;
  mutable std::mutex mutex_;
  TrtInt8BatchSource* source_ = nullptr;
  std::thread::id jobThread_;
  std::vector<std::pair<int, std::string>> pending_;
  mutable std::mutex errorMutex_;
  std::vector<std::string> errors_;
};

// Progress goes to JS as log lines with this prefix (the bridge ABI has no progress call of its own);
// src/tensorrt routes them to onProgress instead of the logger.
constexpr const char* kProgressPrefix = "trt-int8:progress ";

class ForwardingProgressMonitor : public nvinfer1::IProgressMonitor {
 public:
  ForwardingProgressMonitor(ForwardingLogger& logger, TrtInt8BatchSource*& source) : logger_(logger), source_(source) {}

  void phaseStart(const char* phaseName, const char* parentPhase, int32_t nbSteps) noexcept override {
    emit("start", phaseName, parentPhase, nbSteps);
  }
  bool stepComplete(const char* phaseName, int32_t step) noexcept override {
    emit("step", phaseName, nullptr, step);
    // Returning false makes TensorRT cancel the build: that is how an AbortSignal reaches the builder.
    return !(source_ && source_->is_aborted(source_->self));
  }
  void phaseFinish(const char* phaseName) noexcept override { emit("finish", phaseName, nullptr, 0); }

 private:
  static std::string quote(const char* s) {
    std::string out = "\"";
    for (const char* p = s ? s : ""; *p; ++p) {
      if (*p == '"' || *p == '\\') out += '\\';
      if (static_cast<unsigned char>(*p) >= 0x20) out += *p;
    }
    return out + "\"";
  }
  void emit(const char* event, const char* phase, const char* parent, int32_t number) noexcept {
    try {
      std::string line = std::string(kProgressPrefix) + "{\"event\":\"" + event + "\",\"phase\":" + quote(phase) +
                         (parent ? ",\"parent\":" + quote(parent) : std::string()) +
                         ",\"n\":" + std::to_string(number) + "}";
      logger_.note(TRT_INT8_LOG_INFO, line);
    } catch (...) {
    }
  }
  ForwardingLogger& logger_;
  TrtInt8BatchSource*& source_;
};

}  // namespace trt_int8::trt
