#include <napi.h>

#include "module_registry.h"

namespace trt_int8 {

std::vector<ModuleEntry>& moduleRegistry() {
  static std::vector<ModuleEntry> registry;
  return registry;
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("abiVersion", Napi::Number::New(env, 1));
  Napi::Array names = Napi::Array::New(env);
  uint32_t i = 0;
  for (const auto& entry : moduleRegistry()) {
    exports.Set(entry.name, entry.init(env));
    names.Set(i++, Napi::String::New(env, entry.name));
  }
  exports.Set("modules", names);
  return exports;
}

}  // namespace trt_int8

static Napi::Object InitCore(Napi::Env env, Napi::Object exports) { return trt_int8::Init(env, exports); }

NODE_API_MODULE(trt_int8_core, InitCore)
