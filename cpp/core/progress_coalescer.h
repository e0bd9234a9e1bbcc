// Progress events for JavaScript, thinned so that they cost the builder nothing. TensorRT's IProgressMonitor fires
// for every tactic it times: a 640x640 detector built FP16 on TensorRT 10.6 gave 1.5 million events, 746,440 of
// them nested "Measuring" phases. A progress bar needs the top-level phases and a few updates a second, so:
//   - the start and finish of a top-level phase (no parent) always pass;
//   - any other event passes when its phase has shown nothing for `interval` (at most a few per second per phase
//     name), and a nested phase's finish passes exactly when its start did, so JS never sees a phase left open.
// Header-only and free of TensorRT and N-API: the TensorRT modules and the bridge's test driver share it.
#pragma once
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <unordered_map>

namespace trt_int8 {

// Progress goes to JS as log lines with this prefix (the bridge ABI has no progress call of its own);
// src/tensorrt/log.ts routes them to onProgress instead of the logger.
constexpr const char* kProgressPrefix = "trt-int8:progress ";

class ProgressCoalescer {
 public:
  using Clock = std::chrono::steady_clock;
  explicit ProgressCoalescer(Clock::duration interval = std::chrono::milliseconds(250)) : interval_(interval) {}

  bool admitStart(const char* phase, const char* parent) { return admit(phase, parent == nullptr, Event::kStart); }
  bool admitStep(const char* phase) { return admit(phase, false, Event::kStep); }
  bool admitFinish(const char* phase) { return admit(phase, false, Event::kFinish); }

  uint64_t admitted() const { return admitted_; }
  uint64_t suppressed() const { return suppressed_; }

 private:
  enum class Event { kStart, kStep, kFinish };
  struct PhaseState {
    Clock::time_point lastShown{};
    bool shownAtLeastOnce = false;
    bool topLevel = false;
    bool openShown = false;  // its latest start was passed on, so its finish must be too
  };

  // TensorRT alternates between very few phase names ("Measuring" inside one top-level phase): a strcmp against
  // the last few names found saves building and hashing a std::string for almost every event.
  PhaseState& stateOf(const char* phase) {
    const char* name = phase ? phase : "";
    for (Recent& recent : recent_)
      if (recent.state && std::strcmp(recent.name->c_str(), name) == 0) return *recent.state;
    auto it = phases_.try_emplace(name).first;
    recent_[nextRecent_] = Recent{&it->first, &it->second};
    nextRecent_ = (nextRecent_ + 1) % kRecent;
    return it->second;
  }

  bool admit(const char* phase, bool topLevelStart, Event event) {
    PhaseState& state = stateOf(phase);
    Clock::time_point now = Now();
    bool pass;
    if (event == Event::kStart) {
      state.topLevel = topLevelStart;
      pass = topLevelStart || due(state, now);
      state.openShown = pass;
    } else if (event == Event::kFinish) {
      pass = state.topLevel || state.openShown;
      state.openShown = false;
    } else {
      pass = due(state, now);
    }
    if (pass) {
      state.lastShown = now;
      state.shownAtLeastOnce = true;
      ++admitted_;
    } else {
      ++suppressed_;
    }
    return pass;
  }

  // The clock is read once every kClockStride events (a read costs as much as the rest of admit): the rate limit
  // then runs late by a few events at most, microseconds at TensorRT's pace.
  Clock::time_point Now() {
    if (clockCountdown_ == 0) {
      cachedNow_ = Clock::now();
      clockCountdown_ = kClockStride;
    }
    --clockCountdown_;
    return cachedNow_;
  }

  bool due(const PhaseState& state, Clock::time_point now) const {
    return !state.shownAtLeastOnce || now - state.lastShown >= interval_;
  }

  struct Recent {
    const std::string* name = nullptr;  // keys and values of an unordered_map never move
    PhaseState* state = nullptr;
  };
  static constexpr size_t kRecent = 4;
  static constexpr int kClockStride = 16;
  int clockCountdown_ = 0;
  Clock::time_point cachedNow_{};

  Clock::duration interval_;
  std::unordered_map<std::string, PhaseState> phases_;
  Recent recent_[kRecent];
  size_t nextRecent_ = 0;
  uint64_t admitted_ = 0;
  uint64_t suppressed_ = 0;
};

// One progress event as the line src/tensorrt/log.ts parses: prefix + {"event","phase","parent"?,"n"}.
inline std::string progressLine(const char* event, const char* phase, const char* parent, int32_t number) {
  auto quote = [](const char* s) {
    std::string out = "\"";
    for (const char* p = s ? s : ""; *p; ++p) {
      if (*p == '"' || *p == '\\') out += '\\';
      if (static_cast<unsigned char>(*p) >= 0x20) out += *p;
    }
    return out + "\"";
  };
  return std::string(kProgressPrefix) + "{\"event\":\"" + event + "\",\"phase\":" + quote(phase) +
         (parent ? ",\"parent\":" + quote(parent) : std::string()) + ",\"n\":" + std::to_string(number) + "}";
}

}  // namespace trt_int8
