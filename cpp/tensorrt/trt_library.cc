#include "trt_library.h"

#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
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
// libnvinfer_builder_resource_sm<NN>.so.<ver> per GPU architecture in newer 10.x) with dlopen by bare file name
// when a builder is created. A bare name searches LD_LIBRARY_PATH (read by ld.so once, at process start, so
// setenv is too late), the ld.so cache and the system folders, never libnvinfer's own folder (libnvinfer has no
// RPATH/RUNPATH). Loading the resource by full path beforehand does not help either: glibc matches a bare name
// against the SONAME of loaded objects, and NVIDIA gives the resource the SONAME
// "do_not_link_against_nvinfer_builder_resource". So that TENSORRT_ROOT alone is enough (issue #9), we redirect
// libnvinfer's own calls to dlopen (PLT/GOT hooking): its GOT slots for the symbol "dlopen" are made to point at
// builderResourceDlopen below, which tries a builder resource name as <libnvinfer's folder>/<name> first and
// otherwise calls the real dlopen with the same arguments. Nothing else in the process is affected. If the
// redirection cannot be made, nothing is changed and a problem is recorded, which the createInferBuilder error
// repeats with the way out (LD_LIBRARY_PATH).
constexpr const char* kBuilderResourcePrefix = "libnvinfer_builder_resource";

std::string folderOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

// Versioned names only ("<prefix>[_smNN|_ptx].so.<version>"): the bare ".so" is a development symlink.
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

// The folder the wrapper looks in: libnvinfer's. Set once, before any GOT slot points at the wrapper, and never
// freed (TensorRT may dlopen from its own threads until the process exits), so the wrapper reads it lock-free.
std::atomic<const std::string*> gResourceFolder{nullptr};

// What libnvinfer's calls to dlopen reach once redirected. Only a bare name starting with the resource prefix is
// changed, and only when the file opens from libnvinfer's folder; anything else goes to the real dlopen as is.
// (The real dlopen then sees this module as its caller instead of libnvinfer; that only matters for the caller's
// RUNPATH/$ORIGIN, and libnvinfer has none.)
void* builderResourceDlopen(const char* name, int flags) {
  const std::string* folder = gResourceFolder.load(std::memory_order_acquire);
  if (folder && name && std::strchr(name, '/') == nullptr &&
      std::strncmp(name, kBuilderResourcePrefix, std::strlen(kBuilderResourcePrefix)) == 0) {
    std::string path = *folder + "/" + name;
    if (void* handle = dlopen(path.c_str(), flags)) return handle;
  }
  return dlopen(name, flags);
}

#if defined(__x86_64__)
constexpr uint32_t kJumpSlot = R_X86_64_JUMP_SLOT;
constexpr uint32_t kGlobDat = R_X86_64_GLOB_DAT;
constexpr uint32_t kAbs64 = R_X86_64_64;
#define TRT_INT8_GOT_HOOK 1
#elif defined(__aarch64__)
constexpr uint32_t kJumpSlot = R_AARCH64_JUMP_SLOT;
constexpr uint32_t kGlobDat = R_AARCH64_GLOB_DAT;
constexpr uint32_t kAbs64 = R_AARCH64_ABS64;
#define TRT_INT8_GOT_HOOK 1
#else
#define TRT_INT8_GOT_HOOK 0
#endif

#if TRT_INT8_GOT_HOOK
// The protection of the page holding addr, from /proc/self/maps (RELRO leaves GOT pages read-only after
// relocation; some GOTs stay writable): restored exactly after the write. -1 when not found.
int pageProtection(uintptr_t addr) {
  FILE* maps = std::fopen("/proc/self/maps", "re");
  if (!maps) return -1;
  char line[4096];
  int prot = -1;
  while (std::fgets(line, sizeof line, maps)) {
    unsigned long lo = 0, hi = 0;
    char perms[8] = {0};
    if (std::sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3) continue;
    if (addr < lo || addr >= hi) continue;
    prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) | (perms[2] == 'x' ? PROT_EXEC : 0);
    break;
  }
  std::fclose(maps);
  return prot;
}

// Points every GOT slot of `handle`'s object for the symbol "dlopen" (any version: the name in the symbol table
// is "dlopen" whether the import is dlopen@GLIBC_2.2.5 or dlopen@GLIBC_2.34) at builderResourceDlopen. Returns
// the number of slots written, or -1 with `error` set. Nothing is written unless every slot can be.
int redirectDlopen(void* handle, std::string& error) {
  link_map* map = nullptr;
  if (dlinfo(handle, RTLD_DI_LINKMAP, &map) != 0 || !map || !map->l_ld) {
    error = "no link map: " + dlerrorText();
    return -1;
  }
  const uintptr_t base = map->l_addr;
  // glibc relocates the pointers in a writable dynamic section in place, other loaders (and glibc on some
  // architectures) do not: an address below the load base is still an offset into the file.
  auto absolute = [base](uintptr_t p) { return p < base ? p + base : p; };
  const ElfW(Sym)* symtab = nullptr;
  const char* strtab = nullptr;
  size_t strsz = 0;
  const ElfW(Rela)* jmprel = nullptr;
  size_t pltrelsz = 0;
  const ElfW(Rela)* rela = nullptr;
  size_t relasz = 0;
  long pltrel = DT_RELA;
  for (const ElfW(Dyn)* d = map->l_ld; d->d_tag != DT_NULL; ++d) {
    switch (d->d_tag) {
      case DT_SYMTAB: symtab = reinterpret_cast<const ElfW(Sym)*>(absolute(d->d_un.d_ptr)); break;
      case DT_STRTAB: strtab = reinterpret_cast<const char*>(absolute(d->d_un.d_ptr)); break;
      case DT_STRSZ: strsz = d->d_un.d_val; break;
      case DT_JMPREL: jmprel = reinterpret_cast<const ElfW(Rela)*>(absolute(d->d_un.d_ptr)); break;
      case DT_PLTRELSZ: pltrelsz = d->d_un.d_val; break;
      case DT_PLTREL: pltrel = static_cast<long>(d->d_un.d_val); break;
      case DT_RELA: rela = reinterpret_cast<const ElfW(Rela)*>(absolute(d->d_un.d_ptr)); break;
      case DT_RELASZ: relasz = d->d_un.d_val; break;
      default: break;
    }
  }
  if (!symtab || !strtab) {
    error = "no DT_SYMTAB/DT_STRTAB in its dynamic section";
    return -1;
  }
  if (jmprel && pltrel != DT_RELA) {
    error = "its PLT relocations are not RELA";
    return -1;
  }
  struct Slot {
    uintptr_t* at;
    uintptr_t value;
  };
  std::vector<Slot> slots;
  const uintptr_t target = reinterpret_cast<uintptr_t>(&builderResourceDlopen);
  auto scan = [&](const ElfW(Rela)* table, size_t bytes) {
    if (!table) return;
    for (size_t i = 0; i < bytes / sizeof(ElfW(Rela)); ++i) {
      const ElfW(Rela)& r = table[i];
      uint32_t type = ELF64_R_TYPE(r.r_info);
      if (type != kJumpSlot && type != kGlobDat && type != kAbs64) continue;
      size_t sym = ELF64_R_SYM(r.r_info);
      if (sym == 0) continue;
      size_t nameAt = symtab[sym].st_name;
      if (strsz && nameAt >= strsz) continue;
      if (std::strcmp(strtab + nameAt, "dlopen") != 0) continue;
      // JUMP_SLOT/GLOB_DAT hold S; ABS64 (a pointer to dlopen in data) holds S + A.
      uintptr_t value = type == kAbs64 ? target + static_cast<uintptr_t>(r.r_addend) : target;
      slots.push_back({reinterpret_cast<uintptr_t*>(base + r.r_offset), value});
    }
  };
  scan(jmprel, pltrelsz);
  scan(rela, relasz);
  if (slots.empty()) {
    error = "it has no relocation for dlopen";
    return -1;
  }
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  struct Page {
    uintptr_t start;
    int prot;
  };
  std::vector<Page> pages;
  for (const Slot& s : slots) {
    uintptr_t start = reinterpret_cast<uintptr_t>(s.at) & ~(page - 1);
    bool seen = false;
    for (const Page& p : pages) seen = seen || p.start == start;
    if (seen) continue;
    int prot = pageProtection(start);
    if (prot < 0) {
      error = "its GOT page is not in /proc/self/maps";
      return -1;
    }
    pages.push_back({start, prot});
  }
  // Open every page first, so that a failure leaves nothing half-patched.
  size_t opened = 0;
  for (; opened < pages.size(); ++opened) {
    if (pages[opened].prot & PROT_WRITE) continue;
    if (mprotect(reinterpret_cast<void*>(pages[opened].start), page, pages[opened].prot | PROT_WRITE) != 0) {
      error = std::string("mprotect failed: ") + std::strerror(errno);
      break;
    }
  }
  bool ok = opened == pages.size();
  if (ok) {
    for (const Slot& s : slots) __atomic_store_n(s.at, s.value, __ATOMIC_RELEASE);
  }
  for (size_t i = 0; i < opened; ++i) {
    if (!(pages[i].prot & PROT_WRITE)) mprotect(reinterpret_cast<void*>(pages[i].start), page, pages[i].prot);
  }
  return ok ? static_cast<int>(slots.size()) : -1;
}
#endif

// Redirects `handle`'s dlopen (see the comment at the top). `required`: libnvinfer must be redirected (a failure
// is a problem users see); libnvonnxparser is redirected in case it loads a resource, and may well import no
// dlopen at all.
void redirectBuilderResourceLoads(TrtLibrary& lib, void* handle, const std::string& path, bool required) {
  std::string error;
#if TRT_INT8_GOT_HOOK
  int slots = redirectDlopen(handle, error);
#else
  int slots = -1;
  (void)handle;
  error = "not implemented for this CPU architecture";
#endif
  if (slots > 0) {
    if (required) lib.builderResourceHooked = true;
    return;
  }
  if (!required) return;
  lib.builderResourceProblems.push_back(
      "could not redirect " + path + "'s dlopen of its builder resource to " + folderOf(path) + " (" + error +
      "), so TensorRT looks for it by name only: start the process with " + folderOf(path) +
      " on LD_LIBRARY_PATH (LD_LIBRARY_PATH=" + folderOf(path) + ":$LD_LIBRARY_PATH)");
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
    std::string folder = folderOf(nvinferPath);
    for (const std::string& name : builderResourceFiles(folder, lib.version)) lib.builderResources.push_back(folder + "/" + name);
    // The folder before the redirection: TensorRT may call the wrapper as soon as the slot is written.
    if (!gResourceFolder.load()) gResourceFolder.store(new std::string(folder), std::memory_order_release);
    redirectBuilderResourceLoads(lib, lib.nvinfer, nvinferPath, true);
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
    redirectBuilderResourceLoads(gLibrary, parser, onnxparserPath, false);
    gLibrary.onnxparser = parser;
    gLibrary.onnxparserPath = onnxparserPath;
  }
  result.library = &gLibrary;
  return result;
}

}  // namespace trt_int8::trt
