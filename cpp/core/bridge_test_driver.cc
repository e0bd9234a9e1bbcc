// bridge.createTestDriverJob: a TrtInt8NativeJob that drives the bridge exactly as TensorRT's calibrator interface
// does (read the cache, get_batch until end of data, write the cache) and records an FNV-1a checksum of every byte
// it received, so tests can prove each batch arrived intact. With a CUDA session it copies the device bindings back
// to the host before hashing them.
#include <napi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>

#include "bridge_abi.h"
#include "bridge_internal.h"
#include "progress_coalescer.h"

namespace trt_int8 {
namespace bridge {
namespace {

uint32_t fnv1a(const uint8_t* data, size_t length) {
  uint32_t hash = 2166136261u;
  for (size_t i = 0; i < length; ++i) {
    hash ^= data[i];
    hash *= 16777619u;
  }
  return hash;
}

struct DriverState {
  // options
  std::vector<std::string> names;
  std::vector<size_t> byteLengths;
  int maxBatches = -1;  // -1: until end of data
  int delayMs = 0;      // simulated TensorRT work per batch (polls is_aborted, as a progress monitor would)
  bool readCache = true;
  enum class Write { kNone, kEcho, kBytes } write = Write::kEcho;
  std::vector<uint8_t> writeBytes;
  bool checksum = true;
  int failAfterBatches = -1;
  // A flood sent from the job thread before the first batch, as a TensorRT build sends it (see runFlood).
  int64_t floodProgressEvents = 0;
  int64_t floodLogLines = 0;

  // results (guarded by mutex)
  std::mutex mutex;
  int batches = 0;
  std::vector<std::vector<uint32_t>> checksums;
  int readStatus = -2;  // -2: not called
  std::vector<uint8_t> cacheRead;
  int writeStatus = -2;
  int memoryKind = -1;
  int endedBy = 0;  // 0 end of data / max batches, -1 a failed source call, 1 own failure
  bool floodDone = false;
  double floodSenderMs = 0;
  int64_t progressEventsSent = 0;
  int64_t progressLinesForwarded = 0;
};

// The shape of a TensorRT build's progress: one top-level phase whose every step times tactics in a nested
// "Measuring" phase (746,440 of those in one FP16 build), each event through the coalescer the TensorRT modules
// use; then `logLines` raw log lines with no coalescing at all. Measures the sender's own time.
void runFlood(DriverState& state, TrtInt8BatchSource* source) {
  auto started = std::chrono::steady_clock::now();
  ProgressCoalescer coalescer;
  int64_t sent = 0, forwarded = 0;
  auto send = [&](bool admitted, const char* event, const char* phase, const char* parent, int32_t n) {
    ++sent;
    if (!admitted) return;
    ++forwarded;
    source->log(source->self, TRT_INT8_LOG_INFO, progressLine(event, phase, parent, n).c_str());
  };
  if (state.floodProgressEvents > 0) {
    const char* top = "Building engine";
    int32_t steps = static_cast<int32_t>(std::max<int64_t>(0, (state.floodProgressEvents - 2) / 3));
    send(coalescer.admitStart(top, nullptr), "start", top, nullptr, steps);
    for (int32_t step = 0; step < steps; ++step) {
      send(coalescer.admitStart("Measuring", top), "start", "Measuring", top, 1);
      send(coalescer.admitFinish("Measuring"), "finish", "Measuring", nullptr, 0);
      send(coalescer.admitStep(top), "step", top, nullptr, step);
    }
    send(coalescer.admitFinish(top), "finish", top, nullptr, 0);
  }
  char line[64];
  for (int64_t i = 0; i < state.floodLogLines; ++i) {
    std::snprintf(line, sizeof line, "test driver: flood line %lld", static_cast<long long>(i));
    source->log(source->self, TRT_INT8_LOG_VERBOSE, line);
  }
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  std::lock_guard<std::mutex> lock(state.mutex);
  state.floodDone = true;
  state.floodSenderMs = ms;
  state.progressEventsSent = sent;
  state.progressLinesForwarded = forwarded;
}

int runDriver(void* arg, TrtInt8BatchSource* source, char* error, size_t capacity) {
  DriverState& state = **static_cast<std::shared_ptr<DriverState>*>(arg);
  auto fail = [&](int endedBy, const std::string& message) {
    std::snprintf(error, capacity, "%s", message.c_str());
    std::lock_guard<std::mutex> lock(state.mutex);
    state.endedBy = endedBy;
    return 1;
  };
  {
    std::lock_guard<std::mutex> lock(state.mutex);
    state.memoryKind = source->memory_kind;
  }
  source->log(source->self, TRT_INT8_LOG_INFO, "test driver: started");
  if (state.floodProgressEvents > 0 || state.floodLogLines > 0) runFlood(state, source);
  bool cached = false;
  std::vector<uint8_t> cacheCopy;
  if (state.readCache) {
    const void* data = nullptr;
    size_t length = 0;
    int status = source->read_cache(source->self, &data, &length);
    if (status == TRT_INT8_CACHE_PRESENT) {
      cacheCopy.assign(static_cast<const uint8_t*>(data), static_cast<const uint8_t*>(data) + length);
      cached = true;
    }
    std::lock_guard<std::mutex> lock(state.mutex);
    state.readStatus = status;
    state.cacheRead = cacheCopy;
    if (status == TRT_INT8_FAILED) {
      state.endedBy = -1;
      std::snprintf(error, capacity, "read_cache failed");
      return 1;
    }
  }
  std::vector<const char*> names;
  for (const auto& name : state.names) names.push_back(name.c_str());
  std::vector<void*> bindings(names.size(), nullptr);
  const cuda::Driver* driver = source->memory_kind == TRT_INT8_MEMORY_CUDA ? cuda::loadDriver().driver : nullptr;
  std::vector<uint8_t> host;
  for (int batch = 0; state.maxBatches < 0 || batch < state.maxBatches; ++batch) {
    if (source->is_aborted(source->self)) return fail(-1, "aborted before batch " + std::to_string(batch));
    int status = source->get_batch(source->self, names.data(), static_cast<int32_t>(names.size()), bindings.data());
    if (status == TRT_INT8_END_OF_DATA) break;
    if (status != TRT_INT8_BATCH_READY) return fail(-1, "get_batch failed at batch " + std::to_string(batch));
    std::vector<uint32_t> sums;
    if (state.checksum) {
      for (size_t i = 0; i < bindings.size(); ++i) {
        size_t length = i < state.byteLengths.size() ? state.byteLengths[i] : 0;
        const uint8_t* bytes = static_cast<const uint8_t*>(bindings[i]);
        if (driver) {
          // The bridge made the session's context current on this thread, as TensorRT expects.
          host.resize(length);
          auto result = length ? driver->cuMemcpyDtoH(host.data(), reinterpret_cast<uintptr_t>(bindings[i]), length) : cuda::CUDA_SUCCESS;
          if (result != cuda::CUDA_SUCCESS) return fail(1, "cuMemcpyDtoH failed: " + driver->describe(result));
          bytes = host.data();
        }
        sums.push_back(fnv1a(bytes, length));
      }
    }
    {
      std::lock_guard<std::mutex> lock(state.mutex);
      state.batches = batch + 1;
      state.checksums.push_back(std::move(sums));
    }
    if (state.failAfterBatches == batch + 1) return fail(1, "test driver failure after " + std::to_string(batch + 1) + " batches");
    for (int waited = 0; waited < state.delayMs; ++waited) {
      if (source->is_aborted(source->self)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  if (state.write != DriverState::Write::kNone) {
    const std::vector<uint8_t>& bytes = state.write == DriverState::Write::kEcho && cached ? cacheCopy : state.writeBytes;
    int status = source->write_cache(source->self, bytes.data(), bytes.size());
    {
      std::lock_guard<std::mutex> lock(state.mutex);
      state.writeStatus = status;
    }
    if (status != 0) return fail(-1, "write_cache failed");
  }
  source->log(source->self, TRT_INT8_LOG_INFO, "test driver: finished");
  return 0;
}

Napi::Value results(const Napi::CallbackInfo& info, DriverState& state) {
  Napi::Env env = info.Env();
  std::lock_guard<std::mutex> lock(state.mutex);
  Napi::Object out = Napi::Object::New(env);
  out.Set("batches", state.batches);
  Napi::Array checksums = Napi::Array::New(env, state.checksums.size());
  for (uint32_t b = 0; b < state.checksums.size(); ++b) {
    Napi::Array sums = Napi::Array::New(env, state.checksums[b].size());
    for (uint32_t i = 0; i < state.checksums[b].size(); ++i) sums.Set(i, Napi::Number::New(env, state.checksums[b][i]));
    checksums.Set(b, sums);
  }
  out.Set("checksums", checksums);
  out.Set("readStatus", state.readStatus);
  out.Set("cacheRead", state.readStatus == TRT_INT8_CACHE_PRESENT
                           ? Napi::Value(Napi::Buffer<uint8_t>::Copy(env, state.cacheRead.data(), state.cacheRead.size()))
                           : env.Null());
  out.Set("writeStatus", state.writeStatus);
  out.Set("memory", state.memoryKind == TRT_INT8_MEMORY_CUDA ? "cuda" : state.memoryKind == TRT_INT8_MEMORY_HOST ? "host" : "unknown");
  out.Set("endedBy", state.endedBy == 0 ? "end" : state.endedBy < 0 ? "source" : "driver");
  out.Set("floodDone", state.floodDone);
  out.Set("floodSenderMs", state.floodSenderMs);
  out.Set("progressEventsSent", static_cast<double>(state.progressEventsSent));
  out.Set("progressLinesForwarded", static_cast<double>(state.progressLinesForwarded));
  return out;
}

}  // namespace

std::string testDriverMismatch(const TrtInt8NativeJob& job, const SessionBuffers& session) {
  if (job.run != runDriver || !job.arg) return "";
  const DriverState& state = **static_cast<const std::shared_ptr<DriverState>*>(job.arg);
  for (size_t i = 0; i < state.names.size(); ++i) {
    int index = session.indexOf(state.names[i].c_str());
    if (index < 0) continue;  // reported by get_batch itself, as TensorRT would hit it
    size_t available = session.inputs[static_cast<size_t>(index)].byteLength;
    if (state.byteLengths[i] > available) {
      return "the test driver reads " + std::to_string(state.byteLengths[i]) + " bytes of input \"" + state.names[i] +
             "\", but the session's buffer holds " + std::to_string(available);
    }
  }
  return "";
}

// createTestDriverJob({ inputs: [{ name, byteLength }], maxBatches?, delayMs?, readCache?, writeCache?: 'echo' |
// Uint8Array | null, checksum?, failAfterBatches?, flood?: { progressEvents?, logLines? } }) -> { job: External, results(): {...} }
Napi::Value createTestDriverJob(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw codedError(env, "ERR_BAD_OPTION", "createTestDriverJob expects an options object");
  Napi::Object options = info[0].As<Napi::Object>();
  auto state = std::make_shared<DriverState>();
  Napi::Value inputs = options.Get("inputs");
  if (!inputs.IsArray()) throw codedError(env, "ERR_BAD_OPTION", "options.inputs must be an array of { name, byteLength }");
  Napi::Array list = inputs.As<Napi::Array>();
  for (uint32_t i = 0; i < list.Length(); ++i) {
    Napi::Value entry = list.Get(i);
    if (!entry.IsObject() || !entry.As<Napi::Object>().Get("name").IsString()) throw codedError(env, "ERR_BAD_OPTION", "each input needs a name");
    Napi::Object spec = entry.As<Napi::Object>();
    state->names.push_back(spec.Get("name").As<Napi::String>().Utf8Value());
    Napi::Value byteLength = spec.Get("byteLength");
    double bytes = byteLength.IsNumber() ? byteLength.As<Napi::Number>().DoubleValue() : 0;
    // Checked before the cast: a NaN, negative or huge double has no size_t value.
    if (!(bytes >= 0 && bytes <= 9007199254740991.0) || bytes != static_cast<double>(static_cast<uint64_t>(bytes))) {
      throw codedError(env, "ERR_BAD_OPTION", "input \"" + state->names.back() + "\": byteLength must be a non-negative integer");
    }
    state->byteLengths.push_back(static_cast<size_t>(bytes));
  }
  auto intOption = [&](const char* name, int fallback) {
    Napi::Value value = options.Get(name);
    return value.IsNumber() ? value.As<Napi::Number>().Int32Value() : fallback;
  };
  state->maxBatches = intOption("maxBatches", -1);
  state->delayMs = intOption("delayMs", 0);
  state->failAfterBatches = intOption("failAfterBatches", -1);
  if (options.Get("flood").IsObject()) {
    Napi::Object flood = options.Get("flood").As<Napi::Object>();
    auto count = [&](const char* name) -> int64_t {
      Napi::Value value = flood.Get(name);
      if (value.IsUndefined()) return 0;
      double n = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : -1;
      if (!(n >= 0 && n <= 1e9) || n != static_cast<double>(static_cast<int64_t>(n)))
        throw codedError(env, "ERR_BAD_OPTION", std::string("flood.") + name + " must be an integer from 0 to 1e9");
      return static_cast<int64_t>(n);
    };
    state->floodProgressEvents = count("progressEvents");
    state->floodLogLines = count("logLines");
  }
  if (options.Get("readCache").IsBoolean()) state->readCache = options.Get("readCache").ToBoolean();
  if (options.Get("checksum").IsBoolean()) state->checksum = options.Get("checksum").ToBoolean();
  Napi::Value write = options.Get("writeCache");
  uint8_t* bytes = nullptr;
  size_t length = 0;
  if (write.IsNull()) {
    state->write = DriverState::Write::kNone;
  } else if (bytesOf(write, &bytes, &length)) {
    state->write = DriverState::Write::kBytes;
    state->writeBytes.assign(bytes, bytes + length);
  } else if (!write.IsUndefined() && !(write.IsString() && write.As<Napi::String>().Utf8Value() == "echo")) {
    throw codedError(env, "ERR_BAD_OPTION", "writeCache must be 'echo', bytes or null");
  }

  auto* job = static_cast<TrtInt8NativeJob*>(std::calloc(1, sizeof(TrtInt8NativeJob)));
  if (!job) throw codedError(env, "ERR_BAD_OPTION", "out of memory");
  job->abi_version = TRT_INT8_BRIDGE_ABI_VERSION;
  job->struct_size = sizeof(TrtInt8NativeJob);
  job->arg = new std::shared_ptr<DriverState>(state);
  job->run = runDriver;
  job->destroy = [](void* arg) { delete static_cast<std::shared_ptr<DriverState>*>(arg); };
  napi_value external = nullptr;
  if (napi_create_external(env, job, trt_int8_native_job_finalize, nullptr, &external) != napi_ok) {
    trt_int8_native_job_finalize(env, job, nullptr);
    throw Napi::Error::New(env);
  }
  NAPI_THROW_IF_FAILED(env, napi_type_tag_object(env, external, &trt_int8_native_job_type_tag), Napi::Value());

  Napi::Object out = Napi::Object::New(env);
  out.Set("job", Napi::Value(env, external));
  out.Set("results", functionOwning<DriverState>(env, "results", state, results));
  return out;
}

}  // namespace bridge
}  // namespace trt_int8
