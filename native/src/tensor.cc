#include "common.h"

#include <cstring>

namespace advexp {

std::atomic<int64_t> TensorHandle::live{0};
Napi::FunctionReference* TensorHandle::ctor = nullptr;

Napi::Object TensorHandle::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function fn = DefineClass(env, "TensorHandle", {
    InstanceMethod<&TensorHandle::Dispose>("dispose"),
    InstanceMethod<&TensorHandle::IsDisposed>("isDisposed"),
    InstanceMethod<&TensorHandle::Shape>("shape"),
    InstanceMethod<&TensorHandle::Dtype>("dtype"),
    InstanceMethod<&TensorHandle::Device>("device"),
    InstanceMethod<&TensorHandle::Numel>("numel"),
    InstanceMethod<&TensorHandle::RequiresGrad>("requiresGrad"),
    InstanceMethod<&TensorHandle::SetRequiresGrad>("setRequiresGrad"),
    InstanceMethod<&TensorHandle::Grad>("grad"),
    InstanceMethod<&TensorHandle::SetGrad>("setGrad"),
    InstanceMethod<&TensorHandle::IsLeaf>("isLeaf"),
    InstanceMethod<&TensorHandle::HasGradFn>("hasGradFn"),
    InstanceMethod<&TensorHandle::Data>("data"),
    InstanceMethod<&TensorHandle::Item>("item"),
  });
  ctor = new Napi::FunctionReference(Napi::Persistent(fn));
  exports.Set("TensorHandle", fn);
  return exports;
}

TensorHandle::TensorHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorHandle>(info) {}
TensorHandle::~TensorHandle() { Release(); }

void TensorHandle::Release() {
  if (alive) {
    alive = false;
    tensor = at::Tensor();
    live--;
  }
}

Napi::Value TensorHandle::Wrap(Napi::Env env, at::Tensor t) {
  Napi::Object obj = ctor->New({});
  TensorHandle* h = Unwrap(obj);
  h->tensor = std::move(t);
  h->alive = true;
  live++;
  return obj;
}

bool TensorHandle::Is(const Napi::Value& v) {
  return v.IsObject() && v.As<Napi::Object>().InstanceOf(ctor->Value());
}

at::Tensor& TensorHandle::From(const Napi::Value& v) {
  if (!v.IsObject()) throw Napi::TypeError::New(v.Env(), "expected a tensor");
  TensorHandle* h = Unwrap(v.As<Napi::Object>());
  if (h == nullptr) throw Napi::TypeError::New(v.Env(), "expected a tensor");
  if (!h->alive) throw Napi::Error::New(v.Env(), "tensor was already disposed");
  return h->tensor;
}

Napi::Value TensorHandle::Dispose(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}
Napi::Value TensorHandle::IsDisposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !alive);
}

#define LIVE_TENSOR() at::Tensor& t = From(info.This())

Napi::Value TensorHandle::Shape(const Napi::CallbackInfo& info) {
  LIVE_TENSOR();
  auto sizes = t.sizes();
  Napi::Array a = Napi::Array::New(info.Env(), sizes.size());
  for (size_t i = 0; i < sizes.size(); i++) a.Set(i, Napi::Number::New(info.Env(), (double)sizes[i]));
  return a;
}
Napi::Value TensorHandle::Dtype(const Napi::CallbackInfo& info) {
  LIVE_TENSOR();
  return Napi::String::New(info.Env(), DtypeName(t.scalar_type()));
}
Napi::Value TensorHandle::Device(const Napi::CallbackInfo& info) {
  LIVE_TENSOR();
  return Napi::String::New(info.Env(), t.device().str());
}
Napi::Value TensorHandle::Numel(const Napi::CallbackInfo& info) {
  LIVE_TENSOR();
  return Napi::Number::New(info.Env(), (double)t.numel());
}
Napi::Value TensorHandle::RequiresGrad(const Napi::CallbackInfo& info) {
  LIVE_TENSOR();
  return Napi::Boolean::New(info.Env(), t.requires_grad());
}
Napi::Value TensorHandle::SetRequiresGrad(const Napi::CallbackInfo& info) {
  LIVE_TENSOR();
  ADVEXP_TRY
  t.requires_grad_(Bool(info[0], true));
  ADVEXP_CATCH(info.Env())
  return info.This();
}
Napi::Value TensorHandle::Grad(const Napi::CallbackInfo& info) {
  LIVE_TENSOR();
  const at::Tensor& g = t.grad();
  if (!g.defined()) return info.Env().Null();
  return Wrap(info.Env(), g);
}
Napi::Value TensorHandle::SetGrad(const Napi::CallbackInfo& info) {
  LIVE_TENSOR();
  ADVEXP_TRY
  if (info[0].IsNull() || info[0].IsUndefined()) t.mutable_grad() = at::Tensor();
  else t.mutable_grad() = From(info[0]);
  ADVEXP_CATCH(info.Env())
  return info.Env().Undefined();
}
Napi::Value TensorHandle::IsLeaf(const Napi::CallbackInfo& info) {
  LIVE_TENSOR();
  return Napi::Boolean::New(info.Env(), t.is_leaf());
}
Napi::Value TensorHandle::HasGradFn(const Napi::CallbackInfo& info) {
  LIVE_TENSOR();
  return Napi::Boolean::New(info.Env(), t.grad_fn() != nullptr);
}

// Copies the tensor's values into a new typed array of the matching element type.
Napi::Value TensorHandle::Data(const Napi::CallbackInfo& info) {
  LIVE_TENSOR();
  Napi::Env env = info.Env();
  ADVEXP_TRY
  at::Tensor c = t.detach().to(at::kCPU).contiguous();
  at::ScalarType st = c.scalar_type();
  if (st == at::kHalf || st == at::kBFloat16) { c = c.to(at::kFloat); st = at::kFloat; }
  if (st == at::kBool) { c = c.to(at::kByte); st = at::kByte; }
  size_t n = (size_t)c.numel();
  size_t bytes = n * c.element_size();
  Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(env, bytes);
  if (bytes > 0) std::memcpy(buf.Data(), c.data_ptr(), bytes);
  switch (st) {
    case at::kFloat: return Napi::Float32Array::New(env, n, buf, 0);
    case at::kDouble: return Napi::Float64Array::New(env, n, buf, 0);
    case at::kInt: return Napi::Int32Array::New(env, n, buf, 0);
    case at::kLong: return Napi::BigInt64Array::New(env, n, buf, 0);
    case at::kShort: return Napi::Int16Array::New(env, n, buf, 0);
    case at::kChar: return Napi::Int8Array::New(env, n, buf, 0);
    case at::kByte: return Napi::Uint8Array::New(env, n, buf, 0);
    default: throw Napi::Error::New(env, std::string("data(): unsupported dtype ") + DtypeName(st));
  }
  ADVEXP_CATCH(env)
}

Napi::Value TensorHandle::Item(const Napi::CallbackInfo& info) {
  LIVE_TENSOR();
  ADVEXP_TRY
  if (t.numel() != 1) throw Napi::Error::New(info.Env(), "item(): tensor has " + std::to_string(t.numel()) + " elements, expected 1");
  return Napi::Number::New(info.Env(), t.item().toDouble());
  ADVEXP_CATCH(info.Env())
}

// ---- conversions ----

std::vector<int64_t> IntList(const Napi::Value& v, const char* what) {
  if (v.IsNumber()) return {v.As<Napi::Number>().Int64Value()};
  if (!v.IsArray()) throw Napi::TypeError::New(v.Env(), std::string(what) + ": expected an array of integers");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<int64_t> out(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value e = a.Get(i);
    if (!e.IsNumber()) throw Napi::TypeError::New(v.Env(), std::string(what) + ": expected an array of integers");
    out[i] = e.As<Napi::Number>().Int64Value();
  }
  return out;
}

std::optional<std::vector<int64_t>> OptIntList(const Napi::Value& v, const char* what) {
  if (v.IsNull() || v.IsUndefined()) return std::nullopt;
  return IntList(v, what);
}

struct DtypeEntry { const char* name; at::ScalarType type; };
static const DtypeEntry kDtypes[] = {
  {"float32", at::kFloat}, {"float64", at::kDouble}, {"float16", at::kHalf}, {"bfloat16", at::kBFloat16},
  {"int32", at::kInt}, {"int64", at::kLong}, {"int16", at::kShort}, {"int8", at::kChar},
  {"uint8", at::kByte}, {"bool", at::kBool},
};

at::ScalarType ParseDtype(const Napi::Value& v, at::ScalarType dflt) {
  if (v.IsNull() || v.IsUndefined()) return dflt;
  std::string s = v.As<Napi::String>().Utf8Value();
  for (const auto& e : kDtypes) if (s == e.name) return e.type;
  throw Napi::TypeError::New(v.Env(), "unknown dtype '" + s + "'");
}

const char* DtypeName(at::ScalarType t) {
  for (const auto& e : kDtypes) if (t == e.type) return e.name;
  return c10::toString(t);
}

at::Device ParseDevice(const Napi::Value& v) {
  if (v.IsNull() || v.IsUndefined()) return at::Device(at::kCPU);
  try {
    return at::Device(v.As<Napi::String>().Utf8Value());
  } catch (const c10::Error& e) {
    throw Napi::TypeError::New(v.Env(), std::string("bad device: ") + e.what_without_backtrace());
  }
}

c10::optional<at::Tensor> OptTensor(const Napi::Value& v) {
  if (v.IsNull() || v.IsUndefined()) return c10::nullopt;
  return TensorHandle::From(v);
}

std::vector<at::Tensor> TensorList(const Napi::Value& v, const char* what) {
  if (!v.IsArray()) throw Napi::TypeError::New(v.Env(), std::string(what) + ": expected an array of tensors");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) out.push_back(TensorHandle::From(a.Get(i)));
  return out;
}

Napi::Value WrapList(Napi::Env env, const std::vector<at::Tensor>& ts) {
  Napi::Array a = Napi::Array::New(env, ts.size());
  for (size_t i = 0; i < ts.size(); i++) {
    if (ts[i].defined()) a.Set(i, TensorHandle::Wrap(env, ts[i]));
    else a.Set(i, env.Null());
  }
  return a;
}

double Num(const Napi::Value& v, const char* what) {
  if (!v.IsNumber()) throw Napi::TypeError::New(v.Env(), std::string(what) + ": expected a number");
  return v.As<Napi::Number>().DoubleValue();
}
int64_t Int(const Napi::Value& v, const char* what) {
  if (!v.IsNumber()) throw Napi::TypeError::New(v.Env(), std::string(what) + ": expected an integer");
  return v.As<Napi::Number>().Int64Value();
}
bool Bool(const Napi::Value& v, bool dflt) {
  if (v.IsNull() || v.IsUndefined()) return dflt;
  return v.ToBoolean().Value();
}

}  // namespace advexp
