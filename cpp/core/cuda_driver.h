// cuda_driver.h - the CUDA driver API loaded at run time with dlopen("libcuda.so.1"), so nothing links against CUDA
// and the addon loads (and says why) on machines without a GPU. Header-only and self-contained: the core addon and
// the separately built TensorRT modules each compile their own copy. Only the handful of entry points trt-int8 needs
// are declared here, with the driver's own types restated (no cuda.h needed to build).
#pragma once

#include <dlfcn.h>
#include <link.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <string>

namespace trt_int8 {
namespace cuda {

using CUresult = int;
using CUdevice = int;
using CUcontext = struct CUctx_st*;
using CUstream = struct CUstream_st*;
using CUdeviceptr = unsigned long long;

constexpr CUresult CUDA_SUCCESS = 0;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
constexpr unsigned CU_MEMHOSTALLOC_PORTABLE = 0x01;  // pinned memory usable from every context
constexpr unsigned CU_STREAM_NON_BLOCKING = 0x1;

struct Driver {
  void* handle = nullptr;
  std::string libraryPath;

  CUresult (*cuInit)(unsigned flags) = nullptr;
  CUresult (*cuDriverGetVersion)(int* version) = nullptr;
  CUresult (*cuGetErrorName)(CUresult error, const char** name) = nullptr;
  CUresult (*cuGetErrorString)(CUresult error, const char** text) = nullptr;
  CUresult (*cuDeviceGetCount)(int* count) = nullptr;
  CUresult (*cuDeviceGet)(CUdevice* device, int ordinal) = nullptr;
  CUresult (*cuDeviceGetName)(char* name, int length, CUdevice device) = nullptr;
  CUresult (*cuDeviceGetAttribute)(int* value, int attribute, CUdevice device) = nullptr;
  CUresult (*cuDeviceTotalMem)(size_t* bytes, CUdevice device) = nullptr;
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext* context, CUdevice device) = nullptr;
  CUresult (*cuDevicePrimaryCtxRelease)(CUdevice device) = nullptr;
  CUresult (*cuCtxPushCurrent)(CUcontext context) = nullptr;
  CUresult (*cuCtxPopCurrent)(CUcontext* context) = nullptr;
  CUresult (*cuCtxSetCurrent)(CUcontext context) = nullptr;
  CUresult (*cuMemAlloc)(CUdeviceptr* pointer, size_t bytes) = nullptr;
  CUresult (*cuMemFree)(CUdeviceptr pointer) = nullptr;
  CUresult (*cuMemHostAlloc)(void** pointer, size_t bytes, unsigned flags) = nullptr;
  CUresult (*cuMemFreeHost)(void* pointer) = nullptr;
  CUresult (*cuMemcpyHtoD)(CUdeviceptr destination, const void* source, size_t bytes) = nullptr;
  CUresult (*cuMemcpyDtoH)(void* destination, CUdeviceptr source, size_t bytes) = nullptr;
  CUresult (*cuMemcpyHtoDAsync)(CUdeviceptr destination, const void* source, size_t bytes, CUstream stream) = nullptr;
  CUresult (*cuMemcpyDtoHAsync)(void* destination, CUdeviceptr source, size_t bytes, CUstream stream) = nullptr;
  CUresult (*cuStreamCreate)(CUstream* stream, unsigned flags) = nullptr;
  CUresult (*cuStreamDestroy)(CUstream stream) = nullptr;
  CUresult (*cuStreamSynchronize)(CUstream stream) = nullptr;

  // "CUDA_ERROR_OUT_OF_MEMORY (out of memory)" for a result code.
  std::string describe(CUresult result) const {
    const char* name = nullptr;
    const char* text = nullptr;
    if (cuGetErrorName) cuGetErrorName(result, &name);
    if (cuGetErrorString) cuGetErrorString(result, &text);
    std::string out = name ? name : ("CUresult " + std::to_string(result));
    if (text) out += std::string(" (") + text + ")";
    return out;
  }
};

struct DriverLoad {
  const Driver* driver = nullptr;  // null when CUDA is unusable
  std::string reason;              // why, when driver is null
};

namespace detail {

template <typename Fn>
inline bool bindSymbol(void* handle, Fn& slot, const char* versioned, const char* plain, std::string& missing) {
  // Where a _v2 entry point exists only it is used: the unsuffixed one has the old ABI (32-bit CUdeviceptr etc.).
  void* symbol = dlsym(handle, versioned ? versioned : plain);
  if (!symbol) {
    missing = versioned ? versioned : plain;
    return false;
  }
  slot = reinterpret_cast<Fn>(symbol);
  return true;
}

inline DriverLoad loadOnce() {
  DriverLoad result;
  static Driver driver;
  const char* override = std::getenv("TRT_INT8_LIBCUDA_PATH");  // lets tests point at a missing or other library
  const char* name = override && *override ? override : "libcuda.so.1";
  void* handle = dlopen(name, RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* error = dlerror();
    result.reason = std::string("could not load ") + name + ": " + (error ? error : "unknown dlopen error") +
                    " (no NVIDIA driver installed, or it is not on the library path)";
    return result;
  }
  std::string missing;
  bool ok = bindSymbol(handle, driver.cuInit, nullptr, "cuInit", missing) &&
            bindSymbol(handle, driver.cuDriverGetVersion, nullptr, "cuDriverGetVersion", missing) &&
            bindSymbol(handle, driver.cuGetErrorName, nullptr, "cuGetErrorName", missing) &&
            bindSymbol(handle, driver.cuGetErrorString, nullptr, "cuGetErrorString", missing) &&
            bindSymbol(handle, driver.cuDeviceGetCount, nullptr, "cuDeviceGetCount", missing) &&
            bindSymbol(handle, driver.cuDeviceGet, nullptr, "cuDeviceGet", missing) &&
            bindSymbol(handle, driver.cuDeviceGetName, nullptr, "cuDeviceGetName", missing) &&
            bindSymbol(handle, driver.cuDeviceGetAttribute, nullptr, "cuDeviceGetAttribute", missing) &&
            bindSymbol(handle, driver.cuDeviceTotalMem, "cuDeviceTotalMem_v2", "cuDeviceTotalMem", missing) &&
            bindSymbol(handle, driver.cuDevicePrimaryCtxRetain, nullptr, "cuDevicePrimaryCtxRetain", missing) &&
            bindSymbol(handle, driver.cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2", "cuDevicePrimaryCtxRelease", missing) &&
            bindSymbol(handle, driver.cuCtxPushCurrent, "cuCtxPushCurrent_v2", "cuCtxPushCurrent", missing) &&
            bindSymbol(handle, driver.cuCtxPopCurrent, "cuCtxPopCurrent_v2", "cuCtxPopCurrent", missing) &&
            bindSymbol(handle, driver.cuCtxSetCurrent, nullptr, "cuCtxSetCurrent", missing) &&
            bindSymbol(handle, driver.cuMemAlloc, "cuMemAlloc_v2", "cuMemAlloc", missing) &&
            bindSymbol(handle, driver.cuMemFree, "cuMemFree_v2", "cuMemFree", missing) &&
            bindSymbol(handle, driver.cuMemHostAlloc, nullptr, "cuMemHostAlloc", missing) &&
            bindSymbol(handle, driver.cuMemFreeHost, nullptr, "cuMemFreeHost", missing) &&
            bindSymbol(handle, driver.cuMemcpyHtoD, "cuMemcpyHtoD_v2", "cuMemcpyHtoD", missing) &&
            bindSymbol(handle, driver.cuMemcpyDtoH, "cuMemcpyDtoH_v2", "cuMemcpyDtoH", missing) &&
            bindSymbol(handle, driver.cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2", "cuMemcpyHtoDAsync", missing) &&
            bindSymbol(handle, driver.cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2", "cuMemcpyDtoHAsync", missing) &&
            bindSymbol(handle, driver.cuStreamCreate, nullptr, "cuStreamCreate", missing) &&
            bindSymbol(handle, driver.cuStreamDestroy, "cuStreamDestroy_v2", "cuStreamDestroy", missing) &&
            bindSymbol(handle, driver.cuStreamSynchronize, nullptr, "cuStreamSynchronize", missing);
  if (!ok) {
    result.reason = std::string(name) + " lacks " + missing + " (driver too old?)";
    dlclose(handle);
    return result;
  }
  struct link_map* map = nullptr;
  if (dlinfo(handle, RTLD_DI_LINKMAP, &map) == 0 && map && map->l_name) driver.libraryPath = map->l_name;
  if (driver.libraryPath.empty()) driver.libraryPath = name;
  driver.handle = handle;
  CUresult init = driver.cuInit(0);
  if (init != CUDA_SUCCESS) {
    // Keep the library loaded (it stays mapped anyway) but report the driver as unusable.
    result.reason = "cuInit failed: " + driver.describe(init);
    return result;
  }
  result.driver = &driver;
  return result;
}

}  // namespace detail

// The process-wide driver table, loaded and initialized once. Thread-safe.
inline const DriverLoad& loadDriver() {
  static std::once_flag once;
  static DriverLoad load;
  std::call_once(once, [] { load = detail::loadOnce(); });
  return load;
}

// Makes a context current on this thread for a scope and restores the previous one afterwards.
class ScopedContext {
 public:
  ScopedContext(const Driver& driver, CUcontext context) : driver_(driver) {
    pushed_ = driver_.cuCtxPushCurrent(context) == CUDA_SUCCESS;
  }
  ~ScopedContext() {
    if (pushed_) {
      CUcontext popped = nullptr;
      driver_.cuCtxPopCurrent(&popped);
    }
  }
  bool ok() const { return pushed_; }
  ScopedContext(const ScopedContext&) = delete;
  ScopedContext& operator=(const ScopedContext&) = delete;

 private:
  const Driver& driver_;
  bool pushed_ = false;
};

}  // namespace cuda
}  // namespace trt_int8
