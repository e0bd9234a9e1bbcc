// N-API face of the statistics engine: binding.stats.HistogramCollector.
//
// One add() is one batch. It runs in two parallel passes on the collector's own thread pool:
//   1. summarize chunks of every tensor (min, max, max |x|, finite / non-finite counts);
//   2. once all summaries are in, plan each tensor's bin layout (first range or appended bins) and
//      count chunks into per-chunk partial histograms merged into a per-batch staging buffer.
// A collector created with histograms = false (min-max calibration: only the range is needed, as TensorRT's
// MinMaxCalibrator and onnxruntime's MinMaxCalibrater keep it) stops after pass 1 and keeps the summaries only.
// add() first copies its arguments into memory the batch owns (ReadBatchArguments), so no JavaScript can
// free or change what the threads read. The batch is committed into the collector's state on the JS thread, inside the thread-safe
// function's callback, only if it was not cancelled and no tensor failed: a batch applies entirely
// or not at all, and worker threads never touch committed state. The JS thread never waits.
#include <napi.h>

#include <algorithm>
#include <cmath>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <cstring>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "module_registry.h"
#include "native_error.h"
#include "stats_histogram.h"
#include "stats_onnxruntime.h"
#include "stats_thread_pool.h"

#include <system_error>

namespace trt_int8::stats {
namespace {

// A promise already settled with { kind: 'outOfMemory' }: how a batch or run that could not even start reports it
// (the JS side turns it into its typed error, as for one that ran out of memory on the pool).
Napi::Promise settledOutOfMemory(Napi::Env env) {
  auto deferred = Napi::Promise::Deferred::New(env);
  Napi::Object outcome = Napi::Object::New(env);
  outcome.Set("kind", "outOfMemory");
  deferred.Resolve(outcome);
  return deferred.Promise();
}

// Below this many values a chunk is not worth a task of its own.
constexpr size_t kMinChunkValues = size_t{1} << 16;

struct TensorBatch {
  std::string name;
  // A copy of the caller's values, owned by the batch: the caller's buffer may be transferred, detached,
  // shrunk or rewritten the moment add() returns (or even while add() reads its arguments), and the
  // threads must never read memory that JavaScript can free.
  std::vector<float> values;
  const float* data = nullptr;
  size_t length = 0;
  BinLayout prior;  // committed layout when the batch started (read on the JS thread)
  // The summary came with the batch (a kSummaryOp output): no values to read.
  bool presummarized = false;
  std::vector<ValueSummary> chunkSummaries;
  ValueSummary summary;
  BinLayout layout;  // layout this batch is counted into
  uint32_t mergeShift = 0;  // committed bins merge 2^mergeShift into one at commit (see planLayout)
  size_t countChunks = 0;
  // Pass 1 counts each chunk into the committed layout as it summarizes (summarizeAndCount): when the batch does not
  // widen the range, which is most batches after the first, those counts are the batch's and pass 2 is skipped.
  // Empty for a chunk that was not counted so (no range yet, or no memory for it).
  std::vector<std::vector<uint32_t>> speculative;
  std::vector<uint64_t> staged;
  std::mutex stagedMutex;

  std::pair<size_t, size_t> chunkBounds(size_t chunk, size_t chunks) const {
    return {length * chunk / chunks, length * (chunk + 1) / chunks};
  }
};

// The outputs of one OnnxRuntimeSession.run(), until a HistogramCollector.addOutputs() batch has counted them.
// The outputs are released before the session (onnxruntime's allocator belongs to the session).
struct RunResult {
  std::shared_ptr<OrtModelSession> session;
  std::vector<std::string> fetches;
  std::vector<std::unique_ptr<OrtOutput>> outputs;
  std::vector<double> elements;  // per fetch: element count, -1 when not a tensor
  double runMs = 0;
  ~RunResult() { outputs.clear(); }
};

class Collector;
struct Job;
void onJobDone(Napi::Env env, Napi::Function, Collector* collector, std::shared_ptr<Job>* job);
using DoneCallback = Napi::TypedThreadSafeFunction<Collector, std::shared_ptr<Job>, onJobDone>;

struct Job {
  std::vector<std::unique_ptr<TensorBatch>> tensors;
  ThreadPool* pool = nullptr;  // outlives the job: the collector is pinned while a job runs
  unsigned threads = 1;
  // false: min, max and the non-finite count only (the collector's histograms option), no bins counted.
  bool histograms = true;
  uint32_t initialBins = 0;
  uint32_t maxBins = 0;
  std::atomic<size_t> pending{0};
  std::atomic<bool> cancelled{false};
  std::atomic<bool> outOfMemory{false};
  DoneCallback done;

  // A batch from addOutputs(): the tensors' values are the outputs of one onnxruntime run, read where onnxruntime
  // wrote them; held until the batch settles.
  std::shared_ptr<struct RunResult> runResult;
};

size_t chunkCountFor(size_t length, unsigned threads, size_t minValuesPerChunk) {
  const size_t byThreads = threads;
  const size_t bySize = std::max<size_t>(1, length / std::max<size_t>(1, minValuesPerChunk));
  // Chunks are counted in uint32 partial histograms: keep each under 2^31 values.
  const size_t atLeast = length / (size_t{1} << 31) + 1;
  return std::max<size_t>(atLeast, std::min(byThreads, bySize));
}

void finishJob(const std::shared_ptr<Job>& job) {
  auto* payload = new std::shared_ptr<Job>(job);
  if (job->done.NonBlockingCall(payload) != napi_ok) delete payload;  // environment shutting down
  job->done.Release();
}

void countChunk(const std::shared_ptr<Job>& job, TensorBatch* t, size_t chunk);
void summarizeChunk(const std::shared_ptr<Job>& job, TensorBatch* t, size_t chunk);
void planAndCount(const std::shared_ptr<Job>& job);

// Pass 1 of a batch: summaries of every tensor's chunks, on the pool; the last one plans and counts.
void startSummaries(const std::shared_ptr<Job>& job) {
  size_t tasks = 0;
  for (auto& t : job->tensors) {
    t->chunkSummaries.resize(t->presummarized ? 0 : chunkCountFor(t->length, job->threads, kMinChunkValues));
    tasks += t->chunkSummaries.size();
    if (job->histograms && t->prior.hasRange() && t->length > 0) {
      t->speculative.resize(t->chunkSummaries.size());
      try {
        for (auto& c : t->speculative) c.assign(subHistogramSize(t->prior), 0);
      } catch (const std::bad_alloc&) {
        t->speculative.clear();  // no speculative counts: pass 2 counts this tensor
      }
    }
  }
  if (tasks == 0) {  // an empty batch still settles through the thread-safe function, like any other
    job->pending.store(1);
    job->pool->submit([job] {
      if (job->pending.fetch_sub(1) == 1) planAndCount(job);
    });
    return;
  }
  job->pending.store(tasks);
  for (auto& t : job->tensors) {
    for (size_t c = 0; c < t->chunkSummaries.size(); ++c) {
      job->pool->submit([job, tp = t.get(), c] { summarizeChunk(job, tp, c); });
    }
  }
}

// IEEE half -> float32, exactly (every half is a float32).
float halfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exponent = (h >> 10) & 0x1f;
  uint32_t fraction = h & 0x3ff;
  uint32_t bits;
  if (exponent == 0) {
    if (fraction == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        fraction <<= 1;
      } while ((fraction & 0x400) == 0);
      bits = sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | ((fraction & 0x3ff) << 13);
    }
  } else if (exponent == 31) {
    bits = sign | 0x7f800000u | (fraction << 13);
  } else {
    bits = sign | ((exponent + 127 - 15) << 23) | (fraction << 13);
  }
  float out;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}

void planAndCount(const std::shared_ptr<Job>& job) {
  if (!job->histograms) {  // the summaries are the whole batch
    for (auto& t : job->tensors) {
      for (const auto& s : t->chunkSummaries) t->summary.merge(s);
    }
    finishJob(job);
    return;
  }
  size_t tasks = 0;
  for (auto& t : job->tensors) {
    for (const auto& s : t->chunkSummaries) t->summary.merge(s);
    const LayoutPlan plan = planLayout(t->prior, t->summary.absMax, job->initialBins, job->maxBins);
    t->layout = plan.layout;
    t->mergeShift = plan.mergeShift;
    const bool unchanged = t->prior.hasRange() && plan.mergeShift == 0 && plan.layout.numBins == t->prior.numBins &&
                           plan.layout.binWidth == t->prior.binWidth && plan.layout.rangeMax == t->prior.rangeMax;
    const bool counted = !t->speculative.empty() && std::all_of(t->speculative.begin(), t->speculative.end(), [](const auto& c) { return !c.empty(); });
    if (unchanged && counted && t->summary.finite > 0) {
      try {
        t->staged.assign(t->layout.numBins, 0);
      } catch (const std::bad_alloc&) {
        job->outOfMemory.store(true);
        finishJob(job);
        return;
      }
      for (const auto& c : t->speculative) addSubHistograms(c.data(), t->layout, t->staged.data());
      t->speculative.clear();
      continue;
    }
    t->speculative.clear();
    if (t->layout.hasRange() && t->summary.finite > 0) {
      // Each chunk needs a partial histogram as large as the layout, so keep chunks much larger than it.
      t->countChunks = chunkCountFor(t->length, job->threads, std::max<size_t>(kMinChunkValues, 4 * size_t{t->layout.numBins}));
      tasks += t->countChunks;
    }
  }
  if (tasks == 0 || job->cancelled.load()) {
    finishJob(job);
    return;
  }
  try {
    for (auto& t : job->tensors) {
      if (t->countChunks > 0) t->staged.assign(t->layout.numBins, 0);
    }
  } catch (const std::bad_alloc&) {
    job->outOfMemory.store(true);
    finishJob(job);
    return;
  }
  job->pending.store(tasks);
  for (auto& t : job->tensors) {
    for (size_t c = 0; c < t->countChunks; ++c) {
      job->pool->submit([job, tp = t.get(), c] { countChunk(job, tp, c); });
    }
  }
}

void summarizeChunk(const std::shared_ptr<Job>& job, TensorBatch* t, size_t chunk) {
  if (!job->cancelled.load(std::memory_order_relaxed)) {
    const auto [begin, end] = t->chunkBounds(chunk, t->chunkSummaries.size());
    if (chunk < t->speculative.size() && !t->speculative[chunk].empty()) {
      t->chunkSummaries[chunk] = summarizeAndCount(t->data + begin, end - begin, t->prior, t->speculative[chunk].data());
    } else {
      t->chunkSummaries[chunk] = summarizeFast(t->data + begin, end - begin);
    }
  }
  if (job->pending.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    if (job->cancelled.load()) finishJob(job);
    else planAndCount(job);
  }
}

void countChunk(const std::shared_ptr<Job>& job, TensorBatch* t, size_t chunk) {
  if (!job->cancelled.load(std::memory_order_relaxed)) {
    const auto [begin, end] = t->chunkBounds(chunk, t->countChunks);
    try {
      std::vector<uint32_t> partial(subHistogramSize(t->layout), 0);
      summarizeAndCount(t->data + begin, end - begin, t->layout, partial.data());
      std::lock_guard<std::mutex> lock(t->stagedMutex);
      addSubHistograms(partial.data(), t->layout, t->staged.data());
    } catch (const std::bad_alloc&) {
      job->outOfMemory.store(true);  // the batch is then reported, not committed
    }
  }
  if (job->pending.fetch_sub(1, std::memory_order_acq_rel) == 1) finishJob(job);
}

// Runs in flight of one session, for cancelRuns().
struct ActiveRuns {
  std::mutex mutex;
  std::unordered_set<OrtRunOptionsHandle*> options;
};

constexpr napi_type_tag kRunResultTag = {0x7472742d696e7438ULL, 0x72756e6f75747331ULL};

// The outputs handle of run(): an External owning a shared_ptr<RunResult>, type-tagged.
std::shared_ptr<RunResult> TakeRunResult(Napi::Value value) {
  if (!value.IsExternal()) return nullptr;
  bool tagged = false;
  if (napi_check_object_type_tag(value.Env(), value, &kRunResultTag, &tagged) != napi_ok || !tagged) return nullptr;
  auto* holder = value.As<Napi::External<std::shared_ptr<RunResult>>>().Data();
  std::shared_ptr<RunResult> taken;
  taken.swap(*holder);
  return taken;
}

// One run() in flight: its inputs (copied), its outputs or failure, and its promise (touched on the JS thread only).
struct RunTask {
  std::shared_ptr<OrtModelSession> session;
  std::shared_ptr<ActiveRuns> active;
  OrtRunOptionsHandle* options = nullptr;
  std::vector<OrtFeed> feeds;
  std::shared_ptr<RunResult> result = std::make_shared<RunResult>();
  std::string error;
  bool outOfMemory = false;
  std::optional<Napi::Promise::Deferred> deferred;
};

// binding.stats.OnnxRuntimeSession(libraryPath, modelBytes, intraOpThreads[, concurrentRuns[, summaryOps]]): a CPU
// session of onnxruntime's C API (summaryOps: with the kSummaryOp operator registered). run() runs the model on one of the session's own threads (concurrentRuns of them, default 1),
// so that the statistics pool can count the previous run's outputs meanwhile, and so that several runs of one
// intra-op thread each can share the cores without onnxruntime's cost of splitting one run (docs/calibration-speed.md);
// runs may then settle out of call order. Outputs stay where onnxruntime wrote them until
// HistogramCollector.addOutputs() has counted them.
// release() drops the session; runs in flight and uncounted outputs keep it until they are done.
class OrtSessionWrap : public Napi::ObjectWrap<OrtSessionWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "OnnxRuntimeSession",
                       {InstanceMethod<&OrtSessionWrap::Run>("run"), InstanceMethod<&OrtSessionWrap::CancelRuns>("cancelRuns"),
                        InstanceMethod<&OrtSessionWrap::Release>("release")});
  }

  explicit OrtSessionWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<OrtSessionWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !info[0].IsString() || !info[1].IsTypedArray() || !info[2].IsNumber()) {
      throw codedTypeError(env, "ERR_BAD_OPTION", "OnnxRuntimeSession(libraryPath, modelBytes, intraOpThreads[, concurrentRuns]) expects a string, a Uint8Array and a number");
    }
    if (info.Length() >= 4 && info[3].IsNumber()) {
      const double runs = info[3].As<Napi::Number>().DoubleValue();
      if (!(runs >= 1 && runs <= 64 && runs == static_cast<unsigned>(runs))) throw Napi::RangeError::New(env, "OnnxRuntimeSession: concurrentRuns must be an integer from 1 to 64");
      concurrentRuns_ = static_cast<unsigned>(runs);
    }
    const bool summaryOps = info.Length() >= 5 && info[4].IsBoolean() && info[4].As<Napi::Boolean>().Value();
    const std::string library = info[0].As<Napi::String>().Utf8Value();
    auto model = info[1].As<Napi::TypedArray>();
    Napi::ArrayBuffer buffer = model.ArrayBuffer();
    // Read in place: onnxruntime parses the bytes before CreateSessionFromArray returns, and no JavaScript runs meanwhile.
    const auto* bytes = buffer.Data() == nullptr ? nullptr : static_cast<const uint8_t*>(buffer.Data()) + model.ByteOffset();
    const size_t length = bytes == nullptr ? 0 : model.ByteLength();
    OrtRuntime* runtime = nullptr;
    try {
      runtime = &OrtRuntime::load(library);
    } catch (const std::exception& e) {
      throw codedError(env, "ERR_ONNXRUNTIME_NOT_FOUND", e.what());
    }
    try {
      session_ = std::make_shared<OrtModelSession>(*runtime, bytes, length, info[2].As<Napi::Number>().Int32Value(), summaryOps);
    } catch (const std::exception& e) {
      throw codedError(env, "ERR_BAD_MODEL", e.what());
    }
  }

 private:
  // run(feedNames, feedTypes, feedShapes, feedValues, fetches) -> Promise of
  //   { kind: 'ran', outputs, elements (per fetch, -1 for a non-tensor), runMs } | { kind: 'runFailed', message }
  //   | { kind: 'outOfMemory' }
  Napi::Value Run(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 5 || !info[0].IsArray() || !info[1].IsArray() || !info[2].IsArray() || !info[3].IsArray() || !info[4].IsArray()) {
      throw codedTypeError(env, "ERR_BAD_OPTION", "run(feedNames, feedTypes, feedShapes, feedValues, fetches) expects five arrays");
    }
    if (!session_) throw codedError(env, "ERR_BAD_OPTION", "OnnxRuntimeSession: run() after release()");
    auto task = std::make_shared<RunTask>();
    task->session = session_;
    task->active = active_;
    task->result->session = session_;
    Napi::Array names = info[0].As<Napi::Array>(), types = info[1].As<Napi::Array>(), shapes = info[2].As<Napi::Array>(), values = info[3].As<Napi::Array>();
    const uint32_t feedCount = names.Length();
    if (types.Length() != feedCount || shapes.Length() != feedCount || values.Length() != feedCount) {
      throw codedTypeError(env, "ERR_BAD_OPTION", "run(): feed arrays differ in length");
    }
    try {
      for (uint32_t i = 0; i < feedCount; ++i) {
        OrtFeed feed;
        Napi::Value name = names.Get(i), type = types.Get(i), shape = shapes.Get(i), value = values.Get(i);
        if (!name.IsString() || !type.IsNumber() || !shape.IsArray() || !value.IsTypedArray()) {
          throw codedTypeError(env, "ERR_BAD_OPTION", "run(): a feed needs a name, a type code, a shape array and a typed array");
        }
        feed.name = name.As<Napi::String>().Utf8Value();
        feed.type = static_cast<OrtElementType>(type.As<Napi::Number>().Int32Value());
        Napi::Array dims = shape.As<Napi::Array>();
        for (uint32_t d = 0; d < dims.Length(); ++d) feed.shape.push_back(dims.Get(d).As<Napi::Number>().Int64Value());
        // Copied now: onnxruntime reads the inputs on another thread, and JavaScript may change them meanwhile.
        auto array = value.As<Napi::TypedArray>();
        Napi::ArrayBuffer buffer = array.ArrayBuffer();
        const auto* bytes = buffer.Data() == nullptr ? nullptr : static_cast<const uint8_t*>(buffer.Data()) + array.ByteOffset();
        if (bytes) feed.bytes.assign(bytes, bytes + array.ByteLength());
        task->feeds.push_back(std::move(feed));
      }
      Napi::Array fetches = info[4].As<Napi::Array>();
      for (uint32_t i = 0; i < fetches.Length(); ++i) {
        Napi::Value name = fetches.Get(i);
        if (!name.IsString()) throw codedTypeError(env, "ERR_BAD_OPTION", "run(): fetches must be strings");
        task->result->fetches.push_back(name.As<Napi::String>().Utf8Value());
      }
      task->result->elements.assign(task->result->fetches.size(), -1);
      task->options = session_->createRunOptions();
    } catch (const std::bad_alloc&) {
      return settledOutOfMemory(env);
    } catch (const std::runtime_error& e) {
      throw codedError(env, "ERR_BAD_MODEL", e.what());
    }
    {
      std::lock_guard<std::mutex> lock(active_->mutex);
      active_->options.insert(task->options);
    }
    task->deferred.emplace(Napi::Promise::Deferred::New(env));
    Napi::Promise promise = task->deferred->Promise();
    auto done = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}), "trt-int8:stats.run", 0, 1);
    try {
      if (!runThread_) runThread_ = std::make_unique<ThreadPool>(concurrentRuns_);
    } catch (const std::system_error& error) {
      done.Release();
      Forget(*task);
      throw codedError(env, "ERR_BAD_OPTION", std::string("could not start onnxruntime's run thread: ") + error.what());
    }
    // The same threads for all runs of the session (not one per run): their stacks and malloc arenas are reused.
    runThread_->submit([task, done]() mutable {
      Execute(*task);
      if (done.BlockingCall([task](Napi::Env env, Napi::Function) { Settle(env, *task); }) != napi_ok) {
        // The environment is shutting down: nobody waits for the promise.
      }
      done.Release();
    });
    return promise;
  }

  static void Forget(RunTask& task) {
    {
      std::lock_guard<std::mutex> lock(task.active->mutex);
      task.active->options.erase(task.options);
    }
    task.session->releaseRunOptions(task.options);
    task.options = nullptr;
  }

  // On the run's thread.
  static void Execute(RunTask& task) {
    try {
      const auto started = std::chrono::steady_clock::now();
      task.result->outputs = task.session->run(task.feeds, task.result->fetches, task.options);
      task.result->runMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
      task.feeds.clear();
      for (size_t i = 0; i < task.result->outputs.size(); ++i) {
        OrtOutput* out = task.result->outputs[i].get();
        if (out->valid() && out->isTensor()) task.result->elements[i] = static_cast<double>(out->elementCount());
      }
    } catch (const std::bad_alloc&) {
      task.outOfMemory = true;
    } catch (const std::exception& e) {
      task.error = e.what();
    }
    Forget(task);
  }

  // On the JS thread.
  static void Settle(Napi::Env env, RunTask& task) {
    Napi::HandleScope scope(env);
    Napi::Object outcome = Napi::Object::New(env);
    if (task.outOfMemory) {
      outcome.Set("kind", "outOfMemory");
    } else if (!task.error.empty()) {
      outcome.Set("kind", "runFailed");
      outcome.Set("message", task.error);
    } else {
      auto* holder = new std::shared_ptr<RunResult>(std::move(task.result));
      auto handle = Napi::External<std::shared_ptr<RunResult>>::New(env, holder, [](Napi::Env, std::shared_ptr<RunResult>* h) { delete h; });
      napi_type_tag_object(env, handle, &kRunResultTag);
      Napi::Array elements = Napi::Array::New(env, (*holder)->elements.size());
      for (uint32_t i = 0; i < (*holder)->elements.size(); ++i) elements.Set(i, (*holder)->elements[i]);
      outcome.Set("kind", "ran");
      outcome.Set("outputs", handle);
      outcome.Set("elements", elements);
      outcome.Set("runMs", (*holder)->runMs);
    }
    task.deferred->Resolve(outcome);
  }

  // Stops every run of this session in flight (onnxruntime's terminate flag): they settle as runFailed.
  Napi::Value CancelRuns(const Napi::CallbackInfo& info) {
    if (session_) {
      std::lock_guard<std::mutex> lock(active_->mutex);
      for (auto* options : active_->options) session_->terminate(options);
    }
    return info.Env().Undefined();
  }

  Napi::Value Release(const Napi::CallbackInfo& info) {
    session_.reset();
    return info.Env().Undefined();
  }

  std::shared_ptr<OrtModelSession> session_;
  std::shared_ptr<ActiveRuns> active_ = std::make_shared<ActiveRuns>();
  // Runs up to concurrentRuns_ runs at a time, started in call order; joined when this object is collected (runs in
  // flight finish first).
  unsigned concurrentRuns_ = 1;
  std::unique_ptr<ThreadPool> runThread_;
};

class Collector : public Napi::ObjectWrap<Collector> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "HistogramCollector",
                       {
                           InstanceMethod<&Collector::Add>("add"),
                           InstanceMethod<&Collector::AddOutputs>("addOutputs"),
                           InstanceMethod<&Collector::Cancel>("cancel"),
                           InstanceMethod<&Collector::Snapshot>("snapshot"),
                           InstanceMethod<&Collector::TensorNames>("tensorNames"),
                           InstanceMethod<&Collector::Dispose>("dispose"),
                       });
  }

  explicit Collector(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Collector>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber()) {
      throw codedTypeError(env, "ERR_BAD_OPTION", "HistogramCollector(numBins, threads, maxBins[, histograms]) expects three numbers");
    }
    const double numBins = info[0].As<Napi::Number>().DoubleValue();
    const double threads = info[1].As<Napi::Number>().DoubleValue();
    const double maxBins = info[2].As<Napi::Number>().DoubleValue();
    histograms_ = info.Length() < 4 || !info[3].IsBoolean() || info[3].As<Napi::Boolean>().Value();
    if (!(numBins >= 1 && numBins <= 16777216 && numBins == static_cast<uint32_t>(numBins)) ||
        !(threads >= 1 && threads <= 1024 && threads == static_cast<uint32_t>(threads)) ||
        !(maxBins >= numBins && maxBins <= 16777216 && maxBins == static_cast<uint32_t>(maxBins))) {
      throw Napi::RangeError::New(env, "HistogramCollector: numBins, threads or maxBins out of range");
    }
    numBins_ = static_cast<uint32_t>(numBins);
    threads_ = static_cast<unsigned>(threads);
    maxBins_ = static_cast<uint32_t>(maxBins);
    napi_add_env_cleanup_hook(env, &Collector::OnEnvCleanup, this);
  }

  ~Collector() override {
    napi_remove_env_cleanup_hook(Env(), &Collector::OnEnvCleanup, this);
    ShutdownPool();
  }

  void Complete(Napi::Env env, const std::shared_ptr<Job>& job);

 private:
  static void OnEnvCleanup(void* self) { static_cast<Collector*>(self)->ShutdownPool(); }

  void ShutdownPool() {
    if (pool_) pool_->shutdown();
  }

  Napi::Value Add(const Napi::CallbackInfo& info);
  Napi::Value AddOutputs(const Napi::CallbackInfo& info);
  Napi::Promise StartJob(Napi::Env env, const std::shared_ptr<Job>& job);

  Napi::Value Cancel(const Napi::CallbackInfo& info) {
    if (running_) running_->cancelled.store(true);
    return info.Env().Undefined();
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    disposed_ = true;
    if (running_) {
      running_->cancelled.store(true);  // the pool shuts down when the batch settles
    } else {
      ShutdownPool();
      states_.clear();
      order_.clear();
      spare_.clear();
    }
    return info.Env().Undefined();
  }

  Napi::Value TensorNames(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Array names = Napi::Array::New(env, order_.size());
    for (uint32_t i = 0; i < order_.size(); ++i) names.Set(i, Napi::String::New(env, order_[i]));
    return names;
  }

  Napi::Value Snapshot(const Napi::CallbackInfo& info);

  uint32_t numBins_ = 0;
  unsigned threads_ = 1;
  uint32_t maxBins_ = 0;
  bool histograms_ = true;
  bool disposed_ = false;
  std::unique_ptr<ThreadPool> pool_;
  std::vector<std::string> order_;
  std::unordered_map<std::string, TensorState> states_;
  // The batch in flight (at most one; it owns copies of its inputs), what keeps this object alive, and its promise.
  std::shared_ptr<Job> running_;
  // The last batch's copies of its inputs, reused by the next batch (freed by dispose()).
  std::vector<std::vector<float>> spare_;
  Napi::ObjectReference pinnedSelf_;
  std::optional<Napi::Promise::Deferred> deferred_;
};

void onJobDone(Napi::Env env, Napi::Function, Collector* collector, std::shared_ptr<Job>* job) {
  std::unique_ptr<std::shared_ptr<Job>> owned(job);
  if (env == nullptr || collector == nullptr) return;  // environment teardown: nobody to tell
  collector->Complete(env, *owned);
}

// Reads add()'s arguments once, into values the batch owns, before anything else happens: an element getter
// may run arbitrary JavaScript (re-enter add(), dispose(), detach a buffer read before it), so nothing read
// here may be a view of JavaScript memory, and the collector's own state is only consulted afterwards.
// Throws Napi errors for malformed arguments; std::bad_alloc when a copy does not fit in memory.
// `spare` holds the previous batch's copies: their memory is reused (already mapped, so the copy is a plain
// memcpy rather than a page fault per 4 KiB).
static std::vector<std::unique_ptr<TensorBatch>> ReadBatchArguments(const Napi::CallbackInfo& info,
                                                                    std::vector<std::vector<float>>& spare) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsArray() || !info[1].IsArray()) {
    throw codedTypeError(env, "ERR_BAD_OPTION", "add(names, values) expects two arrays");
  }
  Napi::Array names = info[0].As<Napi::Array>();
  Napi::Array values = info[1].As<Napi::Array>();
  const uint32_t count = names.Length();  // read once: a getter may change either array's length
  if (count != values.Length()) throw codedTypeError(env, "ERR_BAD_OPTION", "add(): names and values differ in length");

  std::vector<std::unique_ptr<TensorBatch>> tensors;
  std::unordered_set<std::string> seen;
  for (uint32_t i = 0; i < count; ++i) {
    Napi::Value name = names.Get(i);
    if (!name.IsString()) throw codedTypeError(env, "ERR_BAD_OPTION", "add(): tensor names must be strings");
    auto t = std::make_unique<TensorBatch>();
    t->name = name.As<Napi::String>().Utf8Value();
    if (!seen.insert(t->name).second) throw codedTypeError(env, "ERR_BAD_OPTION", "add(): duplicate tensor name " + t->name);
    Napi::Value value = values.Get(i);
    if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
      throw codedTypeError(env, "ERR_BAD_OPTION", "add(): tensor values must be Float32Arrays");
    }
    // Copied at once, with no JavaScript run between the length and the data being read (a detached
    // array reads as empty; a shrunk resizable buffer as its current length).
    auto array = value.As<Napi::Float32Array>();
    const float* source = array.Data();
    const size_t length = source == nullptr ? 0 : array.ElementLength();
    if (!spare.empty()) {
      t->values = std::move(spare.back());
      spare.pop_back();
    }
    t->values.assign(source, source + length);
    t->data = t->values.data();
    t->length = length;
    tensors.push_back(std::move(t));
  }
  return tensors;
}

Napi::Promise Collector::StartJob(Napi::Env env, const std::shared_ptr<Job>& job) {
  if (!pool_) {
    try {
      pool_ = std::make_unique<ThreadPool>(threads_);
    } catch (const std::system_error& error) {
      // Too many threads for this process: the `threads` option is what to change.
      throw codedError(env, "ERR_BAD_OPTION", std::string("could not start the statistics threads: ") + error.what());
    }
  }
  job->pool = pool_.get();
  job->threads = threads_;
  job->initialBins = numBins_;
  job->maxBins = maxBins_;
  job->histograms = histograms_;
  job->done = DoneCallback::New(env, "trt-int8:stats.add", 0, 1, this);

  deferred_.emplace(Napi::Promise::Deferred::New(env));
  Napi::Promise promise = deferred_->Promise();
  pinnedSelf_ = Napi::Persistent(Value());
  running_ = job;
  return promise;
}

// addOutputs(runOutputs[, summaryOf]): one batch whose tensors are the floating-point outputs of an
// OnnxRuntimeSession.run() (float16 and float64 converted to float32 here; other types left out, as calibrate() leaves
// out integer outputs). summaryOf[i], when a non-empty string, says that output i is the kSummaryOp summary of that
// tensor, taken as that tensor's batch summary (collectors without histograms only). The outputs move into the batch:
// the handle is empty afterwards. Resolves like add().
Napi::Value Collector::AddOutputs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsExternal()) throw codedTypeError(env, "ERR_BAD_OPTION", "addOutputs(runOutputs) expects the outputs of OnnxRuntimeSession.run()");
  std::shared_ptr<RunResult> result = TakeRunResult(info[0]);
  if (!result) throw codedTypeError(env, "ERR_BAD_OPTION", "addOutputs(): not the outputs of OnnxRuntimeSession.run(), or already counted");
  if (disposed_) throw codedError(env, "ERR_BAD_OPTION", "HistogramCollector: addOutputs() after dispose()");
  if (running_) throw codedError(env, "ERR_BAD_OPTION", "HistogramCollector: addOutputs() while another batch is running");
  std::vector<std::string> summaryOf(result->fetches.size());
  if (info.Length() >= 2 && info[1].IsArray()) {
    Napi::Array names = info[1].As<Napi::Array>();
    for (uint32_t i = 0; i < names.Length() && i < summaryOf.size(); ++i) {
      Napi::Value name = names.Get(i);
      if (name.IsString()) summaryOf[i] = name.As<Napi::String>().Utf8Value();
    }
  }
  const bool anySummary = std::any_of(summaryOf.begin(), summaryOf.end(), [](const std::string& s) { return !s.empty(); });
  if (anySummary && histograms_) throw codedError(env, "ERR_BAD_OPTION", "addOutputs(): summaries need a collector without histograms");
  auto job = std::make_shared<Job>();
  job->runResult = result;
  try {
    for (size_t i = 0; i < result->fetches.size(); ++i) {
      OrtOutput* out = result->outputs[i].get();
      if (!out->valid() || !out->isTensor()) continue;
      const size_t count = out->elementCount();
      const OrtElementType type = out->elementType();
      auto t = std::make_unique<TensorBatch>();
      t->name = result->fetches[i];
      if (!summaryOf[i].empty()) {
        if (type != OrtElementType::kDouble || count != 4) throw std::runtime_error("the summary of " + summaryOf[i] + " is not 4 float64 values");
        const auto* s = static_cast<const double*>(out->data());
        t->name = summaryOf[i];
        t->presummarized = true;
        t->summary.min = static_cast<float>(s[0]);
        t->summary.max = static_cast<float>(s[1]);
        t->summary.nonFinite = static_cast<uint64_t>(s[2]);
        t->summary.finite = static_cast<uint64_t>(s[3]) - t->summary.nonFinite;
        t->summary.absMax = t->summary.finite == 0 ? 0.0f : std::max(std::fabs(t->summary.min), std::fabs(t->summary.max));
        job->tensors.push_back(std::move(t));
        continue;
      }
      if (type == OrtElementType::kFloat) {
        t->data = static_cast<const float*>(out->data());
      } else if (type == OrtElementType::kFloat16) {
        const auto* bits = static_cast<const uint16_t*>(out->data());
        t->values.resize(count);
        for (size_t k = 0; k < count; ++k) t->values[k] = halfToFloat(bits[k]);
        t->data = t->values.data();
      } else if (type == OrtElementType::kDouble) {
        const auto* values = static_cast<const double*>(out->data());
        t->values.resize(count);
        for (size_t k = 0; k < count; ++k) t->values[k] = static_cast<float>(values[k]);
        t->data = t->values.data();
      } else {
        continue;
      }
      t->length = count;
      auto state = states_.find(t->name);
      if (state != states_.end()) t->prior = state->second.layout;
      job->tensors.push_back(std::move(t));
    }
  } catch (const std::bad_alloc&) {
    return settledOutOfMemory(env);
  } catch (const std::runtime_error& e) {
    throw codedError(env, "ERR_BAD_MODEL", e.what());
  }
  Napi::Promise promise = StartJob(env, job);
  startSummaries(job);
  return promise;
}

Napi::Value Collector::Add(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto job = std::make_shared<Job>();
  try {
    job->tensors = ReadBatchArguments(info, spare_);
  } catch (const std::bad_alloc&) {
    // Nothing started: settle like a batch that ran out of memory, without touching the collector.
    return settledOutOfMemory(env);
  }
  // Only now the collector's state: the getters above may have disposed it or started another batch.
  if (disposed_) throw codedError(env, "ERR_BAD_OPTION", "HistogramCollector: add() after dispose()");
  if (running_) throw codedError(env, "ERR_BAD_OPTION", "HistogramCollector: add() while another batch is running");
  for (auto& t : job->tensors) {
    auto state = states_.find(t->name);
    if (state != states_.end()) t->prior = state->second.layout;
  }

  Napi::Promise promise = StartJob(env, job);

  startSummaries(job);
  return promise;
}

void Collector::Complete(Napi::Env env, const std::shared_ptr<Job>& job) {
  Napi::HandleScope scope(env);
  std::optional<Napi::Promise::Deferred> deferred;
  deferred.swap(deferred_);
  running_.reset();
  spare_.clear();
  // Reused by the next batch's copies, in the same tensor order (taken from the back).
  for (auto t = job->tensors.rbegin(); t != job->tensors.rend(); ++t) spare_.push_back(std::move((*t)->values));
  try {
    if (job->cancelled.load()) {
      Napi::Object outcome = Napi::Object::New(env);
      outcome.Set("kind", "aborted");
      deferred->Resolve(outcome);
    } else if (job->outOfMemory.load()) {
      Napi::Object outcome = Napi::Object::New(env);
      outcome.Set("kind", "outOfMemory");
      deferred->Resolve(outcome);
    } else {
      for (auto& t : job->tensors) {
        auto [it, inserted] = states_.try_emplace(t->name);
        if (inserted) order_.push_back(t->name);
        if (!job->histograms) {
          it->second.summary.merge(t->summary);
          continue;
        }
        LayoutPlan plan;
        plan.layout = t->layout;
        plan.mergeShift = t->mergeShift;
        commitBatch(it->second, plan, t->staged, t->summary);
      }
      deferred->Resolve(env.Undefined());
    }
  } catch (const Napi::Error& e) {
    deferred->Reject(e.Value());
  } catch (const std::exception& e) {
    deferred->Reject(codedError(env, "ERR_BAD_BATCH", std::string("HistogramCollector: ") + e.what()).Value());
  }
  if (disposed_) {
    ShutdownPool();
    states_.clear();
    order_.clear();
    spare_.clear();
  }
  pinnedSelf_.Reset();  // last: this object may be collected after it
}

Napi::Value Collector::Snapshot(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array result = Napi::Array::New(env, order_.size());
  for (uint32_t i = 0; i < order_.size(); ++i) {
    const TensorState& s = states_.at(order_[i]);
    Napi::Object h = Napi::Object::New(env);
    h.Set("name", order_[i]);
    h.Set("min", static_cast<double>(s.summary.min));
    h.Set("max", static_cast<double>(s.summary.max));
    h.Set("absMax", static_cast<double>(s.summary.absMax));
    h.Set("count", static_cast<double>(s.summary.finite));
    h.Set("nonFinite", static_cast<double>(s.summary.nonFinite));
    result.Set(i, h);
    if (!histograms_) continue;  // no counts, bin width or range: nothing was binned
    const size_t bins = s.layout.hasRange() ? s.counts.size() : numBins_;
    Napi::Float64Array counts = Napi::Float64Array::New(env, bins);
    if (s.layout.hasRange()) {
      for (size_t b = 0; b < bins; ++b) counts[b] = static_cast<double>(s.counts[b]);
    } else {
      counts[0] = static_cast<double>(s.zerosWithoutRange);
    }
    h.Set("counts", counts);
    h.Set("binWidth", static_cast<double>(s.layout.binWidth));
    h.Set("rangeMax", static_cast<double>(s.layout.rangeMax));
  }
  return result;
}

Napi::Object InitStats(Napi::Env env) {
  Napi::Object exports = Napi::Object::New(env);
  exports.Set("HistogramCollector", Collector::Define(env));
  exports.Set("OnnxRuntimeSession", OrtSessionWrap::Define(env));
  return exports;
}

}  // namespace
}  // namespace trt_int8::stats

TRT_INT8_MODULE(stats, trt_int8::stats::InitStats);
