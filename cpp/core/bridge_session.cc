// bridge.Session: the buffers one calibration run delivers batches through, and the `bridge` module's exports.
#include <napi.h>

#include "bridge_abi.h"
#include "bridge_internal.h"
#include "module_registry.h"

namespace trt_int8 {
namespace bridge {
namespace {

class Session : public Napi::ObjectWrap<Session> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Session",
                       {InstanceAccessor<&Session::Memory>("memory"),
                        InstanceAccessor<&Session::Busy>("busy"),
                        InstanceAccessor<&Session::Slots>("slots"),
                        InstanceAccessor<&Session::Disposed>("disposed"),
                        InstanceMethod<&Session::InputArrays>("inputArrays"),
                        InstanceMethod<&Session::Stage>("stage"),
                        InstanceMethod<&Session::ReadBack>("readBack"),
                        InstanceMethod<&Session::Dispose>("dispose")});
  }

  // new Session({ inputs: [{ name, byteLength }], memory: 'host' | 'cuda', device?, slots?: 1 | 2 })
  explicit Session(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Session>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject()) throw codedError(env, "ERR_BAD_OPTION", "Session expects an options object");
    Napi::Object options = info[0].As<Napi::Object>();
    Napi::Value inputs = options.Get("inputs");
    if (!inputs.IsArray()) throw codedError(env, "ERR_BAD_OPTION", "options.inputs must be an array");
    std::string memory = options.Get("memory").IsString() ? options.Get("memory").As<Napi::String>().Utf8Value() : "host";
    auto buffers = std::make_shared<SessionBuffers>();
    if (memory == "cuda") {
      int ordinal = options.Get("device").IsNumber() ? options.Get("device").As<Napi::Number>().Int32Value() : 0;
      std::string error;
      buffers->device = cuda::Device::open(ordinal, &error);
      if (!buffers->device) throw codedError(env, "ERR_CUDA_UNAVAILABLE", error);
      buffers->stream = cuda::Stream::create(buffers->device, &error);
      if (!buffers->stream) throw codedError(env, "ERR_CUDA_UNAVAILABLE", error);
    } else if (memory != "host") {
      throw codedError(env, "ERR_BAD_OPTION", "options.memory must be 'host' or 'cuda'");
    }
    Napi::Value slots = options.Get("slots");
    buffers->slotCount = slots.IsNumber() ? slots.As<Napi::Number>().Uint32Value() : 1;
    if (buffers->slotCount != 1 && buffers->slotCount != 2) throw codedError(env, "ERR_BAD_OPTION", "options.slots must be 1 or 2");
    Napi::Array list = inputs.As<Napi::Array>();
    size_t deviceBytes = 0;
    for (uint32_t i = 0; i < list.Length(); ++i) {
      Napi::Value entry = list.Get(i);
      if (!entry.IsObject()) throw codedError(env, "ERR_BAD_OPTION", "each input must be { name, byteLength }");
      Napi::Object spec = entry.As<Napi::Object>();
      if (!spec.Get("name").IsString() || !spec.Get("byteLength").IsNumber()) {
        throw codedError(env, "ERR_BAD_OPTION", "each input must be { name: string, byteLength: number }");
      }
      SessionInput input;
      input.name = spec.Get("name").As<Napi::String>().Utf8Value();
      double bytes = spec.Get("byteLength").As<Napi::Number>().DoubleValue();
      // Range first: casting a NaN, negative or huge double to an integer is undefined behaviour.
      if (!(bytes >= 0 && bytes <= 9007199254740991.0) || bytes != static_cast<double>(static_cast<uint64_t>(bytes))) {
        throw codedError(env, "ERR_BAD_OPTION", "byteLength of input " + input.name + " must be a non-negative integer");
      }
      if (buffers->indexOf(input.name.c_str()) >= 0) throw codedError(env, "ERR_BAD_OPTION", "duplicate input name " + input.name);
      input.byteLength = static_cast<size_t>(bytes);
      for (size_t slot = 0; slot < buffers->slotCount; ++slot) {
        SlotInput memory;
        memory.staging = std::make_shared<ChargedHostBlock>();
        if (buffers->device) {
          std::string error;
          auto pinned = cuda::PinnedMemory::allocate(buffers->device, input.byteLength, &error);
          if (!pinned) throw codedError(env, "ERR_CUDA_UNAVAILABLE", error);
          memory.staging->block = std::make_unique<PinnedHostBlock>(std::move(pinned));
          memory.device = cuda::DeviceMemory::allocate(buffers->device, input.byteLength, &error);
          if (!memory.device) throw codedError(env, "ERR_CUDA_UNAVAILABLE", error);
          deviceBytes += input.byteLength;
        } else {
          memory.staging->block = std::make_unique<AlignedHostBlock>(input.byteLength);
          if (!memory.staging->block->data()) throw codedError(env, "ERR_BAD_OPTION", "out of host memory for input " + input.name);
        }
        memory.staging->charge = std::make_unique<ExternalMemoryCharge>(env, input.byteLength);
        input.slots.push_back(std::move(memory));
      }
      buffers->inputs.push_back(std::move(input));
    }
    if (deviceBytes) buffers->deviceCharge = std::make_unique<ExternalMemoryCharge>(env, deviceBytes);
    buffers_ = std::move(buffers);
    info.This().As<Napi::Object>().TypeTag(&kBridgeSessionTag);
  }

  std::shared_ptr<SessionBuffers> buffers(Napi::Env env) const {
    if (!buffers_) throw codedError(env, "ERR_BAD_OPTION", "the calibration session was disposed");
    return buffers_;
  }

 private:
  Napi::Value Memory(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), buffers_ && buffers_->device ? "cuda" : "host");
  }
  Napi::Value Busy(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), buffers_ && buffers_->busy.load()); }
  Napi::Value Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !buffers_); }
  Napi::Value Slots(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), buffers_ ? static_cast<double>(buffers_->slotCount) : 0);
  }

  // inputArrays(options?) -> [slot][input]: zero-copy ArrayBuffers over the staging memory (null where refused).
  Napi::Value InputArrays(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto buffers = this->buffers(env);
    bool allowed = !(info[0].IsObject() && info[0].As<Napi::Object>().Get("forceCopy").ToBoolean());
    Napi::Array slots = Napi::Array::New(env, buffers->slotCount);
    for (uint32_t slot = 0; slot < buffers->slotCount; ++slot) {
      Napi::Array arrays = Napi::Array::New(env, buffers->inputs.size());
      for (uint32_t i = 0; i < buffers->inputs.size(); ++i) {
        Napi::Value lent = allowed ? lendArrayBuffer(env, buffers->inputs[i].slots[slot].staging) : Napi::Value();
        arrays.Set(i, lent.IsEmpty() ? env.Null() : lent);
      }
      slots.Set(slot, arrays);
    }
    return slots;
  }

  // stage(slot, index, view): copies a view of exactly the input's byteLength into that slot's staging memory.
  Napi::Value Stage(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto buffers = this->buffers(env);
    uint32_t slot = info[0].IsNumber() ? info[0].As<Napi::Number>().Uint32Value() : UINT32_MAX;
    if (slot >= buffers->slotCount) throw codedError(env, "ERR_BAD_OPTION", "no such slot");
    SessionInput& input = inputAt(env, *buffers, info[1]);
    uint8_t* data = nullptr;
    size_t length = 0;
    if (!bytesOf(info[2], &data, &length)) throw codedError(env, "ERR_BAD_BATCH", "stage expects a TypedArray");
    if (length != input.byteLength) {
      throw codedError(env, "ERR_BAD_BATCH", "input " + input.name + " needs " + std::to_string(input.byteLength) + " bytes, got " + std::to_string(length));
    }
    std::memcpy(input.slots[slot].staging->block->data(), data, length);
    return env.Undefined();
  }

  // readBack(index, view): the bytes of the last batch delivered to the job (device memory for CUDA sessions).
  Napi::Value ReadBack(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto buffers = this->buffers(env);
    if (buffers->busy) throw codedError(env, "ERR_BAD_OPTION", "readBack while a job runs");
    SessionInput& input = inputAt(env, *buffers, info[0]);
    uint8_t* data = nullptr;
    size_t length = 0;
    if (!bytesOf(info[1], &data, &length) || length != input.byteLength) throw codedError(env, "ERR_BAD_OPTION", "readBack needs a view of exactly the input's byteLength");
    SlotInput& memory = input.slots[static_cast<size_t>(buffers->lastDeliveredSlot.load())];
    if (!memory.device) {
      std::memcpy(data, memory.staging->block->data(), length);
      return env.Undefined();
    }
    const cuda::Driver& driver = buffers->device->driver();
    cuda::ScopedContext scope(driver, buffers->device->context());
    cuda::CUresult result = length == 0 ? cuda::CUDA_SUCCESS : driver.cuMemcpyDtoH(data, memory.device->pointer(), length);
    if (result != cuda::CUDA_SUCCESS) throw codedError(env, "ERR_CUDA_UNAVAILABLE", "cuMemcpyDtoH failed: " + driver.describe(result));
    return env.Undefined();
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    if (buffers_ && buffers_->busy) throw codedError(info.Env(), "ERR_BAD_OPTION", "the calibration session is running a job; abort it first");
    buffers_.reset();
    return info.Env().Undefined();
  }

  static SessionInput& inputAt(Napi::Env env, SessionBuffers& buffers, const Napi::Value& index) {
    uint32_t i = index.IsNumber() ? index.As<Napi::Number>().Uint32Value() : UINT32_MAX;
    if (i >= buffers.inputs.size()) throw codedError(env, "ERR_BAD_OPTION", "no input with that index");
    return buffers.inputs[i];
  }

  std::shared_ptr<SessionBuffers> buffers_;
};

Napi::Object InitBridge(Napi::Env env) {
  Napi::Object exports = Napi::Object::New(env);
  exports.Set("abiVersion", Napi::Number::New(env, TRT_INT8_BRIDGE_ABI_VERSION));
  exports.Set("Session", Session::Define(env));
  exports.Set("runJob", Napi::Function::New(env, runJob, "runJob"));
  exports.Set("createTestDriverJob", Napi::Function::New(env, createTestDriverJob, "createTestDriverJob"));
  exports.Set("liveJobThreads", Napi::Function::New(env, liveJobThreads, "liveJobThreads"));
  exports.Set("stopJobsForExit", Napi::Function::New(env, stopJobsForExit, "stopJobsForExit"));
  return exports;
}

}  // namespace

std::shared_ptr<SessionBuffers> sessionBuffersOf(Napi::Env env, const Napi::Value& value) {
  if (!value.IsObject() || !value.As<Napi::Object>().CheckTypeTag(&kBridgeSessionTag)) {
    throw codedError(env, "ERR_BAD_OPTION", "expected a bridge.Session");
  }
  return Session::Unwrap(value.As<Napi::Object>())->buffers(env);
}

TRT_INT8_MODULE(bridge, InitBridge);

}  // namespace bridge
}  // namespace trt_int8
