#include "trt_library.h"

#include <dirent.h>
#include <dlfcn.h>

#include <algorithm>
#include <vector>

namespace trt_int8::trt {

LibraryVersion decodeVersion(int32_t encoded) {
  LibraryVersion v;
  v.major = encoded / 10000;
  v.minor = (encoded / 100) % 100;
  v.patch = encoded % 100;
  return v;
}

namespace {

std::string dlerrorText() {
  const char* e = dlerror();
  return e ? std::string(e) : std::string("unknown dlopen error");
}

template <typename Fn>
bool bind(void* handle, const char* symbol, Fn& out, std::string& error) {
  dlerror();
  void* p = dlsym(handle, symbol);
  if (!p) {
    error = std::string("symbol ") + symbol + " not found: " + dlerrorText();
    return false;
  }
  out = reinterpret_cast<Fn>(p);
  return true;
}

// TensorRT loads its builder resource (libnvinfer_builder_resource.so.<ver>, or one
// libnvinfer_builder_resource_sm<NN>.so.<ver> per GPU architecture in newer 10.x) with dlopen by file name,
// which searches LD_LIBRARY_PATH and the system folders, not libnvinfer's own folder. Loading every builder
// resource found beside libnvinfer by full path first makes TensorRT's later dlopen by name return the object
// already loaded (glibc matches a bare name against the SONAME of loaded objects), so TENSORRT_ROOT alone is
// enough. A resource that does not answer to its own file name afterwards is reported, not hidden.
constexpr const char* kBuilderResourcePrefix = "libnvinfer_builder_resource";

std::string folderOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

// Versioned names only ("<prefix>[_smNN].so.<version>"): the bare ".so" is a development symlink.
std::vector<std::string> builderResourceFiles(const std::string& folder, const LibraryVersion& version) {
  std::vector<std::string> names;
  DIR* dir = opendir(folder.c_str());
  if (!dir) return names;
  std::string wantedSuffix = ".so." + std::to_string(version.major);
  while (dirent* entry = readdir(dir)) {
    std::string name = entry->d_name;
    if (name.rfind(kBuilderResourcePrefix, 0) != 0) continue;
    size_t so = name.find(wantedSuffix);
    if (so == std::string::npos) continue;
    size_t end = so + wantedSuffix.size();
    if (end != name.size() && name[end] != '.') continue;  // ".so.10" or ".so.10.x.y", not ".so.100"
    if (name.find_first_not_of("0123456789.", end) != std::string::npos) continue;  // not a version tail
    names.push_back(name);
  }
  closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

void preloadBuilderResources(TrtLibrary& lib) {
  std::string folder = folderOf(lib.nvinferPath);
  for (const std::string& name : builderResourceFiles(folder, lib.version)) {
    std::string path = folder + "/" + name;
    // RTLD_GLOBAL as TensorRT's own dlopen of the resource would have it; it holds kernels, not clashing symbols.
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (!handle) {
      lib.builderResourceProblems.push_back("dlopen(" + path + ") failed: " + dlerrorText());
      continue;
    }
    lib.builderResources.push_back(path);
    // What TensorRT will do: dlopen by bare name. NOLOAD finds it only if the name is the object's SONAME.
    void* byName = dlopen(name.c_str(), RTLD_NOW | RTLD_NOLOAD);
    if (byName) {
      dlclose(byName);
    } else if (name.find(".so." + std::to_string(lib.version.major) + "." + std::to_string(lib.version.minor)) != std::string::npos) {
      lib.builderResourceProblems.push_back(path + " was loaded, but its SONAME is not \"" + name +
                                            "\", so TensorRT's dlopen by that name would not find it");
    }
  }
}

std::mutex gMutex;
TrtLibrary gLibrary;
bool gLoaded = false;

}  // namespace

const TrtLibrary* loadedTensorRT() {
  std::lock_guard<std::mutex> lock(gMutex);
  return gLoaded ? &gLibrary : nullptr;
}

LoadResult loadTensorRT(const std::string& nvinferPath, const std::string& onnxparserPath) {
  std::lock_guard<std::mutex> lock(gMutex);
  LoadResult result;
  if (gLoaded && (onnxparserPath.empty() || gLibrary.onnxparser)) {
    result.library = &gLibrary;
    return result;
  }
  if (!gLoaded) {
    TrtLibrary lib;
    // RTLD_LOCAL: TensorRT's symbols must not leak into Node's global namespace.
    lib.nvinfer = dlopen(nvinferPath.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib.nvinfer) {
      result.error = "dlopen(" + nvinferPath + ") failed: " + dlerrorText();
      result.reason = "not-found";
      return result;
    }
    std::string error;
    if (!bind(lib.nvinfer, "getInferLibVersion", lib.getInferLibVersion, error) ||
        !bind(lib.nvinfer, "createInferBuilder_INTERNAL", lib.createInferBuilder, error) ||
        !bind(lib.nvinfer, "createInferRuntime_INTERNAL", lib.createInferRuntime, error)) {
      dlclose(lib.nvinfer);
      result.error = nvinferPath + ": " + error;
      result.reason = "missing-symbol";
      return result;
    }
    lib.version = decodeVersion(lib.getInferLibVersion());
    if (lib.version.major != kCompiledMajor) {
      dlclose(lib.nvinfer);
      result.error = nvinferPath + " is TensorRT " + std::to_string(lib.version.major) + "." +
                     std::to_string(lib.version.minor) + "." + std::to_string(lib.version.patch) +
                     ", but this module was compiled for TensorRT " + std::to_string(kCompiledMajor) + ".x";
      result.reason = "version-mismatch";
      return result;
    }
    lib.nvinferPath = nvinferPath;
    preloadBuilderResources(lib);
    gLibrary = lib;
    gLoaded = true;
  }
  if (!onnxparserPath.empty() && !gLibrary.onnxparser) {
    void* parser = dlopen(onnxparserPath.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!parser) {
      result.error = "dlopen(" + onnxparserPath + ") failed: " + dlerrorText();
      result.reason = "not-found";
      return result;
    }
    std::string error;
    if (!bind(parser, "createNvOnnxParser_INTERNAL", gLibrary.createOnnxParser, error)) {
      dlclose(parser);
      result.error = onnxparserPath + ": " + error;
      result.reason = "missing-symbol";
      return result;
    }
    gLibrary.onnxparser = parser;
    gLibrary.onnxparserPath = onnxparserPath;
  }
  result.library = &gLibrary;
  return result;
}

}  // namespace trt_int8::trt
