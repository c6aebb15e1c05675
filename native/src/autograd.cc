// Autograd: gradients (including create_graph for double backprop), backward, grad mode.
#include "common.h"

namespace advexp {
namespace {

using Info = const Napi::CallbackInfo&;

// grad(outputs[], inputs[], gradOutputs[]|null, retainGraph, createGraph, allowUnused) -> (tensor|null)[]
Napi::Value Grad(Info info) {
  Napi::Env env = info.Env();
  ADVEXP_TRY
  auto outputs = TensorList(info[0], "grad outputs");
  auto inputs = TensorList(info[1], "grad inputs");
  std::vector<at::Tensor> gradOutputs;
  if (!info[2].IsNull() && !info[2].IsUndefined()) gradOutputs = TensorList(info[2], "grad gradOutputs");
  bool createGraph = Bool(info[4], false);
  c10::optional<bool> retain;
  if (!info[3].IsNull() && !info[3].IsUndefined()) retain = Bool(info[3], false);
  auto grads = torch::autograd::grad(outputs, inputs, gradOutputs, retain, createGraph, Bool(info[5], false));
  return WrapList(env, grads);
  ADVEXP_CATCH(env)
}

// backward(tensor, gradient|null, retainGraph): accumulates into the leaves' .grad.
// create_graph is deliberately not offered: it makes parameter.grad hold a graph that references
// the parameter (a reference cycle that leaks every step). Use grad(..., createGraph) instead.
Napi::Value Backward(Info info) {
  Napi::Env env = info.Env();
  ADVEXP_TRY
  at::Tensor& t = slab::Get(info[0]);
  c10::optional<at::Tensor> g = OptTensor(info[1]);
  t.backward(g.has_value() ? *g : at::Tensor(), Bool(info[2], false), false);
  return env.Undefined();
  ADVEXP_CATCH(env)
}

Napi::Value SetGradEnabled(Info info) {
  bool prev = at::GradMode::is_enabled();
  at::GradMode::set_enabled(Bool(info[0], true));
  return Napi::Boolean::New(info.Env(), prev);
}
Napi::Value IsGradEnabled(Info info) { return Napi::Boolean::New(info.Env(), at::GradMode::is_enabled()); }

}  // namespace

void InitAutograd(Napi::Env env, Napi::Object e) {
  e.Set("grad", Napi::Function::New<Grad>(env, "grad"));
  e.Set("backward", Napi::Function::New<Backward>(env, "backward"));
  e.Set("setGradEnabled", Napi::Function::New<SetGradEnabled>(env, "setGradEnabled"));
  e.Set("isGradEnabled", Napi::Function::New<IsGradEnabled>(env, "isGradEnabled"));
}

}  // namespace advexp
