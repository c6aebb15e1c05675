#include "common.h"

#include <malloc.h>

#include <cstdlib>
#include <cstring>

// glibc returns freed blocks above its mmap threshold to the OS and page-faults them back in on the
// next allocation; activations of a batch are exactly such blocks, so every op paid for fresh pages.
// Raising the thresholds keeps them in the heap for reuse (measured: inference 2-3x faster, far fewer
// minor faults, on both advexp and PyTorch). On by default; ADVEXP_MALLOC_TUNE=0, or glibc's own
// MALLOC_MMAP_THRESHOLD_ in the environment, leaves malloc as it is.
static bool TuneMalloc() {
  const char* opt = std::getenv("ADVEXP_MALLOC_TUNE");
  if ((opt != nullptr && std::strcmp(opt, "0") == 0) || std::getenv("MALLOC_MMAP_THRESHOLD_") != nullptr) return false;
  return mallopt(M_MMAP_THRESHOLD, 64 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 128 << 20) == 1;
}
static bool mallocTuned = false;

static Napi::Value MallocTuned(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), mallocTuned); }

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  mallocTuned = TuneMalloc();
  advexp::InitTensor(env, exports);
  advexp::InitOps(env, exports);
  advexp::InitAutograd(env, exports);
  advexp::InitJit(env, exports);
  advexp::InitDistributed(env, exports);
  advexp::InitFused(env, exports);
  exports.Set("mallocTuned", Napi::Function::New<MallocTuned>(env, "mallocTuned"));
  return exports;
}

NODE_API_MODULE(advexp_native, InitAddon)
