#include "trt_engine.h"

#include <dlfcn.h>

#include <chrono>
#include <map>
#include <stdexcept>

#include "../core/native_error.h"
#include "trt_library.h"

namespace trt_int8::trt {

void ErrorLogger::log(Severity severity, const char* msg) noexcept {
  if (static_cast<int>(severity) > static_cast<int>(Severity::kERROR)) return;
  try {
    std::lock_guard<std::mutex> lock(mutex_);
    if (errors_.size() >= 8) errors_.erase(errors_.begin());
    errors_.emplace_back(msg ? msg : "");
  } catch (...) {
  }
}

std::string ErrorLogger::lastErrors() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  for (const auto& e : errors_) out += (out.empty() ? "" : "\n") + e;
  return out;
}

std::string dtypeName(nvinfer1::DataType t) {
  using nvinfer1::DataType;
  switch (t) {
    case DataType::kFLOAT: return "float32";
    case DataType::kHALF: return "float16";
    case DataType::kINT8: return "int8";
    case DataType::kINT32: return "int32";
    case DataType::kBOOL: return "bool";
    case DataType::kUINT8: return "uint8";
    case DataType::kFP8: return "fp8";
    case DataType::kBF16: return "bfloat16";
    case DataType::kINT64: return "int64";
    case DataType::kINT4: return "int4";
    default: return "unknown";
  }
}

size_t dtypeSize(nvinfer1::DataType t) {
  using nvinfer1::DataType;
  switch (t) {
    case DataType::kFLOAT: case DataType::kINT32: return 4;
    case DataType::kHALF: case DataType::kBF16: return 2;
    case DataType::kINT8: case DataType::kBOOL: case DataType::kUINT8: case DataType::kFP8: return 1;
    case DataType::kINT64: return 8;
    default: return 0;
  }
}

namespace {

// Engine calls run on AsyncWorker threads: the code travels in the exception to the worker's OnError.
[[noreturn]] void fail(const std::string& code, const std::string& message) { throw CodedFailure(code, message); }

std::vector<int64_t> toVector(const nvinfer1::Dims& d) {
  std::vector<int64_t> v;
  for (int i = 0; i < d.nbDims; ++i) v.push_back(d.d[i]);
  return v;
}

// CUDA events are not in the core's driver table; they are only needed here, for timing.
struct EventApi {
  using CUevent = struct CUevent_st*;
  cuda::CUresult (*create)(CUevent*, unsigned) = nullptr;
  cuda::CUresult (*record)(CUevent, cuda::CUstream) = nullptr;
  cuda::CUresult (*synchronize)(CUevent) = nullptr;
  cuda::CUresult (*elapsed)(float*, CUevent, CUevent) = nullptr;
  cuda::CUresult (*destroy)(CUevent) = nullptr;
};

const EventApi& eventApi(const cuda::Driver& driver) {
  static EventApi api;
  static std::once_flag once;
  std::call_once(once, [&] {
    auto sym = [&](const char* a, const char* b) { void* p = dlsym(driver.handle, a); return p ? p : (b ? dlsym(driver.handle, b) : nullptr); };
    api.create = reinterpret_cast<decltype(api.create)>(sym("cuEventCreate", nullptr));
    api.record = reinterpret_cast<decltype(api.record)>(sym("cuEventRecord", nullptr));
    api.synchronize = reinterpret_cast<decltype(api.synchronize)>(sym("cuEventSynchronize", nullptr));
    api.elapsed = reinterpret_cast<decltype(api.elapsed)>(sym("cuEventElapsedTime_v2", "cuEventElapsedTime"));
    api.destroy = reinterpret_cast<decltype(api.destroy)>(sym("cuEventDestroy_v2", "cuEventDestroy"));
  });
  return api;
}

class Event {
 public:
  Event(const EventApi& api) : api_(api) {
    if (!api_.create || api_.create(&event_, 0) != cuda::CUDA_SUCCESS) fail("ERR_CUDA_UNAVAILABLE", "cuEventCreate failed");
  }
  ~Event() {
    if (event_) api_.destroy(event_);
  }
  EventApi::CUevent get() const { return event_; }

 private:
  const EventApi& api_;
  EventApi::CUevent event_ = nullptr;
};

void check(const cuda::Driver& driver, cuda::CUresult r, const char* what) {
  if (r != cuda::CUDA_SUCCESS) fail("ERR_CUDA_UNAVAILABLE", std::string(what) + " failed: " + driver.describe(r));
}

}  // namespace

std::shared_ptr<RuntimeEngine> RuntimeEngine::deserialize(const TrtLibrary& library, const std::vector<uint8_t>& plan) {
  std::string error;
  std::shared_ptr<cuda::Device> device = cuda::Device::open(0, &error);
  if (!device) fail("ERR_CUDA_UNAVAILABLE", error);
  cuda::ScopedContext scope(device->driver(), device->context());
  if (!scope.ok()) fail("ERR_CUDA_UNAVAILABLE", "could not make CUDA device 0 current");

  std::shared_ptr<RuntimeEngine> self(new RuntimeEngine());
  self->device_ = device;
  self->runtime_ = library.newRuntime(self->logger_);
  if (!self->runtime_) {
    std::string why = self->logger_.lastErrors();
    fail("ERR_BUILD_FAILED", "createInferRuntime failed: " + (why.empty() ? "TensorRT logged no reason" : why));
  }
  self->engine_ = self->runtime_->deserializeCudaEngine(plan.data(), plan.size());
  if (!self->engine_)
    fail("ERR_BAD_MODEL", "TensorRT could not deserialize the engine (built by another TensorRT version or for another GPU?): " +
                              self->logger_.lastErrors());
  self->context_ = self->engine_->createExecutionContext();
  if (!self->context_) fail("ERR_BUILD_FAILED", "createExecutionContext failed: " + self->logger_.lastErrors());

  for (int i = 0; i < self->engine_->getNbIOTensors(); ++i) {
    const char* name = self->engine_->getIOTensorName(i);
    TensorInfo info;
    info.name = name;
    info.isInput = self->engine_->getTensorIOMode(name) == nvinfer1::TensorIOMode::kINPUT;
    info.dtype = dtypeName(self->engine_->getTensorDataType(name));
    info.shape = toVector(self->engine_->getTensorShape(name));
    if (info.isInput && self->engine_->getNbOptimizationProfiles() > 0) {
      using nvinfer1::OptProfileSelector;
      info.min = toVector(self->engine_->getProfileShape(name, 0, OptProfileSelector::kMIN));
      info.opt = toVector(self->engine_->getProfileShape(name, 0, OptProfileSelector::kOPT));
      info.max = toVector(self->engine_->getProfileShape(name, 0, OptProfileSelector::kMAX));
    }
    self->tensors_.push_back(std::move(info));
  }
  return self;
}

RuntimeEngine::~RuntimeEngine() {
  // TensorRT frees device memory in these destructors: the context must be current.
  std::unique_ptr<cuda::ScopedContext> scope;
  if (device_) scope = std::make_unique<cuda::ScopedContext>(device_->driver(), device_->context());
  delete context_;
  delete engine_;
  delete runtime_;
}

std::string RuntimeEngine::inspect() {
  std::lock_guard<std::mutex> lock(mutex_);
  cuda::ScopedContext scope(device_->driver(), device_->context());
  std::unique_ptr<nvinfer1::IEngineInspector> inspector(engine_->createEngineInspector());
  if (!inspector) fail("ERR_BUILD_FAILED", "createEngineInspector failed: " + logger_.lastErrors());
  inspector->setExecutionContext(context_);
  const char* info = inspector->getEngineInformation(nvinfer1::LayerInformationFormat::kJSON);
  return info ? std::string(info) : std::string("{}");
}

std::vector<HostTensor> RuntimeEngine::infer(const std::vector<HostTensor>& inputs, int warmup, int repeat, InferTiming& timing) {
  std::lock_guard<std::mutex> lock(mutex_);
  const cuda::Driver& driver = device_->driver();
  cuda::ScopedContext scope(driver, device_->context());
  if (!scope.ok()) fail("ERR_CUDA_UNAVAILABLE", "could not make CUDA device 0 current");
  std::string error;
  std::unique_ptr<cuda::Stream> stream = cuda::Stream::create(device_, &error);
  if (!stream) fail("ERR_CUDA_UNAVAILABLE", error);

  std::vector<std::unique_ptr<cuda::DeviceMemory>> buffers;
  std::map<std::string, const HostTensor*> byName;
  for (const auto& in : inputs) byName[in.name] = &in;

  using Clock = std::chrono::steady_clock;
  auto t0 = Clock::now();
  for (const auto& info : tensors_) {
    if (!info.isInput) continue;
    auto it = byName.find(info.name);
    if (it == byName.end()) fail("ERR_BAD_BATCH", "input \"" + info.name + "\" is missing");
    const HostTensor& in = *it->second;
    if (in.dtype != info.dtype) fail("ERR_BAD_BATCH", "input \"" + info.name + "\" is " + in.dtype + ", the engine wants " + info.dtype);
    nvinfer1::Dims dims{};
    dims.nbDims = static_cast<int32_t>(in.shape.size());
    for (size_t i = 0; i < in.shape.size(); ++i) dims.d[i] = in.shape[i];
    if (!context_->setInputShape(info.name.c_str(), dims))
      fail("ERR_BAD_BATCH", "the engine refused the shape of input \"" + info.name + "\": " + logger_.lastErrors());
    auto memory = cuda::DeviceMemory::allocate(device_, in.data.size(), &error);
    if (!memory) fail("ERR_CUDA_UNAVAILABLE", error);
    check(driver, driver.cuMemcpyHtoDAsync(memory->pointer(), in.data.data(), in.data.size(), stream->handle()), "cuMemcpyHtoDAsync");
    context_->setTensorAddress(info.name.c_str(), reinterpret_cast<void*>(memory->pointer()));
    buffers.push_back(std::move(memory));
  }
  check(driver, driver.cuStreamSynchronize(stream->handle()), "cuStreamSynchronize");
  auto t1 = Clock::now();
  timing.copyInMs = std::chrono::duration<double, std::milli>(t1 - t0).count();

  std::vector<HostTensor> outputs;
  std::vector<cuda::CUdeviceptr> outputPointers;
  for (const auto& info : tensors_) {
    if (info.isInput) continue;
    nvinfer1::Dims dims = context_->getTensorShape(info.name.c_str());
    HostTensor out;
    out.name = info.name;
    out.dtype = info.dtype;
    size_t count = 1;
    for (int i = 0; i < dims.nbDims; ++i) {
      if (dims.d[i] < 0) fail("ERR_BAD_MODEL", "output \"" + info.name + "\" has a data-dependent shape, which infer() does not support");
      out.shape.push_back(dims.d[i]);
      count *= static_cast<size_t>(dims.d[i]);
    }
    size_t itemSize = dtypeSize(engine_->getTensorDataType(info.name.c_str()));
    if (itemSize == 0) fail("ERR_BAD_MODEL", "output \"" + info.name + "\" has the packed type " + info.dtype);
    out.data.resize(count * itemSize);
    auto memory = cuda::DeviceMemory::allocate(device_, out.data.size(), &error);
    if (!memory) fail("ERR_CUDA_UNAVAILABLE", error);
    context_->setTensorAddress(info.name.c_str(), reinterpret_cast<void*>(memory->pointer()));
    outputPointers.push_back(memory->pointer());
    buffers.push_back(std::move(memory));
    outputs.push_back(std::move(out));
  }

  const EventApi& events = eventApi(driver);
  Event start(events), stop(events);
  auto* cudaStream = reinterpret_cast<cudaStream_t>(stream->handle());
  for (int r = 0; r < warmup + repeat; ++r) {
    bool timed = r >= warmup;
    if (timed) check(driver, events.record(start.get(), stream->handle()), "cuEventRecord");
    if (!context_->enqueueV3(cudaStream)) fail("ERR_BUILD_FAILED", "enqueueV3 failed: " + logger_.lastErrors());
    if (timed) {
      check(driver, events.record(stop.get(), stream->handle()), "cuEventRecord");
      check(driver, events.synchronize(stop.get()), "cuEventSynchronize");
      float ms = 0;
      check(driver, events.elapsed(&ms, start.get(), stop.get()), "cuEventElapsedTime");
      timing.gpuMs.push_back(ms);
    }
  }
  check(driver, driver.cuStreamSynchronize(stream->handle()), "cuStreamSynchronize");

  auto t2 = Clock::now();
  for (size_t i = 0; i < outputs.size(); ++i)
    check(driver, driver.cuMemcpyDtoHAsync(outputs[i].data.data(), outputPointers[i], outputs[i].data.size(), stream->handle()),
          "cuMemcpyDtoHAsync");
  check(driver, driver.cuStreamSynchronize(stream->handle()), "cuStreamSynchronize");
  timing.copyOutMs = std::chrono::duration<double, std::milli>(Clock::now() - t2).count();
  return outputs;
}

}  // namespace trt_int8::trt
