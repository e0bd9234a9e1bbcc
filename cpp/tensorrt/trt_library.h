// TensorRT is loaded at run time (dlopen), never linked: the module then loads on any machine and
// reports a missing or mismatched library as data instead of failing to load.
#pragma once
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "trt_api.h"

namespace trt_int8::trt {

struct LibraryVersion {
  int major = 0;
  int minor = 0;
  int patch = 0;
};

// The entry points we take from libnvinfer / libnvonnxparser. Everything else in TensorRT's API is
// reached through the virtual tables of the objects these return.
struct TrtLibrary {
  void* nvinfer = nullptr;
  void* onnxparser = nullptr;
  std::string nvinferPath;
  std::string onnxparserPath;
  LibraryVersion version;
  // Builder resources found beside libnvinfer (listed, not loaded: TensorRT loads the one it needs), whether
  // libnvinfer's dlopen was redirected so that it finds them there (see trt_library.cc), and what went wrong.
  std::vector<std::string> builderResources;
  bool builderResourceHooked = false;
  std::vector<std::string> builderResourceProblems;
  void* (*createInferBuilder)(void* logger, int32_t version) = nullptr;
  void* (*createInferRuntime)(void* logger, int32_t version) = nullptr;
  void* (*createOnnxParser)(void* network, void* logger, int version) = nullptr;
  int32_t (*getInferLibVersion)() = nullptr;

  nvinfer1::IBuilder* newBuilder(nvinfer1::ILogger& logger) const {
    return static_cast<nvinfer1::IBuilder*>(createInferBuilder(&logger, NV_TENSORRT_VERSION));
  }
  nvinfer1::IRuntime* newRuntime(nvinfer1::ILogger& logger) const {
    return static_cast<nvinfer1::IRuntime*>(createInferRuntime(&logger, NV_TENSORRT_VERSION));
  }
  nvonnxparser::IParser* newParser(nvinfer1::INetworkDefinition& network, nvinfer1::ILogger& logger) const {
    return static_cast<nvonnxparser::IParser*>(createOnnxParser(&network, &logger, NV_ONNX_PARSER_VERSION));
  }
};

struct LoadResult {
  const TrtLibrary* library = nullptr;  // null on failure
  std::string error;                    // why, on failure
  // One of: "not-found" (dlopen failed), "missing-symbol", "version-mismatch".
  std::string reason;
};

// Loads libnvinfer (and, when onnxparserPath is non-empty, libnvonnxparser) once per process. A later
// call with other paths gets the first library back: TensorRT cannot be unloaded safely once used.
LoadResult loadTensorRT(const std::string& nvinferPath, const std::string& onnxparserPath);

// The library loaded by an earlier loadTensorRT, or null.
const TrtLibrary* loadedTensorRT();

// Decodes getInferLibVersion(): 10.x and 11.x both encode major*10000 + minor*100 + patch.
LibraryVersion decodeVersion(int32_t encoded);

}  // namespace trt_int8::trt
