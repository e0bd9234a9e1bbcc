#include "stats_onnxruntime.h"

#include <dlfcn.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <stdexcept>

#include "stats_histogram.h"

namespace trt_int8::stats {
namespace {

// Positions in onnxruntime's OrtApi table (include/onnxruntime/core/session/onnxruntime_c_api.h; version 1 has
// them all, and the table only grows at its end).
enum Api : size_t {
  kGetErrorMessage = 2,
  kCreateEnv = 3,
  kCreateSessionFromArray = 8,
  kRun = 9,
  kCreateSessionOptions = 10,
  kEnableProfiling = 14,
  kDisableMemPattern = 17,
  kSetSessionLogSeverityLevel = 22,
  kSetIntraOpNumThreads = 24,
  kCreateCustomOpDomain = 26,
  kCustomOpDomainAdd = 27,
  kAddCustomOpDomain = 28,
  kCreateRunOptions = 39,
  kRunOptionsSetTerminate = 46,
  kCreateTensorWithDataAsOrtValue = 49,
  kIsTensor = 50,
  kGetTensorMutableData = 51,
  kGetTensorElementType = 60,
  kGetTensorShapeElementCount = 64,
  kGetTensorTypeAndShape = 65,
  kCreateCpuMemoryInfo = 69,
  kKernelContextGetInput = 90,
  kKernelContextGetOutput = 91,
  kReleaseStatus = 93,
  kReleaseSession = 95,
  kReleaseValue = 96,
  kReleaseRunOptions = 97,
  kReleaseTensorTypeAndShapeInfo = 99,
  kReleaseSessionOptions = 100,
  kAddSessionConfigEntry = 130,  // version 4 of the table (onnxruntime 1.7)
  kCreateAndRegisterAllocator = 144,
  kReleaseArenaCfg = 157,
  kCreateArenaCfgV2 = 164,
  kUnregisterAllocator = 177,
};

using Status = void*;
template <typename F>
F as(const OrtRuntime& rt, size_t index) {
  return reinterpret_cast<F>(rt.fn(index));
}

struct ApiBase {
  const void* (*GetApi)(uint32_t version);
  const char* (*GetVersionString)();
};

// onnxruntime's OrtCustomOp as of version 20 of the API (onnxruntime 1.20, the oldest onnxruntime-node trt-int8
// takes): every field filled, since onnxruntime 1.30 called a field past version 1's end on an op declaring version 1.
struct CustomOpV20 {
  uint32_t version;
  void* (*CreateKernel)(const CustomOpV20* op, const void* api, const void* info);
  const char* (*GetName)(const CustomOpV20* op);
  const char* (*GetExecutionProviderType)(const CustomOpV20* op);
  int32_t (*GetInputType)(const CustomOpV20* op, size_t index);
  size_t (*GetInputTypeCount)(const CustomOpV20* op);
  int32_t (*GetOutputType)(const CustomOpV20* op, size_t index);
  size_t (*GetOutputTypeCount)(const CustomOpV20* op);
  void (*KernelCompute)(void* kernel, void* context);
  void (*KernelDestroy)(void* kernel);
  int32_t (*GetInputCharacteristic)(const CustomOpV20* op, size_t index);   // 0: required
  int32_t (*GetOutputCharacteristic)(const CustomOpV20* op, size_t index);  // 0: required
  int32_t (*GetInputMemoryType)(const CustomOpV20* op, size_t index);       // 0: OrtMemTypeDefault
  int (*GetVariadicInputMinArity)(const CustomOpV20* op);
  int (*GetVariadicInputHomogeneity)(const CustomOpV20* op);
  int (*GetVariadicOutputMinArity)(const CustomOpV20* op);
  int (*GetVariadicOutputHomogeneity)(const CustomOpV20* op);
  void* (*CreateKernelV2)(const CustomOpV20* op, const void* api, const void* info, void** kernel);  // null: CreateKernel
  void* (*KernelComputeV2)(void* kernel, void* context);                                             // null: KernelCompute
  void* (*InferOutputShapeFn)(const CustomOpV20* op, void* context);                                 // null: none
  int (*GetStartVersion)(const CustomOpV20* op);
  int (*GetEndVersion)(const CustomOpV20* op);
  size_t (*GetMayInplace)(int** inputIndex, int** outputIndex);
  void (*ReleaseMayInplace)(int* inputIndex, int* outputIndex);
  size_t (*GetAliasMap)(int** inputIndex, int** outputIndex);
  void (*ReleaseAliasMap)(int* inputIndex, int* outputIndex);
};

// kSummaryOp's kernel; its state is the API table. Runs on onnxruntime's threads: it must not throw, and a failure of
// onnxruntime's own calls leaves the output unwritten, which fails the run with onnxruntime's message.
void summaryCompute(void* kernel, void* context) {
  auto* const* table = static_cast<void* const*>(kernel);
  auto call = [table](size_t index) { return table[index]; };
  auto release = [&](void* status) {
    if (status) reinterpret_cast<void (*)(void*)>(call(kReleaseStatus))(status);
    return status == nullptr;
  };
  const void* input = nullptr;
  if (!release(reinterpret_cast<Status (*)(const void*, size_t, const void**)>(call(kKernelContextGetInput))(context, 0, &input)) || !input) return;
  void* info = nullptr;
  if (!release(reinterpret_cast<Status (*)(const void*, void**)>(call(kGetTensorTypeAndShape))(input, &info))) return;
  size_t count = 0;
  const bool counted = release(reinterpret_cast<Status (*)(const void*, size_t*)>(call(kGetTensorShapeElementCount))(info, &count));
  reinterpret_cast<void (*)(void*)>(call(kReleaseTensorTypeAndShapeInfo))(info);
  void* values = nullptr;
  if (!counted || !release(reinterpret_cast<Status (*)(const void*, void**)>(call(kGetTensorMutableData))(input, &values))) return;
  const int64_t dims[1] = {4};
  void* output = nullptr;
  if (!release(reinterpret_cast<Status (*)(void*, size_t, const int64_t*, size_t, void**)>(call(kKernelContextGetOutput))(context, 0, dims, 1, &output)) || !output) return;
  void* out = nullptr;
  if (!release(reinterpret_cast<Status (*)(void*, void**)>(call(kGetTensorMutableData))(output, &out)) || !out) return;
  const ValueSummary s = count == 0 ? ValueSummary{} : summarizeFast(static_cast<const float*>(values), count);
  double* result = static_cast<double*>(out);
  result[0] = s.min;
  result[1] = s.max;
  result[2] = static_cast<double>(s.nonFinite);
  result[3] = static_cast<double>(count);
}

size_t noIndices(int** inputIndex, int** outputIndex) {
  *inputIndex = nullptr;
  *outputIndex = nullptr;
  return 0;
}

const CustomOpV20 kSummaryOpDefinition = {
    20,
    [](const CustomOpV20*, const void* api, const void*) -> void* { return const_cast<void*>(api); },
    [](const CustomOpV20*) { return kSummaryOp; },
    [](const CustomOpV20*) -> const char* { return nullptr; },  // the CPU execution provider
    [](const CustomOpV20*, size_t) { return static_cast<int32_t>(OrtElementType::kFloat); },
    [](const CustomOpV20*) -> size_t { return 1; },
    [](const CustomOpV20*, size_t) { return static_cast<int32_t>(OrtElementType::kDouble); },
    [](const CustomOpV20*) -> size_t { return 1; },
    summaryCompute,
    [](void*) {},
    [](const CustomOpV20*, size_t) -> int32_t { return 0; },
    [](const CustomOpV20*, size_t) -> int32_t { return 0; },
    [](const CustomOpV20*, size_t) -> int32_t { return 0; },
    [](const CustomOpV20*) { return 1; },
    [](const CustomOpV20*) { return 1; },
    [](const CustomOpV20*) { return 1; },
    [](const CustomOpV20*) { return 1; },
    nullptr,
    nullptr,
    nullptr,
    [](const CustomOpV20*) { return 1; },
    [](const CustomOpV20*) { return std::numeric_limits<int>::max(); },
    noIndices,
    [](int*, int*) {},
    noIndices,
    [](int*, int*) {},
};

// The environment's CPU arena that sessions opting in with session.use_env_allocators share: one that extends by the
// size requested (kSameAsRequested) instead of doubling. Registered by the first session that uses it and unregistered
// when the last is released, so that its memory goes with the sessions, as a session's own arena's does (held by the
// environment, it stayed allocated after calibrate() and raised the peak of what ran next, e.g. 'auto''s model check).
struct EnvArena {
  std::mutex mutex;
  size_t users = 0;
};
EnvArena& envArena() {
  static EnvArena arena;
  return arena;
}

void acquireEnvArena(const OrtRuntime& runtime) {
  EnvArena& arena = envArena();
  std::lock_guard<std::mutex> lock(arena.mutex);
  if (arena.users == 0) {
    const char* keys[] = {"arena_extend_strategy"};
    const size_t values[] = {1};  // kSameAsRequested
    void* cfg = nullptr;
    runtime.check(as<Status (*)(const char* const*, const size_t*, size_t, void**)>(runtime, kCreateArenaCfgV2)(keys, values, 1, &cfg), "CreateArenaCfgV2");
    void* status = as<Status (*)(OrtEnvHandle*, const void*, const void*)>(runtime, kCreateAndRegisterAllocator)(runtime.env(), runtime.cpuMemoryInfo(), cfg);
    as<void (*)(void*)>(runtime, kReleaseArenaCfg)(cfg);
    runtime.check(status, "CreateAndRegisterAllocator");
  }
  ++arena.users;
}

// Never throws (destructors call it). Should unregistering fail, the next session's registration fails and says so.
void releaseEnvArena(const OrtRuntime& runtime) {
  EnvArena& arena = envArena();
  std::lock_guard<std::mutex> lock(arena.mutex);
  if (arena.users == 0 || --arena.users > 0) return;
  void* status = as<Status (*)(OrtEnvHandle*, const void*)>(runtime, kUnregisterAllocator)(runtime.env(), runtime.cpuMemoryInfo());
  if (status) as<void (*)(void*)>(runtime, kReleaseStatus)(status);
}

// The domain holding kSummaryOp, created once: onnxruntime requires it to outlive every session using it.
void* summaryDomain(const OrtRuntime& runtime) {
  static std::mutex mutex;
  static void* domain = nullptr;
  std::lock_guard<std::mutex> lock(mutex);
  if (domain) return domain;
  void* created = nullptr;
  runtime.check(as<Status (*)(const char*, void**)>(runtime, kCreateCustomOpDomain)(kSummaryDomain, &created), "CreateCustomOpDomain");
  runtime.check(as<Status (*)(void*, const void*)>(runtime, kCustomOpDomainAdd)(created, &kSummaryOpDefinition), "CustomOpDomain_Add");
  domain = created;  // never released, like the runtime
  return domain;
}

}  // namespace

void OrtRuntime::check(void* status, const char* what) const {
  if (status == nullptr) return;
  const char* message = as<const char* (*)(const void*)>(*this, kGetErrorMessage)(status);
  std::string text = std::string(what) + ": " + (message ? message : "unknown onnxruntime error");
  as<void (*)(void*)>(*this, kReleaseStatus)(status);
  throw std::runtime_error(text);
}

OrtRuntime& OrtRuntime::load(const std::string& libraryPath) {
  static std::mutex mutex;
  static OrtRuntime* loaded = nullptr;
  std::lock_guard<std::mutex> lock(mutex);
  if (loaded) return *loaded;
  void* library = dlopen(libraryPath.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    const char* error = dlerror();
    throw std::runtime_error(std::string("cannot open ") + libraryPath + ": " + (error ? error : "dlopen failed"));
  }
  auto getBase = reinterpret_cast<const ApiBase* (*)()>(dlsym(library, "OrtGetApiBase"));
  const ApiBase* base = getBase ? getBase() : nullptr;
  const void* api = base ? base->GetApi(1) : nullptr;
  if (!api) throw std::runtime_error(libraryPath + " has no usable OrtGetApiBase");
  auto* runtime = new OrtRuntime();  // never freed: onnxruntime's environment is process-wide
  runtime->table_ = static_cast<void* const*>(api);
  OrtEnvHandle* env = nullptr;
  runtime->check(as<Status (*)(int, const char*, OrtEnvHandle**)>(*runtime, kCreateEnv)(3, "trt-int8", &env), "CreateEnv");
  runtime->env_ = env;
  void* info = nullptr;
  // OrtArenaAllocator (1), OrtMemTypeDefault (0).
  runtime->check(as<Status (*)(int, int, void**)>(*runtime, kCreateCpuMemoryInfo)(1, 0, &info), "CreateCpuMemoryInfo");
  runtime->memoryInfo_ = info;
  loaded = runtime;
  return *loaded;
}

OrtOutput::~OrtOutput() {
  if (value_) as<void (*)(OrtValueHandle*)>(*runtime_, kReleaseValue)(value_);
}

bool OrtOutput::isTensor() const {
  int out = 0;
  runtime_->check(as<Status (*)(const OrtValueHandle*, int*)>(*runtime_, kIsTensor)(value_, &out), "IsTensor");
  return out != 0;
}

OrtElementType OrtOutput::elementType() const {
  void* info = nullptr;
  runtime_->check(as<Status (*)(const OrtValueHandle*, void**)>(*runtime_, kGetTensorTypeAndShape)(value_, &info), "GetTensorTypeAndShape");
  int32_t type = 0;
  void* status = as<Status (*)(const void*, int32_t*)>(*runtime_, kGetTensorElementType)(info, &type);
  as<void (*)(void*)>(*runtime_, kReleaseTensorTypeAndShapeInfo)(info);
  runtime_->check(status, "GetTensorElementType");
  return static_cast<OrtElementType>(type);
}

size_t OrtOutput::elementCount() const {
  void* info = nullptr;
  runtime_->check(as<Status (*)(const OrtValueHandle*, void**)>(*runtime_, kGetTensorTypeAndShape)(value_, &info), "GetTensorTypeAndShape");
  size_t count = 0;
  void* status = as<Status (*)(const void*, size_t*)>(*runtime_, kGetTensorShapeElementCount)(info, &count);
  as<void (*)(void*)>(*runtime_, kReleaseTensorTypeAndShapeInfo)(info);
  runtime_->check(status, "GetTensorShapeElementCount");
  return count;
}

const void* OrtOutput::data() const {
  void* out = nullptr;
  runtime_->check(as<Status (*)(OrtValueHandle*, void**)>(*runtime_, kGetTensorMutableData)(value_, &out), "GetTensorMutableData");
  return out;
}

OrtModelSession::OrtModelSession(OrtRuntime& runtime, const void* model, size_t modelBytes, int intraOpThreads, bool summaryOps) : runtime_(runtime) {
  void* options = nullptr;
  runtime.check(as<Status (*)(void**)>(runtime, kCreateSessionOptions)(&options), "CreateSessionOptions");
  auto releaseOptions = [&] { as<void (*)(void*)>(runtime, kReleaseSessionOptions)(options); };
  try {
    runtime.check(as<Status (*)(void*, int)>(runtime, kSetSessionLogSeverityLevel)(options, 3), "SetSessionLogSeverityLevel");
    if (intraOpThreads > 0) runtime.check(as<Status (*)(void*, int)>(runtime, kSetIntraOpNumThreads)(options, intraOpThreads), "SetIntraOpNumThreads");
    // onnxruntime's memory pattern (one block planned for all of a run's intermediates, on by default) held about
    // 30 MiB more at peak than allocating them one by one from the arena, at the same CPU time per run (PP-OCRv4
    // detector 395-413 MiB against 427-435; Fashion-MNIST 117 against 124; docs/calibration-speed.md). The values
    // computed do not depend on it. TRT_INT8_ORT_MEM_PATTERN=1 keeps onnxruntime's default, to compare.
    const char* pattern = getenv("TRT_INT8_ORT_MEM_PATTERN");
    if (!(pattern && pattern[0] == '1')) runtime.check(as<Status (*)(void*)>(runtime, kDisableMemPattern)(options), "DisableMemPattern");
    // onnxruntime's idle intra-op threads spin by default; here they would take the cores the histogram threads
    // count on between runs (and any other process's). TRT_INT8_ORT_SPIN=1 keeps onnxruntime's default, to compare.
    // The arena grows by what a run asks for rather than by doubling (onnxruntime's default): with two runs at once
    // the doubled regions held 2-3 MiB more than onnxruntime-Python's whole process on Fashion-MNIST (118 MiB), at
    // the same time per calibration. TRT_INT8_ORT_ARENA_EXTEND=pow2 keeps onnxruntime's default, to compare.
    const char* extend = getenv("TRT_INT8_ORT_ARENA_EXTEND");
    if (!(extend && std::string(extend) == "pow2")) {
      runtime.check(as<Status (*)(void*, const char*, const char*)>(runtime, kAddSessionConfigEntry)(options, "session.use_env_allocators", "1"), "AddSessionConfigEntry");
      acquireEnvArena(runtime);
      usesEnvArena_ = true;
    }
    // TRT_INT8_ORT_PROFILE=<prefix>: onnxruntime's own profile of every run (a JSON trace), to see what runs when.
    const char* profile = getenv("TRT_INT8_ORT_PROFILE");
    if (profile && profile[0]) runtime.check(as<Status (*)(void*, const char*)>(runtime, kEnableProfiling)(options, profile), "EnableProfiling");
    if (summaryOps) runtime.check(as<Status (*)(void*, void*)>(runtime, kAddCustomOpDomain)(options, summaryDomain(runtime)), "AddCustomOpDomain");
    const char* spin = getenv("TRT_INT8_ORT_SPIN");
    if (!(spin && spin[0] == '1')) {
      runtime.check(as<Status (*)(void*, const char*, const char*)>(runtime, kAddSessionConfigEntry)(options, "session.intra_op.allow_spinning", "0"),
                    "AddSessionConfigEntry");
    }
    runtime.check(as<Status (*)(const OrtEnvHandle*, const void*, size_t, const void*, OrtSessionHandle**)>(runtime, kCreateSessionFromArray)(
                      runtime.env(), model, modelBytes, options, &session_),
                  "CreateSessionFromArray");
  } catch (...) {
    releaseOptions();
    if (usesEnvArena_) releaseEnvArena(runtime);
    throw;
  }
  releaseOptions();
}

OrtModelSession::~OrtModelSession() {
  if (session_) as<void (*)(OrtSessionHandle*)>(runtime_, kReleaseSession)(session_);
  if (usesEnvArena_) releaseEnvArena(runtime_);
}

OrtRunOptionsHandle* OrtModelSession::createRunOptions() {
  OrtRunOptionsHandle* options = nullptr;
  runtime_.check(as<Status (*)(OrtRunOptionsHandle**)>(runtime_, kCreateRunOptions)(&options), "CreateRunOptions");
  return options;
}

void OrtModelSession::releaseRunOptions(OrtRunOptionsHandle* options) {
  if (options) as<void (*)(OrtRunOptionsHandle*)>(runtime_, kReleaseRunOptions)(options);
}

void OrtModelSession::terminate(OrtRunOptionsHandle* options) {
  if (!options) return;
  void* status = as<Status (*)(OrtRunOptionsHandle*)>(runtime_, kRunOptionsSetTerminate)(options);
  if (status) as<void (*)(void*)>(runtime_, kReleaseStatus)(status);
}

std::vector<std::unique_ptr<OrtOutput>> OrtModelSession::run(const std::vector<OrtFeed>& feeds, const std::vector<std::string>& fetches,
                                                             OrtRunOptionsHandle* options) {
  std::vector<OrtValueHandle*> inputs;
  std::vector<const char*> inputNames;
  auto releaseInputs = [&] {
    for (auto* v : inputs) as<void (*)(OrtValueHandle*)>(runtime_, kReleaseValue)(v);
  };
  std::vector<OrtValueHandle*> outputs(fetches.size(), nullptr);
  try {
    for (const auto& feed : feeds) {
      OrtValueHandle* value = nullptr;
      // onnxruntime reads (never writes) an input; the bytes outlive the run.
      runtime_.check(as<Status (*)(const void*, void*, size_t, const int64_t*, size_t, int32_t, OrtValueHandle**)>(runtime_, kCreateTensorWithDataAsOrtValue)(
                         runtime_.cpuMemoryInfo(), const_cast<uint8_t*>(feed.bytes.data()), feed.bytes.size(), feed.shape.data(), feed.shape.size(),
                         static_cast<int32_t>(feed.type), &value),
                     "CreateTensorWithDataAsOrtValue");
      inputs.push_back(value);
      inputNames.push_back(feed.name.c_str());
    }
    std::vector<const char*> outputNames;
    for (const auto& f : fetches) outputNames.push_back(f.c_str());
    runtime_.check(as<Status (*)(OrtSessionHandle*, const OrtRunOptionsHandle*, const char* const*, const OrtValueHandle* const*, size_t, const char* const*, size_t,
                                 OrtValueHandle**)>(runtime_, kRun)(session_, options, inputNames.data(), inputs.data(), inputs.size(), outputNames.data(),
                                                                   outputNames.size(), outputs.data()),
                   "Run");
  } catch (...) {
    releaseInputs();
    for (auto* v : outputs) {
      if (v) as<void (*)(OrtValueHandle*)>(runtime_, kReleaseValue)(v);
    }
    throw;
  }
  releaseInputs();
  std::vector<std::unique_ptr<OrtOutput>> result;
  result.reserve(outputs.size());
  for (auto* v : outputs) result.push_back(std::make_unique<OrtOutput>(&runtime_, v));
  return result;
}

}  // namespace trt_int8::stats
