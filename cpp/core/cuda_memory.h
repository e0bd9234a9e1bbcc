// cuda_memory.h - RAII owners of CUDA resources (primary context, device memory, pinned host memory, stream), shared
// by the `cuda` module (DeviceBuffer / PinnedBuffer for JS) and the calibrator bridge (its batch buffers).
// Every owner keeps the device (and so the primary context) alive until it is freed, on whichever thread.
#pragma once

#include <memory>
#include <string>

#include "cuda_driver.h"

namespace trt_int8 {
namespace cuda {

// One device's retained primary context. Shared: released when the last owner goes.
class Device {
 public:
  // The device with this ordinal, or null with *error set (CUDA missing, bad ordinal, context failure).
  static std::shared_ptr<Device> open(int ordinal, std::string* error);
  ~Device();

  const Driver& driver() const { return driver_; }
  int ordinal() const { return ordinal_; }
  CUcontext context() const { return context_; }

  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

 private:
  Device(const Driver& driver, int ordinal, CUdevice device, CUcontext context)
      : driver_(driver), ordinal_(ordinal), device_(device), context_(context) {}
  const Driver& driver_;
  int ordinal_;
  CUdevice device_;
  CUcontext context_;
};

class DeviceMemory {
 public:
  static std::unique_ptr<DeviceMemory> allocate(std::shared_ptr<Device> device, size_t bytes, std::string* error);
  ~DeviceMemory();
  CUdeviceptr pointer() const { return pointer_; }
  size_t size() const { return size_; }
  const std::shared_ptr<Device>& device() const { return device_; }

 private:
  DeviceMemory(std::shared_ptr<Device> device, CUdeviceptr pointer, size_t size)
      : device_(std::move(device)), pointer_(pointer), size_(size) {}
  std::shared_ptr<Device> device_;
  CUdeviceptr pointer_;
  size_t size_;
};

class PinnedMemory {
 public:
  static std::unique_ptr<PinnedMemory> allocate(std::shared_ptr<Device> device, size_t bytes, std::string* error);
  ~PinnedMemory();
  void* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  PinnedMemory(std::shared_ptr<Device> device, void* data, size_t size) : device_(std::move(device)), data_(data), size_(size) {}
  std::shared_ptr<Device> device_;
  void* data_;
  size_t size_;
};

class Stream {
 public:
  static std::unique_ptr<Stream> create(std::shared_ptr<Device> device, std::string* error);
  ~Stream();
  CUstream handle() const { return stream_; }

 private:
  Stream(std::shared_ptr<Device> device, CUstream stream) : device_(std::move(device)), stream_(stream) {}
  std::shared_ptr<Device> device_;
  CUstream stream_;
};

}  // namespace cuda
}  // namespace trt_int8
