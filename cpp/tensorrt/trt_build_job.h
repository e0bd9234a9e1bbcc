// "Build this ONNX network with these options": the state of one engine build, run by the core's
// calibrator bridge on its job thread (see cpp/core/bridge_abi.h).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../core/bridge_abi.h"

namespace trt_int8::trt {

struct TrtLibrary;

struct ShapeRange {
  std::vector<int64_t> min, opt, max;
};

enum class Precision { kFP32, kFP16, kINT8, kBEST };
enum class CalibratorKind { kNone, kEntropy2, kEntropy, kMinMax, kLegacy };

// Everything the build needs, copied out of JS on the main thread (JS validated it first).
struct BuildSpec {
  std::vector<uint8_t> onnx;
  std::string onnxPath;  // where the model lives, for external weights; may be empty
  Precision precision = Precision::kFP32;
  CalibratorKind calibrator = CalibratorKind::kNone;
  double legacyQuantile = 0.9999;
  double legacyRegressionCutoff = 1.0;
  std::vector<std::map<std::string, ShapeRange>> profiles;
  std::map<std::string, std::vector<int64_t>> calibrationProfile;  // fixed shapes; empty = static network
  int64_t workspaceBytes = 0;                                      // 0 = TensorRT's default
  bool useTimingCache = false;
  std::vector<uint8_t> timingCache;  // bytes to start from (may be empty with useTimingCache)
  int builderOptimizationLevel = -1; // -1 = TensorRT's default
  std::vector<std::string> exclude;  // layer names kept in FP32 (10.x: precision constraints)
  // 10.x: precisions asked of TensorRT per layer (trtexec --layerPrecisions); layer "*" = every layer whose outputs
  // are floating point, except constants. Exclusions win. Precision::kINT8 / kFP16 / kFP32 only.
  std::vector<std::pair<std::string, Precision>> layerPrecisions;
  // 10.x: with constraints (layerPrecisions or exclude), fail where TensorRT cannot honour one (kOBEY) instead of
  // falling back with a warning (kPREFER, the default).
  bool obeyPrecisionConstraints = false;
  int maxLogSeverity = TRT_INT8_LOG_WARNING;
  // Bit s set: forward severity s (the levels the JS logger has a method for). 0 = every level up to maxLogSeverity.
  uint32_t logSeverityMask = 0;
  bool forwardProgress = false;  // onProgress listens: progress events go to JS (coalesced)
  // 10.x: build the network strongly typed (kSTRONGLY_TYPED), as 11.x always does: the ONNX types and Q/DQ nodes
  // decide every precision, no precision flag is set. Ignored on 11.x, where it is the only mode.
  bool stronglyTyped = false;
  // 10.x, Entropy (v1) and Legacy calibrators only: calibrate before layer fusion (QuantizationFlag
  // kCALIBRATE_BEFORE_FUSION). After fusion, tensors inside fused layers get no scale and the layers that read
  // them cannot run in INT8; on TensorRT 10.6 that left every layer of the Fashion-MNIST model in FP32.
  bool calibrateBeforeFusion = true;
  // No progress monitor and no log forwarding at all (TRT_INT8_BUILD_INSTRUMENTATION=none): TensorRT as bare as
  // a C++ program would run it, so benchmarks can measure what our instrumentation costs. Abort then takes
  // effect only between calibration batches and after the build.
  bool bare = false;
};

// What a finished build hands back to JS.
struct BuildResult {
  bool done = false;
  std::vector<uint8_t> plan;
  std::vector<uint8_t> timingCache;
  int calibrationBatches = 0;
  bool calibrationCacheUsed = false;
  std::vector<std::string> excludedLayers;  // the layer names the exclusions matched
  // Why the build failed (code empty when it did not): takeBuildResult throws it as a coded JS error.
  struct {
    std::string code;
    std::string message;
  } failure;
};

struct BuildJobState {
  const TrtLibrary* library = nullptr;
  BuildSpec spec;
  std::shared_ptr<BuildResult> result;  // shared with the JS-side result handle
};

// bridge_abi.h's run/destroy for a BuildJobState.
int runBuildJob(void* arg, TrtInt8BatchSource* source, char* error, size_t capacity);
void destroyBuildJob(void* arg);

}  // namespace trt_int8::trt
