// bridge_internal.h - pieces of the calibrator bridge shared by its .cc files (not part of any ABI).
#pragma once

#include <napi.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "cuda_memory.h"
#include "cuda_napi.h"

namespace trt_int8 {
namespace bridge {

// One model input's buffers in one slot: host staging memory JS fills (pinned when CUDA is used, lent to JS as an
// ArrayBuffer where allowed) and, for CUDA sessions, the device memory TensorRT reads.
struct SlotInput {
  std::shared_ptr<ChargedHostBlock> staging;
  std::unique_ptr<cuda::DeviceMemory> device;
};

struct SessionInput {
  std::string name;
  size_t byteLength = 0;
  std::vector<SlotInput> slots;  // one per slot
};

// Everything a job thread touches. Created and destroyed on the JS thread (it holds GC charges).
// With two slots the bridge reads one batch ahead: JS fills slot (k+1)%2 while slot k%2 is copied to the GPU and
// used by TensorRT, so the JS round trip and the copy overlap TensorRT's work (and each other).
struct SessionBuffers {
  std::vector<SessionInput> inputs;
  size_t slotCount = 1;
  std::atomic<int> lastDeliveredSlot{0};
  std::shared_ptr<cuda::Device> device;  // null: host-memory session
  std::unique_ptr<cuda::Stream> stream;
  std::unique_ptr<ExternalMemoryCharge> deviceCharge;
  std::atomic<bool> busy{false};
  // A finished job's last request is still being answered by JS (a getBatch writing into these buffers): no new
  // job until it is. Disposing stays allowed: lent ArrayBuffers share the memory they view.
  std::atomic<bool> staleRequest{false};

  int indexOf(const char* name) const {
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (inputs[i].name == name) return static_cast<int>(i);
    }
    return -1;
  }
  std::string inputNames() const {
    std::string names;
    for (const auto& input : inputs) names += (names.empty() ? "" : ", ") + input.name;
    return names;
  }
};

// Session object (bridge_session.cc): the SessionBuffers of a JS `bridge.Session`, or throws if disposed.
std::shared_ptr<SessionBuffers> sessionBuffersOf(Napi::Env env, const Napi::Value& session);
Napi::Function defineSessionClass(Napi::Env env);

// bridge_job.cc
Napi::Value runJob(const Napi::CallbackInfo& info);
Napi::Value liveJobThreads(const Napi::CallbackInfo& info);
Napi::Value stopJobsForExit(const Napi::CallbackInfo& info);

// bridge_test_driver.cc
Napi::Value createTestDriverJob(const Napi::CallbackInfo& info);
// For a job made by createTestDriverJob: why it cannot run on `session` (an input it names that the session lacks,
// or a byteLength larger than the session's buffer, which it would read past), or "" when it can. "" for other jobs.
std::string testDriverMismatch(const TrtInt8NativeJob& job, const SessionBuffers& session);

// A JS function that owns `data` (deleted when the function is garbage collected).
template <typename T>
Napi::Function functionOwning(Napi::Env env, const char* name, std::shared_ptr<T> data,
                              Napi::Value (*callback)(const Napi::CallbackInfo&, T&)) {
  struct Holder {
    std::shared_ptr<T> data;
    Napi::Value (*callback)(const Napi::CallbackInfo&, T&);
  };
  auto* holder = new Holder{std::move(data), callback};
  Napi::Function fn = Napi::Function::New(
      env, [](const Napi::CallbackInfo& info) -> Napi::Value {
        auto* h = static_cast<Holder*>(info.Data());
        return h->callback(info, *h->data);
      },
      name, holder);
  fn.AddFinalizer([](Napi::Env, Holder* h) { delete h; }, holder);
  return fn;
}

}  // namespace bridge
}  // namespace trt_int8
