// bridge.runJob: runs a TrtInt8NativeJob on a thread of its own (never libuv's pool) and serves its
// TrtInt8BatchSource calls from JS. Each request goes to JS through a TypedThreadSafeFunction; the job thread then
// waits on a condition variable until JS answers (reply) or the job is stopped (abort, failed callback, environment
// teardown). The JS thread never waits for the job thread, except to join it once it has finished or been told to stop.
#include <napi.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <list>
#include <mutex>
#include <system_error>
#include <cstdlib>
#include <set>
#include <thread>

#include "bridge_abi.h"
#include "bridge_internal.h"
#include "bridge_job_log.h"

namespace trt_int8 {
namespace bridge {
namespace {

std::atomic<int> gLiveJobThreads{0};

struct Message {
  // kLogDrain carries nothing: the JS thread takes every line queued in the job's JobLog.
  enum Kind { kBatch, kReadCache, kWriteCache, kLogDrain } kind;
  uint64_t id = 0;
  int32_t slot = 0;  // batch requests: the slot whose staging memory JS fills
  std::vector<uint8_t> bytes;
};

Napi::Object LogLineObject(Napi::Env env, const LogLine& entry) {
  Napi::Object line = Napi::Object::New(env);
  line.Set("severity", entry.severity);
  line.Set("message", entry.text);
  return line;
}

Napi::Array LogLinesArray(Napi::Env env, const std::vector<LogLine>& lines) {
  Napi::Array array = Napi::Array::New(env, lines.size());
  for (uint32_t i = 0; i < lines.size(); ++i) array.Set(i, LogLineObject(env, lines[i]));
  return array;
}

class Job;
void CallJs(Napi::Env env, Napi::Function callback, Job* job, Message* message);
void RegisterRunningJob(Job* job);
void UnregisterRunningJob(Job* job);
void ThreadStarted();
void ThreadReturned();
void FinalizeTsfn(Napi::Env env, void* unused, Job* job);
using Tsfn = Napi::TypedThreadSafeFunction<Job, Message, CallJs>;

class Job {
 public:
  enum class Stop { kNone, kAborted, kFailed, kTeardown };

  Job(Napi::Env env, const TrtInt8NativeJob& native, std::shared_ptr<SessionBuffers> buffers)
      : env_(env), native_(native), buffers_(std::move(buffers)), deferred_(Napi::Promise::Deferred::New(env)) {
    WireSource();
  }

 private:
  // The TrtInt8BatchSource the native job calls: C entry points that never let an exception out (a failure
  // becomes TRT_INT8_FAILED with a stop reason).
  void WireSource() {
    source_.abi_version = TRT_INT8_BRIDGE_ABI_VERSION;
    source_.struct_size = sizeof(TrtInt8BatchSource);
    source_.self = this;
    source_.memory_kind = buffers_->device ? TRT_INT8_MEMORY_CUDA : TRT_INT8_MEMORY_HOST;
    source_.device_ordinal = buffers_->device ? buffers_->device->ordinal() : -1;
    source_.get_batch = [](void* self, const char* const* names, int32_t count, void** bindings) noexcept {
      return static_cast<Job*>(self)->Guard([&] { return static_cast<Job*>(self)->GetBatch(names, count, bindings); });
    };
    source_.read_cache = [](void* self, const void** data, size_t* length) noexcept {
      return static_cast<Job*>(self)->Guard([&] { return static_cast<Job*>(self)->ReadCache(data, length); });
    };
    source_.write_cache = [](void* self, const void* data, size_t length) noexcept {
      return static_cast<Job*>(self)->Guard([&] { return static_cast<Job*>(self)->WriteCache(data, length); });
    };
    source_.log = [](void* self, int32_t severity, const char* message) noexcept {
      static_cast<Job*>(self)->Guard([&] {
        static_cast<Job*>(self)->Log(severity, message ? message : "");
        return 0;
      });
    };
    source_.is_aborted = [](void* self) noexcept { return static_cast<Job*>(self)->stopped_.load() ? 1 : 0; };
  }

 public:

  // bridge.runJob(jobExternal, session, onRequest) -> { promise, reply(id, status, bytes?), abort() }
  static Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    TrtInt8NativeJob* external = CheckedJobExternal(info);
    std::shared_ptr<SessionBuffers> buffers = ReserveSession(env, *external, info[1]);
    TrtInt8NativeJob native = TakeOver(*external);
    std::shared_ptr<Job> job;
    try {
      job = std::make_shared<Job>(env, native, buffers);
      job->tsfn_ = Tsfn::New(env, info[2].As<Napi::Function>(), "trt-int8-bridge", 0 /* unbounded: never blocks */, 1,
                             job.get(), FinalizeTsfn, static_cast<void*>(nullptr));
    } catch (...) {
      // Nothing started: give the job back to its External (whose finalizer destroys it) and free the session.
      *external = native;
      buffers->busy = false;
      throw;
    }
    job->self_ = job;
    job->session_ = Napi::Persistent(info[1].As<Napi::Object>());
    job->Launch(env);
    return job->Handle(env);
  }

  void Deliver(Napi::Env env, Napi::Function callback, std::unique_ptr<Message> message) {
    if (finished_) return;
    try {
      switch (message->kind) {
        case Message::kLogDrain:
          DeliverLogLines(env, callback);
          break;
        case Message::kBatch:
          callback.Call({Napi::String::New(env, "batch"), Napi::Number::New(env, static_cast<double>(message->id)),
                         Napi::Number::New(env, message->slot)});
          break;
        case Message::kReadCache:
          callback.Call({Napi::String::New(env, "readCache"), Napi::Number::New(env, static_cast<double>(message->id)), env.Undefined()});
          break;
        case Message::kWriteCache: {
          Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, message->bytes.size());
          if (!message->bytes.empty()) std::memcpy(buffer.Data(), message->bytes.data(), message->bytes.size());
          callback.Call({Napi::String::New(env, "writeCache"), Napi::Number::New(env, static_cast<double>(message->id)),
                         Napi::Uint8Array::New(env, message->bytes.size(), buffer, 0)});
          break;
        }
      }
    } catch (const Napi::Error& error) {
      // The handler is our own TypeScript and should never throw; if it does, fail the job rather than hang it.
      StopWith(Stop::kFailed, std::string("the bridge's request handler threw: ") + error.Message());
    }
  }

  void Finish(Napi::Env env) {
    if (thread_.joinable()) {
      thread_.join();
      --gLiveJobThreads;
    }
    if (!hookRan_) napi_remove_env_cleanup_hook(env, TeardownHook, this);
    finished_ = true;
    {
      // A request JS has not answered yet (a look-ahead batch after an early end, or the one in flight at an abort)
      // still has the user's getBatch writing into this session's buffers: no new job until Reply() receives that
      // answer, so a next job cannot have its batches overwritten.
      std::lock_guard<std::mutex> lock(mutex_);
      buffers_->staleRequest = outstandingId_ != 0;
    }
    buffers_->busy = false;
    if (!teardown_) {
      try {
        deferred_.Resolve(Result(env));
      } catch (const Napi::Error&) {
        // Nothing left to tell: the environment is going away.
      }
    }
    session_.Reset();
    auto self = std::move(self_);  // may destroy this; touch nothing after
  }

  static void TeardownHook(void* arg) {
    auto* job = static_cast<Job*>(arg);
    job->hookRan_ = true;
    job->teardown_ = true;
    job->StopWith(Stop::kTeardown, "the JavaScript environment is shutting down");
    if (job->thread_.joinable()) {
      job->thread_.join();
      --gLiveJobThreads;
    }
  }

 private:
  // ---- starting a job (JS thread) ----

  // The External a trt-int8 module made, of this bridge ABI, not yet run.
  static TrtInt8NativeJob* CheckedJobExternal(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    static const napi_type_tag jobTag = {TRT_INT8_NATIVE_JOB_TYPE_TAG_LOWER, TRT_INT8_NATIVE_JOB_TYPE_TAG_UPPER};
    if (!info[0].IsExternal() || !info[0].As<Napi::External<void>>().CheckTypeTag(&jobTag)) {
      throw codedError(env, "ERR_BAD_OPTION", "runJob expects a native job (an External made by a trt-int8 module)");
    }
    auto* external = static_cast<TrtInt8NativeJob*>(info[0].As<Napi::External<void>>().Data());
    if (!info[2].IsFunction()) throw codedError(env, "ERR_BAD_OPTION", "runJob expects a request handler function");
    if (!external || external->abi_version != TRT_INT8_BRIDGE_ABI_VERSION) {
      throw codedError(env, "ERR_BAD_OPTION", "the native job was built for bridge ABI " +
                                                   std::to_string(external ? external->abi_version : 0) + ", this core speaks " +
                                                   std::to_string(TRT_INT8_BRIDGE_ABI_VERSION));
    }
    if (!external->run) throw codedError(env, "ERR_BAD_OPTION", "this native job was already run; create a new one");
    return external;
  }

  // The session's buffers, marked busy; refused while another job (or its last unanswered request) holds them.
  static std::shared_ptr<SessionBuffers> ReserveSession(Napi::Env env, const TrtInt8NativeJob& external, const Napi::Value& session) {
    std::shared_ptr<SessionBuffers> buffers = sessionBuffersOf(env, session);
    std::string mismatch = testDriverMismatch(external, *buffers);
    if (!mismatch.empty()) throw codedError(env, "ERR_BAD_OPTION", mismatch);
    if (buffers->staleRequest) {
      throw codedError(env, "ERR_BAD_OPTION",
                       "the calibration session is busy: the calibrator of its last job has not yet answered that job's "
                       "final request (a getBatch still in progress writes into the session's buffers)");
    }
    if (buffers->busy.exchange(true)) throw codedError(env, "ERR_BAD_OPTION", "the calibration session is already running a job");
    return buffers;
  }

  // Moves the job out of the External: from now on the core destroys it, the External's finalizer only frees it.
  static TrtInt8NativeJob TakeOver(TrtInt8NativeJob& external) {
    TrtInt8NativeJob native = external;
    external.run = nullptr;
    external.destroy = nullptr;
    external.arg = nullptr;
    return native;
  }

  void Launch(Napi::Env env) {
    // Registered after the TSFN's own hook, so it runs first at teardown: it stops and joins the thread while the
    // TSFN is still open.
    napi_add_env_cleanup_hook(env, TeardownHook, this);
    ++gLiveJobThreads;
    RegisterRunningJob(this);
    ThreadStarted();
    try {
      thread_ = std::thread([this] {
        ThreadMain();
        ThreadReturned();  // touches no member: after the TSFN release, Finish() may already have destroyed the job
      });
    } catch (const std::system_error& error) {
      // No thread: settle the job as failed through the normal path (the TSFN finalizer runs Finish()).
      ThreadReturned();
      UnregisterRunningJob(this);
      --gLiveJobThreads;
      StopWith(Stop::kFailed, std::string("could not start the job thread: ") + error.what());
      runStatus_ = -1;
      if (native_.destroy) native_.destroy(native_.arg);
      tsfn_.Release();
    }
  }

  Napi::Object Handle(Napi::Env env) {
    std::shared_ptr<Job> job = self_;
    Napi::Object handle = Napi::Object::New(env);
    handle.Set("promise", deferred_.Promise());
    handle.Set("reply", functionOwning<Job>(env, "reply", job, [](const Napi::CallbackInfo& i, Job& j) { return j.Reply(i); }));
    handle.Set("abort", functionOwning<Job>(env, "abort", job, [](const Napi::CallbackInfo& i, Job& j) {
                 j.StopWith(Stop::kAborted, "aborted by the caller");
                 return i.Env().Undefined();
               }));
    return handle;
  }

  // ---- the job thread ----

  template <typename Fn>
  int Guard(Fn&& fn) noexcept {
    try {
      return fn();
    } catch (const std::exception& error) {
      try {
        StopWith(Stop::kFailed, std::string("bridge failure: ") + error.what());
      } catch (...) {
        stopped_ = true;
      }
    } catch (...) {
      stopped_ = true;
    }
    answer_.notify_all();
    return TRT_INT8_FAILED;
  }

  void ThreadMain() {
    char error[4096] = {0};
    int status = -1;
    if (buffers_->device && buffers_->device->driver().cuCtxSetCurrent(buffers_->device->context()) != 0) {
      std::snprintf(error, sizeof error, "could not make the session's CUDA context current on the job thread");
      StopWith(Stop::kFailed, error);
    } else {
      try {
        status = native_.run(native_.arg, &source_, error, sizeof error);
      } catch (...) {
        std::snprintf(error, sizeof error, "the native job threw a C++ exception across the C ABI");
      }
    }
    error[sizeof error - 1] = '\0';
    try {
      if (native_.destroy) native_.destroy(native_.arg);
    } catch (...) {
    }
    if (buffers_->device) {
      buffers_->stream ? buffers_->device->driver().cuStreamSynchronize(buffers_->stream->handle()) : 0;
      buffers_->device->driver().cuCtxSetCurrent(nullptr);
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      runStatus_ = status;
      runError_ = error;
    }
    UnregisterRunningJob(this);  // the native job's code (TensorRT) is done: exit no longer needs to wait for us
    tsfn_.Release();  // the last release finalizes the TSFN on the JS thread: Finish() joins us and settles
  }

  // Sends a request to JS without waiting. One request is in flight at a time. False once the job is stopped.
  bool Send(std::unique_ptr<Message> message) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopped_) return false;
      message->id = ++lastRequestId_;
      pendingId_ = message->id;
      outstandingId_ = message->id;
      answered_ = false;
    }
    Message* raw = message.release();
    if (tsfn_.BlockingCall(raw) != napi_ok) {
      delete raw;
      StopWith(Stop::kTeardown, "the JavaScript environment is shutting down");
      return false;
    }
    return true;
  }

  // Waits for the answer to the request in flight, or a stop. Returns the answer, or TRT_INT8_FAILED.
  int AwaitAnswer() {
    std::unique_lock<std::mutex> lock(mutex_);
    answer_.wait(lock, [this] { return answered_ || stopped_.load(); });
    pendingId_ = 0;
    return answered_ ? answerStatus_ : TRT_INT8_FAILED;
  }

  int Request(std::unique_ptr<Message> message, Message::Kind kind) {
    FinishLookAhead();
    message->kind = kind;
    return Send(std::move(message)) ? AwaitAnswer() : TRT_INT8_FAILED;
  }

  bool SendBatchRequest(int slot) {
    auto message = std::make_unique<Message>();
    message->kind = Message::kBatch;
    message->slot = slot;
    return Send(std::move(message));
  }

  // A cache request while a look-ahead batch is in flight: let JS finish that batch first and keep its answer.
  void FinishLookAhead() {
    if (!aheadInFlight_) return;
    aheadInFlight_ = false;
    aheadStatus_ = AwaitAnswer();
    aheadAnswered_ = true;
  }

  int GetBatch(const char* const* names, int32_t count, void** bindings) {
    if (stopped_) return TRT_INT8_FAILED;
    std::vector<int> indexes;
    if (!ResolveInputs(names, count, bindings, indexes)) return TRT_INT8_FAILED;
    int slot = 0;
    int status = AwaitBatch(slot);
    if (status != TRT_INT8_BATCH_READY) return status == TRT_INT8_END_OF_DATA ? TRT_INT8_END_OF_DATA : TRT_INT8_FAILED;
    // JS has filled `slot` and is not touching it any more: copy it to the GPU (asynchronously), and meanwhile let
    // JS fill the other slot with the next batch.
    if (!StartCopy(slot, indexes)) return TRT_INT8_FAILED;
    if (buffers_->slotCount > 1) {
      aheadSlot_ = NextSlot();
      aheadInFlight_ = SendBatchRequest(aheadSlot_);
    }
    if (!FinishCopy()) return TRT_INT8_FAILED;
    BindSlot(slot, indexes, bindings);
    return TRT_INT8_BATCH_READY;
  }

  // The session's input index of every name TensorRT asks for; false (and the job stopped) for an unknown name.
  bool ResolveInputs(const char* const* names, int32_t count, void** bindings, std::vector<int>& indexes) {
    if (count < 0 || (count > 0 && (!names || !bindings))) {
      StopWith(Stop::kFailed, "get_batch was called with invalid arguments");
      return false;
    }
    for (int32_t i = 0; i < count; ++i) {
      int index = names[i] ? buffers_->indexOf(names[i]) : -1;
      if (index < 0) {
        StopWith(Stop::kFailed, std::string("the native job asked for input \"") + (names[i] ? names[i] : "(null)") +
                                    "\", which the calibration session does not have (inputs: " + buffers_->inputNames() + ")");
        return false;
      }
      indexes.push_back(index);
    }
    return true;
  }

  // The answer for the next batch and the slot JS filled: asked for ahead of time (look-ahead), or asked for now.
  int AwaitBatch(int& slot) {
    slot = aheadSlot_;
    if (aheadAnswered_) {
      aheadAnswered_ = false;
      return aheadStatus_;
    }
    if (aheadInFlight_) {
      aheadInFlight_ = false;
      return AwaitAnswer();
    }
    slot = NextSlot();
    return SendBatchRequest(slot) ? AwaitAnswer() : TRT_INT8_FAILED;
  }

  void BindSlot(int slot, const std::vector<int>& indexes, void** bindings) {
    for (size_t i = 0; i < indexes.size(); ++i) {
      SlotInput& memory = buffers_->inputs[static_cast<size_t>(indexes[i])].slots[static_cast<size_t>(slot)];
      bindings[i] = memory.device ? reinterpret_cast<void*>(static_cast<uintptr_t>(memory.device->pointer())) : memory.staging->block->data();
    }
    buffers_->lastDeliveredSlot = slot;
    ++delivered_;
  }

  int NextSlot() { return static_cast<int>(requestedBatches_++ % buffers_->slotCount); }

  // Pinned staging -> device: a DMA copy at full bus speed, queued on the session's stream.
  bool StartCopy(int slot, const std::vector<int>& indexes) {
    if (!buffers_->device) return true;
    const cuda::Driver& driver = buffers_->device->driver();
    for (int index : indexes) {
      SessionInput& input = buffers_->inputs[static_cast<size_t>(index)];
      SlotInput& memory = input.slots[static_cast<size_t>(slot)];
      if (!input.byteLength) continue;
      cuda::CUresult result = driver.cuMemcpyHtoDAsync(memory.device->pointer(), memory.staging->block->data(), input.byteLength, buffers_->stream->handle());
      if (result != cuda::CUDA_SUCCESS) {
        StopWith(Stop::kFailed, "cuMemcpyHtoDAsync of input " + input.name + " failed: " + driver.describe(result));
        return false;
      }
    }
    return true;
  }

  // Waits for the copies: TensorRT may read the bindings on any stream as soon as get_batch returns.
  bool FinishCopy() {
    if (!buffers_->device) return true;
    const cuda::Driver& driver = buffers_->device->driver();
    cuda::CUresult result = driver.cuStreamSynchronize(buffers_->stream->handle());
    if (result != cuda::CUDA_SUCCESS) {
      StopWith(Stop::kFailed, "cuStreamSynchronize failed: " + driver.describe(result));
      return false;
    }
    return true;
  }

  int ReadCache(const void** data, size_t* length) {
    if (!data || !length) {
      StopWith(Stop::kFailed, "read_cache was called with null pointers");
      return TRT_INT8_FAILED;
    }
    *data = nullptr;
    *length = 0;
    int status = Request(std::make_unique<Message>(), Message::kReadCache);
    if (status != TRT_INT8_CACHE_PRESENT) return status == TRT_INT8_CACHE_ABSENT ? TRT_INT8_CACHE_ABSENT : TRT_INT8_FAILED;
    std::lock_guard<std::mutex> lock(mutex_);
    if (caches_.empty() || caches_.back().empty()) return TRT_INT8_CACHE_ABSENT;
    *data = caches_.back().data();  // owned by the job until it ends
    *length = caches_.back().size();
    return TRT_INT8_CACHE_PRESENT;
  }

  int WriteCache(const void* data, size_t length) {
    if (!data && length) {
      StopWith(Stop::kFailed, "write_cache was called with a null pointer");
      return TRT_INT8_FAILED;
    }
    auto message = std::make_unique<Message>();
    // Copied now: the caller may free its bytes as soon as we return, even if the job is stopped meanwhile.
    if (length) message->bytes.assign(static_cast<const uint8_t*>(data), static_cast<const uint8_t*>(data) + length);
    return Request(std::move(message), Message::kWriteCache) == 0 ? 0 : TRT_INT8_FAILED;
  }

  // Never waits for JS: the line is queued (or counted when the queue is full), and JS is woken only when no
  // drain is pending already.
  void Log(int32_t severity, const char* text) {
    if (!log_.Add(severity, text)) return;
    auto* message = new Message();
    message->kind = Message::kLogDrain;
    if (tsfn_.NonBlockingCall(message) != napi_ok) {
      delete message;
      log_.DrainNotScheduled();
    }
  }

  void DeliverLogLines(Napi::Env env, Napi::Function callback) {
    uint64_t missed = 0;
    std::vector<LogLine> lines = log_.Drain(missed);
    if (missed) {
      lines.push_back(LogLine{TRT_INT8_LOG_WARNING, "trt-int8: " + std::to_string(missed) +
                                                        " log lines were not delivered live (JavaScript did not keep up); "
                                                        "the job's log keeps the latest"});
    }
    for (const LogLine& entry : lines) {
      if (finished_) return;
      callback.Call({Napi::String::New(env, "log"), Napi::Number::New(env, 0), LogLineObject(env, entry)});
    }
  }

 public:
  // Wakes the job thread and makes is_aborted() true. The first reason wins.
  void StopWith(Stop reason, const std::string& message) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stop_ == Stop::kNone) {
        stop_ = reason;
        stopMessage_ = message;
      }
      stopped_ = true;
    }
    answer_.notify_all();
  }

 private:
  // reply(id, status, bytes?) from JS: the answer to request `id`; stale ids (after a stop) are ignored.
  Napi::Value Reply(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsNumber() || !info[1].IsNumber()) throw codedError(env, "ERR_BAD_OPTION", "reply(id, status, bytes?)");
    double rawId = info[0].As<Napi::Number>().DoubleValue();
    if (!(rawId >= 1 && rawId <= 9007199254740991.0)) return Napi::Boolean::New(env, false);  // no such request
    uint64_t id = static_cast<uint64_t>(rawId);
    int status = info[1].As<Napi::Number>().Int32Value();
    uint8_t* bytes = nullptr;
    size_t length = 0;
    bool hasBytes = bytesOf(info[2], &bytes, &length);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (id == outstandingId_) {
        outstandingId_ = 0;
        if (finished_) buffers_->staleRequest = false;  // the answer Finish() left the session waiting for
      }
      if (finished_ || stopped_ || id == 0 || id != pendingId_ || answered_) return Napi::Boolean::New(env, false);
      if (hasBytes) caches_.emplace_back(bytes, bytes + length);
      answerStatus_ = status;
      answered_ = true;
    }
    answer_.notify_all();
    // A failed callback ends the job: is_aborted() turns true, so TensorRT's progress monitor stops the build instead
    // of treating the failed get_batch as a normal end of data.
    if (status == TRT_INT8_FAILED) StopWith(Stop::kFailed, "a calibrator callback failed");
    return Napi::Boolean::New(env, true);
  }

  Napi::Object Result(Napi::Env env) {
    std::lock_guard<std::mutex> lock(mutex_);
    Napi::Object result = Napi::Object::New(env);
    const char* status = stop_ == Stop::kAborted ? "aborted" : (stop_ != Stop::kNone || runStatus_ != 0) ? "failed" : "ok";
    result.Set("status", status);
    result.Set("runStatus", runStatus_);
    result.Set("delivered", static_cast<double>(delivered_));
    if (!runError_.empty()) result.Set("runError", runError_);
    if (!stopMessage_.empty()) result.Set("stopReason", stopMessage_);
    JobLog::Snapshot snapshot = log_.Take();
    result.Set("log", LogLinesArray(env, snapshot.history));
    result.Set("droppedLogLines", static_cast<double>(snapshot.droppedHistory));
    result.Set("logLinesNotDelivered", static_cast<double>(snapshot.notDelivered));
    result.Set("logQueueHighWater", static_cast<double>(snapshot.highWater));
    return result;
  }

  Napi::Env env_;
  TrtInt8NativeJob native_;
  std::shared_ptr<SessionBuffers> buffers_;
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference session_;
  Tsfn tsfn_;
  std::thread thread_;
  std::shared_ptr<Job> self_;  // keeps the job alive until the TSFN is finalized
  TrtInt8BatchSource source_{};

  std::mutex mutex_;
  std::condition_variable answer_;
  std::atomic<bool> stopped_{false};
  Stop stop_ = Stop::kNone;
  std::string stopMessage_;
  uint64_t lastRequestId_ = 0;
  uint64_t pendingId_ = 0;
  uint64_t outstandingId_ = 0;  // the last request sent to JS until JS answers it, even after a stop
  bool answered_ = false;
  int answerStatus_ = 0;
  std::list<std::vector<uint8_t>> caches_;
  JobLog log_;
  int runStatus_ = 0;
  std::string runError_;
  // Job thread only: the look-ahead batch request and counters.
  bool aheadInFlight_ = false;
  bool aheadAnswered_ = false;
  int aheadStatus_ = 0;
  int aheadSlot_ = 0;
  uint64_t requestedBatches_ = 0;
  uint64_t delivered_ = 0;  // read by Result() after the thread was joined
  bool hookRan_ = false;   // JS thread only
  bool teardown_ = false;  // JS thread only
  bool finished_ = false;  // JS thread only (read under mutex_ in Reply)

  friend void CallJs(Napi::Env, Napi::Function, Job*, Message*);
};

void CallJs(Napi::Env env, Napi::Function callback, Job* job, Message* message) {
  std::unique_ptr<Message> owned(message);
  if (env == nullptr || job == nullptr) return;  // the TSFN is being torn down with this message still queued
  job->Deliver(env, callback, std::move(owned));
}

void FinalizeTsfn(Napi::Env env, void*, Job* job) { job->Finish(env); }

// Jobs whose thread is inside native job code (a TensorRT build). process.exit() runs no environment cleanup hook,
// so without this a build still unwinding after an abort would run on while exit() destroys TensorRT's statics
// (seen on the H200: SIGSEGV, "LLVM ERROR: out of memory"). At exit every such job is stopped and waited for.
// Heap-allocated and never freed: the exit handler may run after static destructors of this library.
struct RunningJobs {
  std::mutex mutex;
  std::condition_variable idle;
  std::set<Job*> jobs;  // inside the native job's code (TensorRT)
  int threads = 0;      // job threads not yet returned from their function (the TSFN release is their last step)
};

RunningJobs& runningJobs() {
  static RunningJobs* running = new RunningJobs();
  return *running;
}

// Bounded: a native job that never checks for abort must not hang the exit forever.
constexpr auto kExitWaitForJobs = std::chrono::seconds(60);

// Stops every running job and waits until each has left the native job's code (`untilThreadsReturn`: until each job
// thread has returned altogether). True if they did within the time.
bool StopRunningJobsAndWait(std::chrono::milliseconds limit, bool untilThreadsReturn) {
  RunningJobs& running = runningJobs();
  std::unique_lock<std::mutex> lock(running.mutex);
  for (Job* job : running.jobs) job->StopWith(Job::Stop::kTeardown, "the process is exiting");
  return running.idle.wait_for(lock, limit, [&] { return running.jobs.empty() && (!untilThreadsReturn || running.threads == 0); });
}

void StopRunningJobsAtExit() { StopRunningJobsAndWait(kExitWaitForJobs, false); }

void ThreadStarted() {
  RunningJobs& running = runningJobs();
  std::lock_guard<std::mutex> lock(running.mutex);
  ++running.threads;
}

void ThreadReturned() {
  RunningJobs& running = runningJobs();
  {
    std::lock_guard<std::mutex> lock(running.mutex);
    --running.threads;
  }
  running.idle.notify_all();
}

void RegisterRunningJob(Job* job) {
  // Registered on the first job, after TensorRT's libraries are loaded, so it runs before their destructors.
  static bool registered = std::atexit(StopRunningJobsAtExit) == 0;
  (void)registered;
  RunningJobs& running = runningJobs();
  std::lock_guard<std::mutex> lock(running.mutex);
  running.jobs.insert(job);
}

void UnregisterRunningJob(Job* job) {
  RunningJobs& running = runningJobs();
  {
    std::lock_guard<std::mutex> lock(running.mutex);
    running.jobs.erase(job);
  }
  running.idle.notify_all();
}

}  // namespace

Napi::Value runJob(const Napi::CallbackInfo& info) { return Job::Start(info); }

// stopJobsForExit(timeoutMs) -> boolean. Called from process.on('exit') (src/bridge/session.ts): blocks the JS thread
// until every job thread has returned, so that node's teardown (platform disposal, then exit() and the static
// destructors of TensorRT) never runs beside a build that is still unwinding after an abort. Stopped jobs ask JS for
// nothing more, so the wait cannot deadlock on the blocked JS thread; it is bounded all the same.
Napi::Value stopJobsForExit(const Napi::CallbackInfo& info) {
  double ms = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 60000;
  if (!(ms >= 0)) ms = 0;
  if (ms > 600000) ms = 600000;
  bool done = StopRunningJobsAndWait(std::chrono::milliseconds(static_cast<int64_t>(ms)), true);
  return Napi::Boolean::New(info.Env(), done);
}

Napi::Value liveJobThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), gLiveJobThreads.load()); }

}  // namespace bridge
}  // namespace trt_int8
