// The `cuda` native module: probe() for capability reports, and DeviceBuffer / PinnedBuffer (RAII, GC-accounted)
// for JS. CUDA is loaded at run time (cuda_driver.h): without a driver, probe() says why and constructors throw
// ERR_CUDA_UNAVAILABLE.
#include <napi.h>

#include "cuda_memory.h"
#include "cuda_napi.h"
#include "module_registry.h"

namespace trt_int8 {
namespace {

using cuda::CUDA_SUCCESS;

std::shared_ptr<cuda::Device> openDevice(Napi::Env env, const Napi::Value& ordinalValue) {
  int ordinal = 0;
  if (!ordinalValue.IsUndefined()) {
    if (!ordinalValue.IsNumber()) throw codedError(env, "ERR_BAD_OPTION", "device must be a CUDA device index");
    ordinal = ordinalValue.As<Napi::Number>().Int32Value();
  }
  std::string error;
  auto device = cuda::Device::open(ordinal, &error);
  if (!device) throw codedError(env, "ERR_CUDA_UNAVAILABLE", error);
  return device;
}

size_t byteLengthArgument(Napi::Env env, const Napi::Value& value) {
  if (!value.IsNumber()) throw codedError(env, "ERR_BAD_OPTION", "byteLength must be a number");
  double bytes = value.As<Napi::Number>().DoubleValue();
  // Range first: casting a NaN, negative or huge double to an integer is undefined behaviour.
  if (!(bytes >= 0 && bytes <= 9007199254740991.0) || bytes != static_cast<double>(static_cast<uint64_t>(bytes))) {
    throw codedError(env, "ERR_BAD_OPTION", "byteLength must be a non-negative integer");
  }
  return static_cast<size_t>(bytes);
}

size_t offsetArgument(Napi::Env env, const Napi::Value& value) {
  return value.IsUndefined() ? 0 : byteLengthArgument(env, value);
}

Napi::Value probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object report = Napi::Object::New(env);
  Napi::Array devices = Napi::Array::New(env);
  report.Set("devices", devices);
  const cuda::DriverLoad& load = cuda::loadDriver();
  if (!load.driver) {
    report.Set("available", false);
    report.Set("reason", load.reason);
    return report;
  }
  const cuda::Driver& driver = *load.driver;
  report.Set("libraryPath", driver.libraryPath);
  int version = 0;
  if (driver.cuDriverGetVersion(&version) == CUDA_SUCCESS) report.Set("driverVersion", version);
  int count = 0;
  cuda::CUresult result = driver.cuDeviceGetCount(&count);
  if (result != CUDA_SUCCESS) {
    report.Set("available", false);
    report.Set("reason", "cuDeviceGetCount failed: " + driver.describe(result));
    return report;
  }
  for (int i = 0; i < count; ++i) {
    cuda::CUdevice device = 0;
    if (driver.cuDeviceGet(&device, i) != CUDA_SUCCESS) continue;
    char name[256] = {0};
    driver.cuDeviceGetName(name, sizeof name - 1, device);
    int major = 0, minor = 0;
    driver.cuDeviceGetAttribute(&major, cuda::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device);
    driver.cuDeviceGetAttribute(&minor, cuda::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device);
    size_t total = 0;
    driver.cuDeviceTotalMem(&total, device);
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("index", i);
    entry.Set("name", name);
    Napi::Array capability = Napi::Array::New(env, 2);
    capability.Set(0u, major);
    capability.Set(1u, minor);
    entry.Set("computeCapability", capability);
    entry.Set("totalMemory", static_cast<double>(total));
    devices.Set(devices.Length(), entry);
  }
  report.Set("available", count > 0);
  if (count == 0) report.Set("reason", "the NVIDIA driver reports no CUDA devices");
  return report;
}

class PinnedBuffer : public Napi::ObjectWrap<PinnedBuffer> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "PinnedBuffer",
                       {InstanceAccessor<&PinnedBuffer::ByteLength>("byteLength"),
                        InstanceAccessor<&PinnedBuffer::Disposed>("disposed"),
                        InstanceMethod<&PinnedBuffer::LendArrayBuffer>("arrayBuffer"),
                        InstanceMethod<&PinnedBuffer::CopyFrom>("copyFrom"),
                        InstanceMethod<&PinnedBuffer::CopyTo>("copyTo"),
                        InstanceMethod<&PinnedBuffer::Dispose>("dispose")});
  }

  // new PinnedBuffer(byteLength, device?)
  explicit PinnedBuffer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PinnedBuffer>(info) {
    Napi::Env env = info.Env();
    size_t bytes = byteLengthArgument(env, info[0]);
    auto device = openDevice(env, info[1]);
    std::string error;
    auto memory = cuda::PinnedMemory::allocate(device, bytes, &error);
    if (!memory) throw codedError(env, "ERR_CUDA_UNAVAILABLE", error);
    block_ = std::make_shared<ChargedHostBlock>();
    block_->block = std::make_unique<PinnedHostBlock>(std::move(memory));
    block_->charge = std::make_unique<ExternalMemoryCharge>(env, bytes);
    info.This().As<Napi::Object>().TypeTag(&kPinnedBufferTag);
  }

  // The pinned bytes, or throws if disposed. Used by DeviceBuffer for DMA-capable copies.
  uint8_t* bytes(Napi::Env env, size_t* length) const {
    if (!block_) throw codedError(env, "ERR_BAD_OPTION", "the PinnedBuffer was disposed");
    *length = block_->block->size();
    return static_cast<uint8_t*>(block_->block->data());
  }

 private:
  Napi::Value ByteLength(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), block_ ? static_cast<double>(block_->block->size()) : 0);
  }
  Napi::Value Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !block_); }

  // A zero-copy ArrayBuffer over the pinned memory (keeps it alive), or null where external buffers are forbidden.
  Napi::Value LendArrayBuffer(const Napi::CallbackInfo& info) {
    size_t length = 0;
    bytes(info.Env(), &length);
    Napi::Value lent = lendArrayBuffer(info.Env(), block_);
    return lent.IsEmpty() ? info.Env().Null() : lent;
  }

  // copyFrom(view, byteOffset?): host memcpy of view's bytes into the buffer at byteOffset.
  Napi::Value CopyFrom(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    size_t length = 0;
    uint8_t* target = bytes(env, &length);
    uint8_t* source = nullptr;
    size_t count = 0;
    if (!bytesOf(info[0], &source, &count)) throw codedError(env, "ERR_BAD_OPTION", "copyFrom expects a TypedArray, DataView or ArrayBuffer");
    size_t offset = offsetArgument(env, info[1]);
    if (offset > length || count > length - offset) throw codedError(env, "ERR_BAD_OPTION", "copyFrom: source does not fit in the buffer");
    std::memmove(target + offset, source, count);
    return env.Undefined();
  }

  Napi::Value CopyTo(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    size_t length = 0;
    uint8_t* source = bytes(env, &length);
    uint8_t* target = nullptr;
    size_t count = 0;
    if (!bytesOf(info[0], &target, &count)) throw codedError(env, "ERR_BAD_OPTION", "copyTo expects a TypedArray, DataView or ArrayBuffer");
    size_t offset = offsetArgument(env, info[1]);
    if (offset > length || count > length - offset) throw codedError(env, "ERR_BAD_OPTION", "copyTo: target is larger than the bytes available");
    std::memmove(target, source + offset, count);
    return env.Undefined();
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    block_.reset();  // freed now unless an ArrayBuffer from arrayBuffer() still views it
    return info.Env().Undefined();
  }

  std::shared_ptr<ChargedHostBlock> block_;
};

class DeviceBuffer : public Napi::ObjectWrap<DeviceBuffer> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "DeviceBuffer",
                       {InstanceAccessor<&DeviceBuffer::ByteLength>("byteLength"),
                        InstanceAccessor<&DeviceBuffer::Disposed>("disposed"),
                        InstanceAccessor<&DeviceBuffer::DeviceOrdinal>("device"),
                        InstanceAccessor<&DeviceBuffer::Address>("address"),
                        InstanceMethod<&DeviceBuffer::CopyFrom>("copyFrom"),
                        InstanceMethod<&DeviceBuffer::CopyTo>("copyTo"),
                        InstanceMethod<&DeviceBuffer::Dispose>("dispose")});
  }

  // new DeviceBuffer(byteLength, device?)
  explicit DeviceBuffer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DeviceBuffer>(info) {
    Napi::Env env = info.Env();
    size_t bytes = byteLengthArgument(env, info[0]);
    auto device = openDevice(env, info[1]);
    std::string error;
    memory_ = cuda::DeviceMemory::allocate(device, bytes, &error);
    if (!memory_) throw codedError(env, "ERR_CUDA_UNAVAILABLE", error);
    charge_ = std::make_unique<ExternalMemoryCharge>(env, bytes);
    info.This().As<Napi::Object>().TypeTag(&kDeviceBufferTag);
  }

 private:
  cuda::DeviceMemory& memory(Napi::Env env) const {
    if (!memory_) throw codedError(env, "ERR_BAD_OPTION", "the DeviceBuffer was disposed");
    return *memory_;
  }
  Napi::Value ByteLength(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), memory_ ? static_cast<double>(memory_->size()) : 0);
  }
  Napi::Value Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !memory_); }
  Napi::Value DeviceOrdinal(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), memory_ ? memory_->device()->ordinal() : -1);
  }
  Napi::Value Address(const Napi::CallbackInfo& info) {
    return Napi::BigInt::New(info.Env(), static_cast<uint64_t>(memory_ ? memory_->pointer() : 0));
  }

  // Host bytes of a PinnedBuffer (DMA path) or of any TypedArray/ArrayBuffer (pageable: the driver stages it).
  static uint8_t* hostBytes(Napi::Env env, const Napi::Value& value, size_t* length) {
    if (value.IsObject() && value.As<Napi::Object>().CheckTypeTag(&kPinnedBufferTag)) {
      return PinnedBuffer::Unwrap(value.As<Napi::Object>())->bytes(env, length);
    }
    uint8_t* data = nullptr;
    if (!bytesOf(value, &data, length)) throw codedError(env, "ERR_BAD_OPTION", "expected a PinnedBuffer, TypedArray, DataView or ArrayBuffer");
    return data;
  }

  // copyFrom(source, byteOffset?): synchronous host -> device copy of all of source's bytes.
  Napi::Value CopyFrom(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    cuda::DeviceMemory& target = memory(env);
    size_t count = 0;
    uint8_t* source = hostBytes(env, info[0], &count);
    size_t offset = offsetArgument(env, info[1]);
    if (offset > target.size() || count > target.size() - offset) throw codedError(env, "ERR_BAD_OPTION", "copyFrom: source does not fit in the device buffer");
    const cuda::Driver& driver = target.device()->driver();
    cuda::ScopedContext scope(driver, target.device()->context());
    cuda::CUresult result = count == 0 ? CUDA_SUCCESS : driver.cuMemcpyHtoD(target.pointer() + offset, source, count);
    if (result != CUDA_SUCCESS) throw codedError(env, "ERR_CUDA_UNAVAILABLE", "cuMemcpyHtoD failed: " + driver.describe(result));
    return env.Undefined();
  }

  // copyTo(target, byteOffset?): synchronous device -> host copy filling all of target's bytes.
  Napi::Value CopyTo(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    cuda::DeviceMemory& source = memory(env);
    size_t count = 0;
    uint8_t* target = hostBytes(env, info[0], &count);
    size_t offset = offsetArgument(env, info[1]);
    if (offset > source.size() || count > source.size() - offset) throw codedError(env, "ERR_BAD_OPTION", "copyTo: target is larger than the bytes available");
    const cuda::Driver& driver = source.device()->driver();
    cuda::ScopedContext scope(driver, source.device()->context());
    cuda::CUresult result = count == 0 ? CUDA_SUCCESS : driver.cuMemcpyDtoH(target, source.pointer() + offset, count);
    if (result != CUDA_SUCCESS) throw codedError(env, "ERR_CUDA_UNAVAILABLE", "cuMemcpyDtoH failed: " + driver.describe(result));
    return env.Undefined();
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    memory_.reset();
    charge_.reset();
    return info.Env().Undefined();
  }

  std::unique_ptr<cuda::DeviceMemory> memory_;
  std::unique_ptr<ExternalMemoryCharge> charge_;
};

Napi::Object InitCuda(Napi::Env env) {
  Napi::Object exports = Napi::Object::New(env);
  exports.Set("probe", Napi::Function::New(env, probe, "probe"));
  exports.Set("PinnedBuffer", PinnedBuffer::Define(env));
  exports.Set("DeviceBuffer", DeviceBuffer::Define(env));
  return exports;
}

}  // namespace

TRT_INT8_MODULE(cuda, InitCuda);

}  // namespace trt_int8
