// cuda_napi.h - N-API helpers shared by the `cuda` and `bridge` modules: coded errors, host memory blocks that JS
// can borrow as external ArrayBuffers, and external-memory accounting so V8's GC sees native allocations.
#pragma once

#include <napi.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "cuda_memory.h"
#include "native_error.h"  // codedError: the cuda and bridge modules throw coded errors

namespace trt_int8 {

// Host memory the native side owns and JS may view: pinned (CUDA) or plain aligned memory.
class HostBlock {
 public:
  virtual ~HostBlock() = default;
  virtual void* data() const = 0;
  virtual size_t size() const = 0;
};

class AlignedHostBlock final : public HostBlock {
 public:
  explicit AlignedHostBlock(size_t bytes) : size_(bytes) {
    // 256-byte alignment like cudaMalloc, so host "bindings" look like device ones to a driver.
    data_ = std::aligned_alloc(256, ((bytes == 0 ? 1 : bytes) + 255) / 256 * 256);
    if (data_) std::memset(data_, 0, bytes);
  }
  ~AlignedHostBlock() override { std::free(data_); }
  void* data() const override { return data_; }
  size_t size() const override { return size_; }

 private:
  void* data_;
  size_t size_;
};

class PinnedHostBlock final : public HostBlock {
 public:
  explicit PinnedHostBlock(std::unique_ptr<cuda::PinnedMemory> memory) : memory_(std::move(memory)) {
    std::memset(memory_->data(), 0, memory_->size());
  }
  void* data() const override { return memory_->data(); }
  size_t size() const override { return memory_->size(); }

 private:
  std::unique_ptr<cuda::PinnedMemory> memory_;
};

// Reports `bytes` to V8 while alive (napi_adjust_external_memory); created and destroyed on the JS thread.
class ExternalMemoryCharge {
 public:
  ExternalMemoryCharge(napi_env env, size_t bytes) : env_(env), bytes_(static_cast<int64_t>(bytes)) {
    int64_t total = 0;
    napi_adjust_external_memory(env_, bytes_, &total);
  }
  ~ExternalMemoryCharge() {
    int64_t total = 0;
    napi_adjust_external_memory(env_, -bytes_, &total);
  }
  ExternalMemoryCharge(const ExternalMemoryCharge&) = delete;
  ExternalMemoryCharge& operator=(const ExternalMemoryCharge&) = delete;

 private:
  napi_env env_;
  int64_t bytes_;
};

// A HostBlock plus its GC accounting; shared by its owner object and every ArrayBuffer lent over it, so the memory
// outlives the last view even after the owner is disposed.
struct ChargedHostBlock {
  std::unique_ptr<HostBlock> block;
  std::unique_ptr<ExternalMemoryCharge> charge;
};

// An ArrayBuffer over the block without copying, or an empty value where the runtime forbids external buffers
// (Electron's V8 sandbox: napi_no_external_buffers_allowed); callers then copy instead.
inline Napi::Value lendArrayBuffer(Napi::Env env, const std::shared_ptr<ChargedHostBlock>& block) {
  auto* keepAlive = new std::shared_ptr<ChargedHostBlock>(block);
  napi_value result = nullptr;
  napi_status status = napi_create_external_arraybuffer(
      env, block->block->data(), block->block->size(),
      [](napi_env, void*, void* hint) { delete static_cast<std::shared_ptr<ChargedHostBlock>*>(hint); }, keepAlive,
      &result);
  if (status != napi_ok) {
    delete keepAlive;
    if (status == napi_pending_exception) {
      napi_value ignored;
      napi_get_and_clear_last_exception(env, &ignored);
    }
    return Napi::Value();
  }
  return Napi::Value(env, result);
}

// Byte range of a TypedArray / DataView / ArrayBuffer argument, or false.
inline bool bytesOf(const Napi::Value& value, uint8_t** data, size_t* length) {
  if (value.IsTypedArray()) {
    Napi::TypedArray array = value.As<Napi::TypedArray>();
    *data = static_cast<uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
    *length = array.ByteLength();
    return true;
  }
  if (value.IsDataView()) {
    Napi::DataView view = value.As<Napi::DataView>();
    *data = static_cast<uint8_t*>(view.ArrayBuffer().Data()) + view.ByteOffset();
    *length = view.ByteLength();
    return true;
  }
  if (value.IsArrayBuffer()) {
    Napi::ArrayBuffer buffer = value.As<Napi::ArrayBuffer>();
    *data = static_cast<uint8_t*>(buffer.Data());
    *length = buffer.ByteLength();
    return true;
  }
  return false;
}

// Type tags that let one module recognise another's wrapped objects without a shared constructor.
constexpr napi_type_tag kPinnedBufferTag = {0x7472742d696e7438ull, 0x70696e6e65640001ull};
constexpr napi_type_tag kDeviceBufferTag = {0x7472742d696e7438ull, 0x6465766963650001ull};
constexpr napi_type_tag kBridgeSessionTag = {0x7472742d696e7438ull, 0x73657373696f0001ull};

}  // namespace trt_int8
