// TensorRT 10.x implicit calibration: one subclass per IInt8*Calibrator type, each forwarding to the
// calibrator bridge's TrtInt8BatchSource (and so to the TypeScript calibrator). Absent on 11.x.
#pragma once
#include "trt_api.h"

#if TRT_INT8_IMPLICIT_QUANTIZATION
#include <string>

#include "../core/bridge_abi.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace trt_int8::trt {

// What every forwarding calibrator shares: the source, and what went wrong, if anything.
struct CalibrationState {
  TrtInt8BatchSource* source = nullptr;
  int batchesServed = 0;
  // True once TensorRT asked for a batch: a build that fails before that failed for TensorRT's own reasons
  // (e.g. a missing builder resource), never for want of data.
  bool calibrationStarted = false;
  bool cacheRead = false;
  // Set when a source call failed (bad batch, abort, callback error): the build must then fail even though
  // TensorRT treats "no batch" as a normal end of calibration.
  bool failed = false;
  std::string failure;
};

template <typename Base>
class ForwardingCalibrator : public Base {
 public:
  explicit ForwardingCalibrator(CalibrationState& state) : state_(state) {}

  // The batch is the leading dimension of the calibration profile's OPT shape: TensorRT 10 ignores this
  // value for networks with explicit batch dimensions, and 1 keeps it from scaling anything.
  int32_t getBatchSize() const noexcept override { return 1; }

  bool getBatch(void* bindings[], const char* names[], int32_t nbBindings) noexcept override {
    TrtInt8BatchSource* s = state_.source;
    if (!s || state_.failed) return false;
    state_.calibrationStarted = true;
    int rc = s->get_batch(s->self, names, nbBindings, bindings);
    if (rc == TRT_INT8_BATCH_READY) {
      ++state_.batchesServed;
      return true;
    }
    if (rc != TRT_INT8_END_OF_DATA) fail("the calibrator's getBatch failed or was aborted");
    return false;
  }

  const void* readCalibrationCache(std::size_t& length) noexcept override {
    length = 0;
    TrtInt8BatchSource* s = state_.source;
    if (!s || state_.failed) return nullptr;
    const void* data = nullptr;
    size_t size = 0;
    int rc = s->read_cache(s->self, &data, &size);
    if (rc == TRT_INT8_CACHE_PRESENT && data && size > 0) {
      state_.cacheRead = true;
      length = size;
      return data;
    }
    if (rc == TRT_INT8_FAILED) fail("the calibrator's readCalibrationCache failed or was aborted");
    return nullptr;
  }

  void writeCalibrationCache(const void* ptr, std::size_t length) noexcept override {
    TrtInt8BatchSource* s = state_.source;
    if (!s || state_.failed) return;
    if (s->write_cache(s->self, ptr, length) != 0) fail("the calibrator's writeCalibrationCache failed");
  }

 protected:
  void fail(const char* why) noexcept {
    if (state_.failed) return;
    state_.failed = true;
    try {
      state_.failure = why;
    } catch (...) {
    }
  }
  CalibrationState& state_;
};

using EntropyCalibrator2 = ForwardingCalibrator<nvinfer1::IInt8EntropyCalibrator2>;
using EntropyCalibrator = ForwardingCalibrator<nvinfer1::IInt8EntropyCalibrator>;
using MinMaxCalibrator = ForwardingCalibrator<nvinfer1::IInt8MinMaxCalibrator>;

class LegacyCalibrator : public ForwardingCalibrator<nvinfer1::IInt8LegacyCalibrator> {
 public:
  LegacyCalibrator(CalibrationState& state, double quantile, double regressionCutoff)
      : ForwardingCalibrator(state), quantile_(quantile), regressionCutoff_(regressionCutoff) {}
  double getQuantile() const noexcept override { return quantile_; }
  double getRegressionCutoff() const noexcept override { return regressionCutoff_; }
  // The histogram cache only saves TensorRT from re-running batches when quantile/cutoff are tuned;
  // we keep no second cache format, so TensorRT always collects histograms afresh.
  const void* readHistogramCache(std::size_t& length) noexcept override {
    length = 0;
    return nullptr;
  }
  void writeHistogramCache(const void*, std::size_t) noexcept override {}

 private:
  double quantile_;
  double regressionCutoff_;
};

}  // namespace trt_int8::trt

#pragma GCC diagnostic pop
#endif  // TRT_INT8_IMPLICIT_QUANTIZATION
