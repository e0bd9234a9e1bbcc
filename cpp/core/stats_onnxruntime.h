// onnxruntime, called through its C API from the statistics engine, so that calibrate() can count histograms
// straight from the memory onnxruntime wrote its outputs to: onnxruntime-node copies every output into a fresh
// JavaScript ArrayBuffer (about 1 s of CPU per GB on a 2-core machine), which for a detector is most of the
// calibration time (docs/calibration-speed.md).
//
// The library is the one onnxruntime-node ships (its path comes from JavaScript), opened with dlopen: no link-time
// dependency, so the addon still loads without onnxruntime. Only the few functions below are used, looked up by
// their position in onnxruntime's OrtApi table, which onnxruntime keeps append-only across releases (all of them
// are in version 1 of the table).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace trt_int8::stats {

// Opaque onnxruntime handles.
struct OrtEnvHandle;
struct OrtSessionHandle;
struct OrtValueHandle;
struct OrtRunOptionsHandle;

// ONNX element types (TensorProto.DataType), as onnxruntime numbers them.
enum class OrtElementType : int32_t {
  kFloat = 1, kUint8 = 2, kInt8 = 3, kUint16 = 4, kInt16 = 5, kInt32 = 6, kInt64 = 7, kString = 8,
  kBool = 9, kFloat16 = 10, kDouble = 11, kUint32 = 12, kUint64 = 13,
};

// The loaded library: its API table, one environment and CPU memory info. Lives for the whole process once
// loaded (onnxruntime's own environment is a process-wide singleton). Throws std::runtime_error with a message.
class OrtRuntime {
 public:
  static OrtRuntime& load(const std::string& libraryPath);
  void* fn(size_t index) const { return table_[index]; }
  // Throws std::runtime_error(onnxruntime's message) for a non-null status, releasing it.
  void check(void* status, const char* what) const;
  OrtEnvHandle* env() const { return env_; }
  void* cpuMemoryInfo() const { return memoryInfo_; }

 private:
  OrtRuntime() = default;
  void* const* table_ = nullptr;
  OrtEnvHandle* env_ = nullptr;
  void* memoryInfo_ = nullptr;
};

// One input of a run: bytes owned by the run (copied from JavaScript).
struct OrtFeed {
  std::string name;
  OrtElementType type = OrtElementType::kFloat;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

// One output of a run, owned: released (back to the session's allocator) on destruction.
class OrtOutput {
 public:
  OrtOutput(OrtRuntime* runtime, OrtValueHandle* value) : runtime_(runtime), value_(value) {}
  ~OrtOutput();
  OrtOutput(const OrtOutput&) = delete;
  OrtOutput& operator=(const OrtOutput&) = delete;
  bool valid() const { return value_ != nullptr; }
  bool isTensor() const;
  OrtElementType elementType() const;
  size_t elementCount() const;
  const void* data() const;

 private:
  OrtRuntime* runtime_;
  OrtValueHandle* value_;
};

// The operator a calibration model may use to summarize a float tensor inside the graph, while its values are still in
// cache and without keeping them as a graph output until the run ends: kSummaryDomain.kSummaryOp(x float) -> double[4]
// { min, max (of the finite values), non-finite count, element count }; min/max are +/-Infinity when none is finite.
// Sessions created with summaryOps register it (src/onnx/model.ts withTensorSummaries writes the nodes).
inline constexpr const char* kSummaryDomain = "trt_int8.stats";
inline constexpr const char* kSummaryOp = "TensorSummary";

// A session on the CPU execution provider. Thread-safe for concurrent run() as onnxruntime sessions are.
class OrtModelSession {
 public:
  // intraOpThreads 0: onnxruntime's default (one per physical core), as onnxruntime-node and -Python use.
  OrtModelSession(OrtRuntime& runtime, const void* model, size_t modelBytes, int intraOpThreads, bool summaryOps = false);
  ~OrtModelSession();
  OrtModelSession(const OrtModelSession&) = delete;
  OrtModelSession& operator=(const OrtModelSession&) = delete;

  // Runs the model; outputs in the order of `fetches`. `terminate` (may be null) is the run's options handle,
  // on which terminate() can be called from another thread. Throws std::runtime_error with onnxruntime's message.
  std::vector<std::unique_ptr<OrtOutput>> run(const std::vector<OrtFeed>& feeds, const std::vector<std::string>& fetches,
                                              OrtRunOptionsHandle* options);
  OrtRunOptionsHandle* createRunOptions();
  void releaseRunOptions(OrtRunOptionsHandle* options);
  void terminate(OrtRunOptionsHandle* options);

 private:
  OrtRuntime& runtime_;
  OrtSessionHandle* session_ = nullptr;
  // Whether this session uses the environment's arena (see acquireEnvArena in the .cc), released with it.
  bool usesEnvArena_ = false;
};

}  // namespace trt_int8::stats
