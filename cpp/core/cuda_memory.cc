#include "cuda_memory.h"

#include <map>
#include <mutex>

namespace trt_int8 {
namespace cuda {

std::shared_ptr<Device> Device::open(int ordinal, std::string* error) {
  const DriverLoad& load = loadDriver();
  if (!load.driver) {
    *error = load.reason;
    return nullptr;
  }
  const Driver& driver = *load.driver;
  // One Device per ordinal while anyone holds it, so the primary context is retained once per owner set.
  static std::mutex mutex;
  static std::map<int, std::weak_ptr<Device>> open;
  std::lock_guard<std::mutex> lock(mutex);
  if (auto existing = open[ordinal].lock()) return existing;
  int count = 0;
  CUresult result = driver.cuDeviceGetCount(&count);
  if (result != CUDA_SUCCESS) {
    *error = "cuDeviceGetCount failed: " + driver.describe(result);
    return nullptr;
  }
  if (ordinal < 0 || ordinal >= count) {
    *error = "CUDA device " + std::to_string(ordinal) + " does not exist (" + std::to_string(count) + " devices)";
    return nullptr;
  }
  CUdevice device = 0;
  result = driver.cuDeviceGet(&device, ordinal);
  if (result != CUDA_SUCCESS) {
    *error = "cuDeviceGet failed: " + driver.describe(result);
    return nullptr;
  }
  CUcontext context = nullptr;
  result = driver.cuDevicePrimaryCtxRetain(&context, device);
  if (result != CUDA_SUCCESS) {
    *error = "cuDevicePrimaryCtxRetain failed: " + driver.describe(result);
    return nullptr;
  }
  std::shared_ptr<Device> created(new Device(driver, ordinal, device, context));
  open[ordinal] = created;
  return created;
}

Device::~Device() { driver_.cuDevicePrimaryCtxRelease(device_); }

std::unique_ptr<DeviceMemory> DeviceMemory::allocate(std::shared_ptr<Device> device, size_t bytes, std::string* error) {
  const Driver& driver = device->driver();
  ScopedContext scope(driver, device->context());
  CUdeviceptr pointer = 0;
  // cuMemAlloc refuses 0 bytes; a 1-byte allocation keeps every buffer a real, distinct pointer.
  CUresult result = driver.cuMemAlloc(&pointer, bytes == 0 ? 1 : bytes);
  if (result != CUDA_SUCCESS) {
    *error = "cuMemAlloc(" + std::to_string(bytes) + " bytes) failed: " + driver.describe(result);
    return nullptr;
  }
  return std::unique_ptr<DeviceMemory>(new DeviceMemory(std::move(device), pointer, bytes));
}

DeviceMemory::~DeviceMemory() {
  ScopedContext scope(device_->driver(), device_->context());
  device_->driver().cuMemFree(pointer_);
}

std::unique_ptr<PinnedMemory> PinnedMemory::allocate(std::shared_ptr<Device> device, size_t bytes, std::string* error) {
  const Driver& driver = device->driver();
  ScopedContext scope(driver, device->context());
  void* data = nullptr;
  CUresult result = driver.cuMemHostAlloc(&data, bytes == 0 ? 1 : bytes, CU_MEMHOSTALLOC_PORTABLE);
  if (result != CUDA_SUCCESS) {
    *error = "cuMemHostAlloc(" + std::to_string(bytes) + " bytes) failed: " + driver.describe(result);
    return nullptr;
  }
  return std::unique_ptr<PinnedMemory>(new PinnedMemory(std::move(device), data, bytes));
}

PinnedMemory::~PinnedMemory() {
  ScopedContext scope(device_->driver(), device_->context());
  device_->driver().cuMemFreeHost(data_);
}

std::unique_ptr<Stream> Stream::create(std::shared_ptr<Device> device, std::string* error) {
  const Driver& driver = device->driver();
  ScopedContext scope(driver, device->context());
  CUstream stream = nullptr;
  CUresult result = driver.cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING);
  if (result != CUDA_SUCCESS) {
    *error = "cuStreamCreate failed: " + driver.describe(result);
    return nullptr;
  }
  return std::unique_ptr<Stream>(new Stream(std::move(device), stream));
}

Stream::~Stream() {
  ScopedContext scope(device_->driver(), device_->context());
  device_->driver().cuStreamDestroy(stream_);
}

}  // namespace cuda
}  // namespace trt_int8
