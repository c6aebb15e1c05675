#include "common.h"

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  advexp::InitTensor(env, exports);
  advexp::InitOps(env, exports);
  advexp::InitAutograd(env, exports);
  return exports;
}

NODE_API_MODULE(advexp_native, InitAddon)
