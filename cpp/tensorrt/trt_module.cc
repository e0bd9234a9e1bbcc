// The N-API face of the TensorRT module (trt_int8_trt10.node / trt_int8_trt11.node). Declared for JS in
// src/native/addon-types.ts; keep the two in step. Every error thrown or rejected here carries a `code`
// (cpp/core/native_error.h). Engine builds run on the core addon's job thread through
// the calibrator bridge (cpp/core/bridge_abi.h); deserialization and inference run as AsyncWorkers.
#include <napi.h>

#include <cstdlib>
#include <memory>
#include <stdexcept>

#include "../core/bridge_abi.h"
#include "../core/native_error.h"
#include "trt_build_job.h"
#include "trt_engine.h"
#include "trt_library.h"

#ifndef TRT_INT8_TRT_MODULE_NAME
#define TRT_INT8_TRT_MODULE_NAME trt_int8_trt
#endif

namespace trt_int8::trt {

namespace {

// Bumped when anything src/native/addon-types.ts relies on changes. 2: errors carry `code` (no "ERR_X: " prefix)
// and takeBuildResult throws a failed build's coded error.
constexpr int kModuleAbiVersion = 2;

const TrtLibrary* requireLibrary(Napi::Env env) {
  const TrtLibrary* library = loadedTensorRT();
  if (!library) throw codedError(env, "ERR_TENSORRT_NOT_FOUND", "call loadLibrary() first");
  return library;
}

std::vector<uint8_t> bytesOf(const Napi::Value& value, const char* what) {
  if (!value.IsTypedArray() && !value.IsBuffer())
    throw codedTypeError(value.Env(), "ERR_BAD_OPTION", std::string(what) + " must be a Uint8Array");
  Napi::TypedArray array = value.As<Napi::TypedArray>();
  Napi::ArrayBuffer buffer = array.ArrayBuffer();
  const auto* start = static_cast<const uint8_t*>(buffer.Data()) + array.ByteOffset();
  return std::vector<uint8_t>(start, start + array.ByteLength());
}

std::vector<int64_t> dimsOf(const Napi::Value& value, const std::string& what) {
  if (!value.IsArray()) throw codedTypeError(value.Env(), "ERR_BAD_OPTION", what + " must be an array of integers");
  Napi::Array array = value.As<Napi::Array>();
  if (array.Length() > static_cast<uint32_t>(nvinfer1::Dims::MAX_DIMS))
    throw codedTypeError(value.Env(), "ERR_BAD_OPTION", what + " has more than 8 dimensions");
  std::vector<int64_t> dims;
  for (uint32_t i = 0; i < array.Length(); ++i) dims.push_back(array.Get(i).As<Napi::Number>().Int64Value());
  return dims;
}

Napi::Array toArray(Napi::Env env, const std::vector<int64_t>& dims) {
  Napi::Array a = Napi::Array::New(env, dims.size());
  for (uint32_t i = 0; i < dims.size(); ++i) a.Set(i, Napi::Number::New(env, static_cast<double>(dims[i])));
  return a;
}

Napi::Object versionObject(Napi::Env env, int major, int minor, int patch) {
  Napi::Object v = Napi::Object::New(env);
  v.Set("major", major);
  v.Set("minor", minor);
  v.Set("patch", patch);
  return v;
}

Napi::Array stringArray(Napi::Env env, const std::vector<std::string>& items) {
  Napi::Array out = Napi::Array::New(env, items.size());
  for (uint32_t i = 0; i < items.size(); ++i) out.Set(i, items[i]);
  return out;
}

// loadLibrary(nvinferPath, onnxparserPath) -> { ok, version?, builderResources?, builderResourceHooked?,
//                                                builderResourceProblems?, error?, reason? }
Napi::Value LoadLibrary(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string nvinfer = info[0].As<Napi::String>();
  std::string parser = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  LoadResult loaded = loadTensorRT(nvinfer, parser);
  Napi::Object out = Napi::Object::New(env);
  out.Set("ok", loaded.library != nullptr);
  if (loaded.library) {
    const LibraryVersion& v = loaded.library->version;
    out.Set("version", versionObject(env, v.major, v.minor, v.patch));
    out.Set("nvinferPath", loaded.library->nvinferPath);
    out.Set("onnxparserPath", loaded.library->onnxparserPath);
    out.Set("builderResources", stringArray(env, loaded.library->builderResources));
    out.Set("builderResourceHooked", loaded.library->builderResourceHooked);
    out.Set("builderResourceProblems", stringArray(env, loaded.library->builderResourceProblems));
  } else {
    out.Set("error", loaded.error);
    out.Set("reason", loaded.reason);
  }
  return out;
}

Precision precisionOf(Napi::Env env, const std::string& p) {
  if (p == "fp32") return Precision::kFP32;
  if (p == "fp16") return Precision::kFP16;
  if (p == "int8") return Precision::kINT8;
  if (p == "best") return Precision::kBEST;
  throw codedTypeError(env, "ERR_BAD_OPTION", "unknown precision " + p);
}

CalibratorKind calibratorOf(Napi::Env env, const std::string& k) {
  if (k == "none") return CalibratorKind::kNone;
  if (k == "entropy2") return CalibratorKind::kEntropy2;
  if (k == "entropy") return CalibratorKind::kEntropy;
  if (k == "minmax") return CalibratorKind::kMinMax;
  if (k == "legacy") return CalibratorKind::kLegacy;
  throw codedTypeError(env, "ERR_BAD_OPTION", "calibrator kind " + k + " has no TensorRT " +
                                      std::to_string(kCompiledMajor) + ".x counterpart");
}

// The JS handle to a build's result, shared with the job (which may outlive or be outlived by it).
using ResultHandle = std::shared_ptr<BuildResult>;

// createBuildJob(spec) -> { job: External<TrtInt8NativeJob>, result: External<BuildResult> }
Napi::Value CreateBuildJob(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].As<Napi::Object>();
  auto state = std::make_unique<BuildJobState>();
  state->library = requireLibrary(env);
  BuildSpec& spec = state->spec;
  spec.onnx = bytesOf(o.Get("onnx"), "onnx");
  if (o.Get("onnxPath").IsString()) spec.onnxPath = o.Get("onnxPath").As<Napi::String>();
  spec.precision = precisionOf(env, o.Get("precision").As<Napi::String>());
  spec.calibrator = calibratorOf(env, o.Get("calibrator").As<Napi::String>());
#if !TRT_INT8_IMPLICIT_QUANTIZATION
  if (spec.calibrator != CalibratorKind::kNone)
    throw codedError(env, "ERR_TENSORRT_UNSUPPORTED_VERSION", "TensorRT 11 has no implicit calibration");
#endif
  if (o.Get("legacyQuantile").IsNumber()) spec.legacyQuantile = o.Get("legacyQuantile").As<Napi::Number>();
  if (o.Get("legacyRegressionCutoff").IsNumber()) spec.legacyRegressionCutoff = o.Get("legacyRegressionCutoff").As<Napi::Number>();
  Napi::Array profiles = o.Get("profiles").As<Napi::Array>();
  for (uint32_t p = 0; p < profiles.Length(); ++p) {
    Napi::Object profile = profiles.Get(p).As<Napi::Object>();
    std::map<std::string, ShapeRange> ranges;
    Napi::Array names = profile.GetPropertyNames();
    for (uint32_t i = 0; i < names.Length(); ++i) {
      std::string name = names.Get(i).As<Napi::String>();
      Napi::Object r = profile.Get(name).As<Napi::Object>();
      std::string what = "profiles[" + std::to_string(p) + "]." + name;
      ranges[name] = ShapeRange{dimsOf(r.Get("min"), what + ".min"), dimsOf(r.Get("opt"), what + ".opt"), dimsOf(r.Get("max"), what + ".max")};
    }
    spec.profiles.push_back(std::move(ranges));
  }
  if (o.Get("calibrationProfile").IsObject()) {
    Napi::Object cp = o.Get("calibrationProfile").As<Napi::Object>();
    Napi::Array names = cp.GetPropertyNames();
    for (uint32_t i = 0; i < names.Length(); ++i) {
      std::string name = names.Get(i).As<Napi::String>();
      spec.calibrationProfile[name] = dimsOf(cp.Get(name), "calibrationProfile." + name);
    }
  }
  if (o.Get("workspaceBytes").IsNumber()) spec.workspaceBytes = o.Get("workspaceBytes").As<Napi::Number>().Int64Value();
  if (o.Get("timingCache").IsTypedArray()) {
    spec.useTimingCache = true;
    spec.timingCache = bytesOf(o.Get("timingCache"), "timingCache");
  }
  if (o.Get("builderOptimizationLevel").IsNumber())
    spec.builderOptimizationLevel = o.Get("builderOptimizationLevel").As<Napi::Number>().Int32Value();
  if (o.Get("exclude").IsArray()) {
    Napi::Array ex = o.Get("exclude").As<Napi::Array>();
    for (uint32_t i = 0; i < ex.Length(); ++i) spec.exclude.push_back(ex.Get(i).As<Napi::String>());
  }
  if (o.Get("layerPrecisions").IsArray()) {
    Napi::Array wishes = o.Get("layerPrecisions").As<Napi::Array>();
    for (uint32_t i = 0; i < wishes.Length(); ++i) {
      Napi::Object wish = wishes.Get(i).As<Napi::Object>();
      Precision precision = precisionOf(env, wish.Get("precision").As<Napi::String>());
      if (precision == Precision::kBEST) throw codedTypeError(env, "ERR_BAD_OPTION", "a layer precision is int8, fp16 or fp32");
      spec.layerPrecisions.emplace_back(wish.Get("layer").As<Napi::String>(), precision);
    }
  }
  if (o.Get("precisionConstraints").IsString())
    spec.obeyPrecisionConstraints = o.Get("precisionConstraints").As<Napi::String>().Utf8Value() == "obey";
#if !TRT_INT8_IMPLICIT_QUANTIZATION
  if (!spec.layerPrecisions.empty())
    throw codedError(env, "ERR_TENSORRT_UNSUPPORTED_VERSION", "TensorRT 11 builds strongly typed: no layer precisions");
#endif
  if (o.Get("maxLogSeverity").IsNumber()) spec.maxLogSeverity = o.Get("maxLogSeverity").As<Napi::Number>().Int32Value();
  if (o.Get("logSeverityMask").IsNumber()) spec.logSeverityMask = o.Get("logSeverityMask").As<Napi::Number>().Uint32Value();
  if (o.Get("forwardProgress").IsBoolean()) spec.forwardProgress = o.Get("forwardProgress").As<Napi::Boolean>().Value();
  if (o.Get("stronglyTyped").IsBoolean()) spec.stronglyTyped = o.Get("stronglyTyped").As<Napi::Boolean>().Value();
  if (o.Get("calibrateBeforeFusion").IsBoolean()) spec.calibrateBeforeFusion = o.Get("calibrateBeforeFusion").As<Napi::Boolean>().Value();
#if TRT_INT8_IMPLICIT_QUANTIZATION
  if (spec.stronglyTyped && (spec.calibrator != CalibratorKind::kNone || spec.precision != Precision::kFP32))
    throw codedError(env, "ERR_BAD_OPTION", "a strongly typed build takes its precisions from the model: precision 'fp32' and no calibrator");
#endif
  // For benchmarks only (docs/tensorrt.md): read here so that no public option exposes a build that cannot be aborted.
  const char* instrumentation = std::getenv("TRT_INT8_BUILD_INSTRUMENTATION");
  if (instrumentation && std::string(instrumentation) == "none") {
    spec.bare = true;
    spec.forwardProgress = false;
    spec.maxLogSeverity = -1;  // errors are still kept for the failure message, nothing is forwarded
    spec.logSeverityMask = 0;
  }

  auto result = std::make_shared<BuildResult>();
  state->result = result;

  auto* job = static_cast<TrtInt8NativeJob*>(std::calloc(1, sizeof(TrtInt8NativeJob)));
  if (!job) throw codedError(env, "ERR_BUILD_FAILED", "out of memory");
  job->abi_version = TRT_INT8_BRIDGE_ABI_VERSION;
  job->struct_size = sizeof(TrtInt8NativeJob);
  job->arg = state.release();
  job->run = runBuildJob;
  job->destroy = destroyBuildJob;
  napi_value external;
  napi_status status = napi_create_external(env, job, trt_int8_native_job_finalize, nullptr, &external);
  if (status != napi_ok) {
    trt_int8_native_job_finalize(env, job, nullptr);
    throw codedError(env, "ERR_BUILD_FAILED", "napi_create_external failed");
  }
  NAPI_THROW_IF_FAILED(env, napi_type_tag_object(env, external, &trt_int8_native_job_type_tag), Napi::Value());

  Napi::Object out = Napi::Object::New(env);
  out.Set("job", Napi::Value(env, external));
  out.Set("result", Napi::External<ResultHandle>::New(env, new ResultHandle(result), [](Napi::Env, ResultHandle* h) { delete h; }));
  return out;
}

// takeBuildResult(result) -> { plan, timingCache?, calibrationBatches, calibrationCacheUsed, excludedLayers } | null;
// throws the build's own coded error when it failed (the bridge reports only that the job failed, and why in words).
Napi::Value TakeBuildResult(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ResultHandle& handle = *info[0].As<Napi::External<ResultHandle>>().Data();
  if (handle && !handle->failure.code.empty()) throw codedError(env, handle->failure.code, handle->failure.message);
  if (!handle || !handle->done) return env.Null();
  BuildResult& r = *handle;
  Napi::Object out = Napi::Object::New(env);
  out.Set("plan", Napi::Buffer<uint8_t>::Copy(env, r.plan.data(), r.plan.size()));
  if (!r.timingCache.empty()) out.Set("timingCache", Napi::Buffer<uint8_t>::Copy(env, r.timingCache.data(), r.timingCache.size()));
  out.Set("calibrationBatches", r.calibrationBatches);
  out.Set("calibrationCacheUsed", r.calibrationCacheUsed);
  Napi::Array excluded = Napi::Array::New(env, r.excludedLayers.size());
  for (uint32_t i = 0; i < r.excludedLayers.size(); ++i) excluded.Set(i, r.excludedLayers[i]);
  out.Set("excludedLayers", excluded);
  handle.reset();  // the plan can be large: JS owns its copy now
  return out;
}

// ---- engines -----------------------------------------------------------------------------------

class NativeEngine : public Napi::ObjectWrap<NativeEngine> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeEngine",
                       {InstanceMethod("io", &NativeEngine::Io), InstanceMethod("inspect", &NativeEngine::Inspect),
                        InstanceMethod("infer", &NativeEngine::Infer), InstanceMethod("dispose", &NativeEngine::Dispose)});
  }
  explicit NativeEngine(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeEngine>(info) {
    if (info.Length() < 1 || !info[0].IsExternal())
      throw codedTypeError(info.Env(), "ERR_BAD_OPTION", "NativeEngine is created by deserializeEngine()");
    engine_ = *info[0].As<Napi::External<std::shared_ptr<RuntimeEngine>>>().Data();
  }

 private:
  std::shared_ptr<RuntimeEngine> live(Napi::Env env) {
    if (!engine_) throw codedError(env, "ERR_BAD_OPTION", "the engine was disposed");
    return engine_;
  }
  Napi::Value Io(const Napi::CallbackInfo& info);
  Napi::Value Inspect(const Napi::CallbackInfo& info) {
    try {
      return Napi::String::New(info.Env(), live(info.Env())->inspect());
    } catch (const std::exception& e) {
      throw codedError(info.Env(), e, "ERR_BUILD_FAILED");
    }
  }
  Napi::Value Infer(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    engine_.reset();  // running inferences keep their own reference
    return info.Env().Undefined();
  }
  std::shared_ptr<RuntimeEngine> engine_;
};

Napi::FunctionReference* engineConstructor(Napi::Env env) { return env.GetInstanceData<Napi::FunctionReference>(); }

Napi::Value NativeEngine::Io(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& tensors = live(env)->tensors();
  Napi::Array out = Napi::Array::New(env, tensors.size());
  for (uint32_t i = 0; i < tensors.size(); ++i) {
    const TensorInfo& t = tensors[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", t.name);
    o.Set("mode", t.isInput ? "input" : "output");
    o.Set("dtype", t.dtype);
    o.Set("shape", toArray(env, t.shape));
    if (!t.opt.empty()) {
      Napi::Object p = Napi::Object::New(env);
      p.Set("min", toArray(env, t.min));
      p.Set("opt", toArray(env, t.opt));
      p.Set("max", toArray(env, t.max));
      o.Set("profile", p);
    }
    out.Set(i, o);
  }
  return out;
}

// A promise-returning worker whose failure keeps its code: Execute runs off the JS thread, so the code of the
// CodedFailure it caught is kept for OnError, which makes the JS error (ERR_BUILD_FAILED when it had none).
class CodedPromiseWorker : public Napi::AsyncWorker {
 public:
  explicit CodedPromiseWorker(Napi::Env env) : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(codedError(Env(), code_, e.Message()).Value()); }

 protected:
  void failWith(const std::exception& e) {
    const auto* coded = dynamic_cast<const CodedFailure*>(&e);
    code_ = coded ? coded->code() : "ERR_BUILD_FAILED";
    SetError(e.what());
  }
  Napi::Promise::Deferred deferred_;

 private:
  std::string code_ = "ERR_BUILD_FAILED";
};

class DeserializeWorker : public CodedPromiseWorker {
 public:
  DeserializeWorker(Napi::Env env, const TrtLibrary* library, std::vector<uint8_t> plan)
      : CodedPromiseWorker(env), library_(library), plan_(std::move(plan)) {}
  void Execute() override {
    try {
      engine_ = RuntimeEngine::deserialize(*library_, plan_);
    } catch (const std::exception& e) {
      failWith(e);
    }
    plan_.clear();
  }
  void OnOK() override {
    Napi::Env env = Env();
    auto holder = Napi::External<std::shared_ptr<RuntimeEngine>>::New(env, new std::shared_ptr<RuntimeEngine>(engine_),
                                                                     [](Napi::Env, std::shared_ptr<RuntimeEngine>* p) { delete p; });
    deferred_.Resolve(engineConstructor(env)->New({holder}));
  }

 private:
  const TrtLibrary* library_;
  std::vector<uint8_t> plan_;
  std::shared_ptr<RuntimeEngine> engine_;
};

// deserializeEngine(plan) -> Promise<NativeEngine>
Napi::Value DeserializeEngine(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* worker = new DeserializeWorker(env, requireLibrary(env), bytesOf(info[0], "plan"));
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

class InferWorker : public CodedPromiseWorker {
 public:
  InferWorker(Napi::Env env, std::shared_ptr<RuntimeEngine> engine, std::vector<HostTensor> inputs, int warmup, int repeat, bool cudaGraph,
              int profileRuns)
      : CodedPromiseWorker(env),
        engine_(std::move(engine)),
        inputs_(std::move(inputs)),
        warmup_(warmup),
        repeat_(repeat),
        cudaGraph_(cudaGraph),
        profileRuns_(profileRuns) {}
  void Execute() override {
    try {
      outputs_ = engine_->infer(inputs_, warmup_, repeat_, cudaGraph_, profileRuns_, timing_);
    } catch (const std::exception& e) {
      failWith(e);
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object out = Napi::Object::New(env);
    Napi::Array outputs = Napi::Array::New(env, outputs_.size());
    for (uint32_t i = 0; i < outputs_.size(); ++i) {
      Napi::Object t = Napi::Object::New(env);
      t.Set("name", outputs_[i].name);
      t.Set("dtype", outputs_[i].dtype);
      t.Set("shape", toArray(env, outputs_[i].shape));
      t.Set("data", Napi::Buffer<uint8_t>::Copy(env, outputs_[i].data.data(), outputs_[i].data.size()));
      outputs.Set(i, t);
    }
    out.Set("outputs", outputs);
    Napi::Array gpu = Napi::Array::New(env, timing_.gpuMs.size());
    for (uint32_t i = 0; i < timing_.gpuMs.size(); ++i) gpu.Set(i, timing_.gpuMs[i]);
    out.Set("gpuMs", gpu);
    out.Set("copyInMs", timing_.copyInMs);
    out.Set("copyOutMs", timing_.copyOutMs);
    out.Set("cudaGraph", timing_.cudaGraph);
    if (profileRuns_ > 0) {
      Napi::Array layers = Napi::Array::New(env, timing_.layerMs.size());
      for (uint32_t i = 0; i < timing_.layerMs.size(); ++i) {
        Napi::Object layer = Napi::Object::New(env);
        layer.Set("name", timing_.layerMs[i].first);
        layer.Set("ms", timing_.layerMs[i].second);
        layers.Set(i, layer);
      }
      out.Set("layerTimes", layers);
    }
    deferred_.Resolve(out);
  }

 private:
  std::shared_ptr<RuntimeEngine> engine_;
  std::vector<HostTensor> inputs_;
  std::vector<HostTensor> outputs_;
  int warmup_, repeat_;
  bool cudaGraph_;
  int profileRuns_;
  InferTiming timing_;
};

// engine.infer([{ name, dtype, shape, data: Uint8Array }], warmup, repeat, cudaGraph, profileRuns)
//   -> Promise<{ outputs, gpuMs, copyInMs, copyOutMs, cudaGraph, layerTimes? }>
Napi::Value NativeEngine::Infer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<RuntimeEngine> engine = live(env);
  Napi::Array list = info[0].As<Napi::Array>();
  std::vector<HostTensor> inputs;
  for (uint32_t i = 0; i < list.Length(); ++i) {
    Napi::Object t = list.Get(i).As<Napi::Object>();
    HostTensor h;
    h.name = t.Get("name").As<Napi::String>();
    h.dtype = t.Get("dtype").As<Napi::String>();
    h.shape = dimsOf(t.Get("shape"), "shape of input " + h.name);
    h.data = bytesOf(t.Get("data"), "data");  // copied: JS may reuse its array while the GPU works
    inputs.push_back(std::move(h));
  }
  int warmup = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 0;
  int repeat = info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : 1;
  bool cudaGraph = info[3].IsBoolean() && info[3].As<Napi::Boolean>().Value();
  int profileRuns = info[4].IsNumber() ? info[4].As<Napi::Number>().Int32Value() : 0;
  auto* worker = new InferWorker(env, engine, std::move(inputs), warmup < 0 ? 0 : warmup, repeat < 1 ? 1 : repeat, cudaGraph,
                                 profileRuns < 0 ? 0 : profileRuns);
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("moduleAbiVersion", kModuleAbiVersion);
  exports.Set("bridgeAbiVersion", static_cast<double>(TRT_INT8_BRIDGE_ABI_VERSION));
  exports.Set("compiledVersion", versionObject(env, kCompiledMajor, kCompiledMinor, kCompiledPatch));
  exports.Set("implicitQuantization", static_cast<bool>(TRT_INT8_IMPLICIT_QUANTIZATION));
  exports.Set("loadLibrary", Napi::Function::New(env, LoadLibrary, "loadLibrary"));
  exports.Set("createBuildJob", Napi::Function::New(env, CreateBuildJob, "createBuildJob"));
  exports.Set("takeBuildResult", Napi::Function::New(env, TakeBuildResult, "takeBuildResult"));
  exports.Set("deserializeEngine", Napi::Function::New(env, DeserializeEngine, "deserializeEngine"));
  Napi::Function engineClass = NativeEngine::Define(env);
  env.SetInstanceData(new Napi::FunctionReference(Napi::Persistent(engineClass)));
  exports.Set("NativeEngine", engineClass);
  return exports;
}

}  // namespace

}  // namespace trt_int8::trt

static Napi::Object InitTrt(Napi::Env env, Napi::Object exports) { return trt_int8::trt::Init(env, exports); }

NODE_API_MODULE(TRT_INT8_TRT_MODULE_NAME, InitTrt)
