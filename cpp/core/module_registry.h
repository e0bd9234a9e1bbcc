// Each native module of the core addon registers itself here from a static initializer, so
// addon.cc never lists them and any subset of cpp/core/*.cc links into a working addon.
#pragma once
#include <napi.h>

#include <functional>
#include <string>
#include <vector>

namespace trt_int8 {

using ModuleInit = std::function<Napi::Object(Napi::Env)>;

struct ModuleEntry {
  std::string name;
  ModuleInit init;
};

std::vector<ModuleEntry>& moduleRegistry();

struct RegisterModule {
  RegisterModule(const char* name, ModuleInit init) { moduleRegistry().push_back({name, std::move(init)}); }
};

}  // namespace trt_int8

// Usage in a module file: TRT_INT8_MODULE(stats, InitStats); -> binding.stats = InitStats(env)
#define TRT_INT8_MODULE(name, fn) static ::trt_int8::RegisterModule trt_int8_register_##name(#name, fn)
