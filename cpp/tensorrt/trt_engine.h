// A deserialized engine with one execution context: I/O description, layer inspection and inference.
// Plain C++ (no N-API) so that its work can run off the JS main thread.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "../core/cuda_memory.h"
#include "trt_api.h"

namespace trt_int8::trt {

struct TrtLibrary;

struct TensorInfo {
  std::string name;
  bool isInput = false;
  std::string dtype;  // our names: float32, float16, int8, ...
  std::vector<int64_t> shape;  // -1 for dynamic dimensions
  // For dynamic inputs, profile 0's range.
  std::vector<int64_t> min, opt, max;
};

struct HostTensor {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;
};

struct InferTiming {
  // Per repeat, by CUDA events around each run on the stream. Runs are queued back to back (no host wait between
  // them), as trtexec times them, so launch gaps count only where the GPU outruns the host.
  std::vector<double> gpuMs;
  bool cudaGraph = false;       // the timed runs replayed one captured CUDA graph (no launch overhead)
  double copyInMs = 0;          // host to device, last repeat
  double copyOutMs = 0;         // device to host
  // With profileRuns > 0: TensorRT's time per engine layer (IProfiler), mean over those runs, in execution order.
  std::vector<std::pair<std::string, double>> layerMs;
};

// Keeps only error lines: an engine outlives any calibrator bridge, so nothing is forwarded live.
class ErrorLogger : public nvinfer1::ILogger {
 public:
  void log(Severity severity, const char* msg) noexcept override;
  std::string lastErrors() const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> errors_;
};

class RuntimeEngine {
 public:
  // Deserializes a plan on device 0. Throws std::runtime_error with a "CODE: message" text on failure.
  static std::shared_ptr<RuntimeEngine> deserialize(const TrtLibrary& library, const std::vector<uint8_t>& plan);
  ~RuntimeEngine();

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  std::string inspect();  // IEngineInspector's JSON for the whole engine
  // Runs the engine `repeat` times on the same inputs (after `warmup` untimed runs) and returns the outputs.
  // With `cudaGraph`, the timed runs replay a CUDA graph captured from one run when capture works (timing.cudaGraph).
  // With `profileRuns` > 0, that many more plain runs follow with TensorRT's per-layer profiler (timing.layerMs);
  // they are synchronous (TensorRT times each layer), so they are kept apart from the timed runs.
  std::vector<HostTensor> infer(const std::vector<HostTensor>& inputs, int warmup, int repeat, bool cudaGraph, int profileRuns,
                                InferTiming& timing);

 private:
  RuntimeEngine() = default;
  std::mutex mutex_;  // one execution context: one inference at a time
  std::shared_ptr<cuda::Device> device_;
  ErrorLogger logger_;
  nvinfer1::IRuntime* runtime_ = nullptr;
  nvinfer1::ICudaEngine* engine_ = nullptr;
  nvinfer1::IExecutionContext* context_ = nullptr;
  std::vector<TensorInfo> tensors_;
};

std::string dtypeName(nvinfer1::DataType t);
size_t dtypeSize(nvinfer1::DataType t);  // 0 for packed sub-byte types

}  // namespace trt_int8::trt
