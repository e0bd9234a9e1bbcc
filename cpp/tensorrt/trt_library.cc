#include "trt_library.h"

#include <dlfcn.h>

namespace trt_int8::trt {

LibraryVersion decodeVersion(int32_t encoded) {
  LibraryVersion v;
  v.major = encoded / 10000;
  v.minor = (encoded / 100) % 100;
  v.patch = encoded % 100;
  return v;
}

namespace {

std::string dlerrorText() {
  const char* e = dlerror();
  return e ? std::string(e) : std::string("unknown dlopen error");
}

template <typename Fn>
bool bind(void* handle, const char* symbol, Fn& out, std::string& error) {
  dlerror();
  void* p = dlsym(handle, symbol);
  if (!p) {
    error = std::string("symbol ") + symbol + " not found: " + dlerrorText();
    return false;
  }
  out = reinterpret_cast<Fn>(p);
  return true;
}

std::mutex gMutex;
TrtLibrary gLibrary;
bool gLoaded = false;

}  // namespace

const TrtLibrary* loadedTensorRT() {
  std::lock_guard<std::mutex> lock(gMutex);
  return gLoaded ? &gLibrary : nullptr;
}

LoadResult loadTensorRT(const std::string& nvinferPath, const std::string& onnxparserPath) {
  std::lock_guard<std::mutex> lock(gMutex);
  LoadResult result;
  if (gLoaded && (onnxparserPath.empty() || gLibrary.onnxparser)) {
    result.library = &gLibrary;
    return result;
  }
  if (!gLoaded) {
    TrtLibrary lib;
    // RTLD_LOCAL: TensorRT's symbols must not leak into Node's global namespace.
    lib.nvinfer = dlopen(nvinferPath.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib.nvinfer) {
      result.error = "dlopen(" + nvinferPath + ") failed: " + dlerrorText();
      result.reason = "not-found";
      return result;
    }
    std::string error;
    if (!bind(lib.nvinfer, "getInferLibVersion", lib.getInferLibVersion, error) ||
        !bind(lib.nvinfer, "createInferBuilder_INTERNAL", lib.createInferBuilder, error) ||
        !bind(lib.nvinfer, "createInferRuntime_INTERNAL", lib.createInferRuntime, error)) {
      dlclose(lib.nvinfer);
      result.error = nvinferPath + ": " + error;
      result.reason = "missing-symbol";
      return result;
    }
    lib.version = decodeVersion(lib.getInferLibVersion());
    if (lib.version.major != kCompiledMajor) {
      dlclose(lib.nvinfer);
      result.error = nvinferPath + " is TensorRT " + std::to_string(lib.version.major) + "." +
                     std::to_string(lib.version.minor) + "." + std::to_string(lib.version.patch) +
                     ", but this module was compiled for TensorRT " + std::to_string(kCompiledMajor) + ".x";
      result.reason = "version-mismatch";
      return result;
    }
    lib.nvinferPath = nvinferPath;
    gLibrary = lib;
    gLoaded = true;
  }
  if (!onnxparserPath.empty() && !gLibrary.onnxparser) {
    void* parser = dlopen(onnxparserPath.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!parser) {
      result.error = "dlopen(" + onnxparserPath + ") failed: " + dlerrorText();
      result.reason = "not-found";
      return result;
    }
    std::string error;
    if (!bind(parser, "createNvOnnxParser_INTERNAL", gLibrary.createOnnxParser, error)) {
      dlclose(parser);
      result.error = onnxparserPath + ": " + error;
      result.reason = "missing-symbol";
      return result;
    }
    gLibrary.onnxparser = parser;
    gLibrary.onnxparserPath = onnxparserPath;
  }
  result.library = &gLibrary;
  return result;
}

}  // namespace trt_int8::trt
