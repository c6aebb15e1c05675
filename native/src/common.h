// Shared helpers of the binding: the Tensor handle class and JS <-> libtorch conversions.
// The binding is deliberately thin: it exposes libtorch's tensors, ops and autograd; all method
// logic (models, losses, attacks, explanations) lives in TypeScript.
#pragma once
#include <napi.h>
#include <torch/torch.h>

#include <atomic>
#include <optional>
#include <string>
#include <vector>

namespace advexp {

// A JS handle that owns one reference to an at::Tensor. dispose() drops it at once;
// otherwise the GC finaliser drops it. The autograd graph holds its own references, so
// disposing a handle never breaks a pending backward.
class TensorHandle : public Napi::ObjectWrap<TensorHandle> {
 public:
  static Napi::Object Init(Napi::Env env, Napi::Object exports);
  static Napi::Value Wrap(Napi::Env env, at::Tensor t);
  static at::Tensor& From(const Napi::Value& v);  // throws if not a live handle
  static bool Is(const Napi::Value& v);
  static std::atomic<int64_t> live;  // live handles, for leak tests

  explicit TensorHandle(const Napi::CallbackInfo& info);
  ~TensorHandle() override;
  at::Tensor tensor;
  bool alive = false;

 private:
  static Napi::FunctionReference* ctor;
  void Release();
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value IsDisposed(const Napi::CallbackInfo& info);
  Napi::Value Shape(const Napi::CallbackInfo& info);
  Napi::Value Dtype(const Napi::CallbackInfo& info);
  Napi::Value Device(const Napi::CallbackInfo& info);
  Napi::Value Numel(const Napi::CallbackInfo& info);
  Napi::Value RequiresGrad(const Napi::CallbackInfo& info);
  Napi::Value SetRequiresGrad(const Napi::CallbackInfo& info);
  Napi::Value Grad(const Napi::CallbackInfo& info);
  Napi::Value SetGrad(const Napi::CallbackInfo& info);
  Napi::Value IsLeaf(const Napi::CallbackInfo& info);
  Napi::Value HasGradFn(const Napi::CallbackInfo& info);
  Napi::Value Data(const Napi::CallbackInfo& info);
  Napi::Value Item(const Napi::CallbackInfo& info);
};

// Conversions. All throw Napi::Error with a message naming the argument.
std::vector<int64_t> IntList(const Napi::Value& v, const char* what);
std::optional<std::vector<int64_t>> OptIntList(const Napi::Value& v, const char* what);
at::ScalarType ParseDtype(const Napi::Value& v, at::ScalarType dflt);
const char* DtypeName(at::ScalarType t);
at::Device ParseDevice(const Napi::Value& v);
c10::optional<at::Tensor> OptTensor(const Napi::Value& v);
std::vector<at::Tensor> TensorList(const Napi::Value& v, const char* what);
Napi::Value WrapList(Napi::Env env, const std::vector<at::Tensor>& ts);
double Num(const Napi::Value& v, const char* what);
int64_t Int(const Napi::Value& v, const char* what);
bool Bool(const Napi::Value& v, bool dflt);

// Every entry point runs inside this: libtorch errors become JS exceptions with libtorch's
// own message (without the C++ backtrace), never a crash.
#define ADVEXP_TRY try {
#define ADVEXP_CATCH(env)                                                          \
  }                                                                                \
  catch (const Napi::Error& e) { throw; }                                          \
  catch (const c10::Error& e) {                                                    \
    throw Napi::Error::New(env, std::string("libtorch: ") + e.what_without_backtrace()); \
  }                                                                                \
  catch (const std::exception& e) {                                                \
    throw Napi::Error::New(env, std::string("libtorch: ") + e.what());             \
  }

void InitOps(Napi::Env env, Napi::Object exports);
void InitAutograd(Napi::Env env, Napi::Object exports);

}  // namespace advexp
