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
  // CUDA graphs, for timing without launch overhead (trtexec --useCudaGraph).
  using CUgraph = struct CUgraph_st*;
  using CUgraphExec = struct CUgraphExec_st*;
  cuda::CUresult (*beginCapture)(cuda::CUstream, int) = nullptr;
  cuda::CUresult (*endCapture)(cuda::CUstream, CUgraph*) = nullptr;
  cuda::CUresult (*instantiate)(CUgraphExec*, CUgraph, unsigned long long) = nullptr;
  cuda::CUresult (*launch)(CUgraphExec, cuda::CUstream) = nullptr;
  cuda::CUresult (*destroyExec)(CUgraphExec) = nullptr;
  cuda::CUresult (*destroyGraph)(CUgraph) = nullptr;
  bool hasGraphs() const { return beginCapture && endCapture && instantiate && launch && destroyExec && destroyGraph; }
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
    api.beginCapture = reinterpret_cast<decltype(api.beginCapture)>(sym("cuStreamBeginCapture_v2", nullptr));
    api.endCapture = reinterpret_cast<decltype(api.endCapture)>(sym("cuStreamEndCapture", nullptr));
    api.instantiate = reinterpret_cast<decltype(api.instantiate)>(sym("cuGraphInstantiateWithFlags", nullptr));
    api.launch = reinterpret_cast<decltype(api.launch)>(sym("cuGraphLaunch", nullptr));
    api.destroyExec = reinterpret_cast<decltype(api.destroyExec)>(sym("cuGraphExecDestroy", nullptr));
    api.destroyGraph = reinterpret_cast<decltype(api.destroyGraph)>(sym("cuGraphDestroy", nullptr));
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

// One run of the context captured as a CUDA graph; empty when capture is unavailable or refused (the caller then
// enqueues normally). TensorRT needs one plain enqueue before capture, which the warm-up runs provide.
class CapturedRun {
 public:
  CapturedRun(const EventApi& api, nvinfer1::IExecutionContext& context, cuda::CUstream stream) : api_(api) {
    if (!api_.hasGraphs()) return;
    constexpr int kThreadLocalCapture = 1;  // CU_STREAM_CAPTURE_MODE_THREAD_LOCAL
    if (api_.beginCapture(stream, kThreadLocalCapture) != cuda::CUDA_SUCCESS) return;
    bool enqueued = context.enqueueV3(reinterpret_cast<cudaStream_t>(stream));
    EventApi::CUgraph graph = nullptr;
    bool captured = api_.endCapture(stream, &graph) == cuda::CUDA_SUCCESS && graph;
    if (enqueued && captured && api_.instantiate(&exec_, graph, 0) != cuda::CUDA_SUCCESS) exec_ = nullptr;
    if (graph) api_.destroyGraph(graph);
  }
  ~CapturedRun() {
    if (exec_) api_.destroyExec(exec_);
  }
  bool ok() const { return exec_ != nullptr; }
  bool launch(cuda::CUstream stream) const { return api_.launch(exec_, stream) == cuda::CUDA_SUCCESS; }

 private:
  const EventApi& api_;
  EventApi::CUgraphExec exec_ = nullptr;
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

namespace {

// Warm-up runs, then `repeat` timed runs queued back to back with a pair of events each; one wait at the end.
void runTimed(nvinfer1::IExecutionContext* context, const ErrorLogger& logger, const cuda::Driver& driver, cuda::CUstream stream,
              int warmup, int repeat, bool cudaGraph, InferTiming& timing) {
  auto* cudaStream = reinterpret_cast<cudaStream_t>(stream);
  // Capture needs one plain run first (TensorRT allocates and sets up on its first enqueue).
  int plainRuns = cudaGraph && warmup < 1 ? 1 : warmup;
  for (int r = 0; r < plainRuns; ++r)
    if (!context->enqueueV3(cudaStream)) fail("ERR_BUILD_FAILED", "enqueueV3 failed: " + logger.lastErrors());
  check(driver, driver.cuStreamSynchronize(stream), "cuStreamSynchronize");
  const EventApi& events = eventApi(driver);
  std::unique_ptr<CapturedRun> graph;
  if (cudaGraph) {
    graph = std::make_unique<CapturedRun>(events, *context, stream);
    if (!graph->ok()) graph.reset();
    // A refused capture can leave an error pending on the stream's last call; a plain sync clears nothing that
    // matters here, and the enqueues below report their own failures.
    driver.cuStreamSynchronize(stream);
  }
  timing.cudaGraph = graph != nullptr;
  std::vector<std::unique_ptr<Event>> starts, stops;
  for (int r = 0; r < repeat; ++r) {
    starts.push_back(std::make_unique<Event>(events));
    stops.push_back(std::make_unique<Event>(events));
  }
  for (int r = 0; r < repeat; ++r) {
    check(driver, events.record(starts[r]->get(), stream), "cuEventRecord");
    bool ok = graph ? graph->launch(stream) : context->enqueueV3(cudaStream);
    if (!ok) fail("ERR_BUILD_FAILED", graph ? std::string("cuGraphLaunch failed") : "enqueueV3 failed: " + logger.lastErrors());
    check(driver, events.record(stops[r]->get(), stream), "cuEventRecord");
  }
  check(driver, driver.cuStreamSynchronize(stream), "cuStreamSynchronize");
  for (int r = 0; r < repeat; ++r) {
    float ms = 0;
    check(driver, events.elapsed(&ms, starts[r]->get(), stops[r]->get()), "cuEventElapsedTime");
    timing.gpuMs.push_back(ms);
  }
}

// Adds up TensorRT's per-layer times (IProfiler), keeping the order in which layers first report (execution order).
class LayerTimer : public nvinfer1::IProfiler {
 public:
  void reportLayerTime(char const* layerName, float ms) noexcept override {
    try {
      std::string name = layerName ? layerName : "";
      auto found = index_.find(name);
      if (found == index_.end()) {
        found = index_.emplace(name, totals_.size()).first;
        totals_.emplace_back(name, 0.0);
      }
      totals_[found->second].second += ms;
    } catch (...) {
      // Out of memory recording a name: that report is lost; nothing may leave a TensorRT callback.
    }
  }
  std::vector<std::pair<std::string, double>> meanOver(int runs) const {
    std::vector<std::pair<std::string, double>> mean = totals_;
    for (auto& entry : mean) entry.second /= runs;
    return mean;
  }

 private:
  std::map<std::string, size_t> index_;
  std::vector<std::pair<std::string, double>> totals_;
};

// `runs` plain runs with the profiler attached (each enqueue then times its layers and returns when done), after the
// timed ones so that profiling never slows what gpuMs measures. The profiler is detached however the runs end.
void runProfiled(nvinfer1::IExecutionContext* context, const ErrorLogger& logger, const cuda::Driver& driver, cuda::CUstream stream,
                 int runs, InferTiming& timing) {
  if (runs <= 0) return;
  LayerTimer timer;
  struct Detach {
    nvinfer1::IExecutionContext* context;
    ~Detach() { context->setProfiler(nullptr); }
  } detach{context};
  context->setProfiler(&timer);
  for (int r = 0; r < runs; ++r) {
    if (!context->enqueueV3(reinterpret_cast<cudaStream_t>(stream))) fail("ERR_BUILD_FAILED", "enqueueV3 (profiled) failed: " + logger.lastErrors());
    check(driver, driver.cuStreamSynchronize(stream), "cuStreamSynchronize");
  }
  timing.layerMs = timer.meanOver(runs);
}

}  // namespace

std::vector<HostTensor> RuntimeEngine::infer(const std::vector<HostTensor>& inputs, int warmup, int repeat, bool cudaGraph, int profileRuns,
                                             InferTiming& timing) {
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

  runTimed(context_, logger_, driver, stream->handle(), warmup, repeat, cudaGraph, timing);
  runProfiled(context_, logger_, driver, stream->handle(), profileRuns, timing);

  auto t2 = Clock::now();
  for (size_t i = 0; i < outputs.size(); ++i)
    check(driver, driver.cuMemcpyDtoHAsync(outputs[i].data.data(), outputPointers[i], outputs[i].data.size(), stream->handle()),
          "cuMemcpyDtoHAsync");
  check(driver, driver.cuStreamSynchronize(stream->handle()), "cuStreamSynchronize");
  timing.copyOutMs = std::chrono::duration<double, std::milli>(Clock::now() - t2).count();
  return outputs;
}

}  // namespace trt_int8::trt
