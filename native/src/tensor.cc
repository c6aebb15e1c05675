#include "common.h"

#include <cmath>
#include <cstring>

namespace advexp {

namespace slab {
namespace {
constexpr double kSlots = 16777216.0;  // 2^24 slots; id = generation * 2^24 + slot
struct Slot { at::Tensor t; uint32_t gen = 0; bool used = false; };
std::vector<Slot> slots;
std::vector<uint32_t> freeSlots;
int64_t live = 0;
}  // namespace

Napi::Value Put(Napi::Env env, at::Tensor t) {
  uint32_t i;
  if (!freeSlots.empty()) { i = freeSlots.back(); freeSlots.pop_back(); }
  else {
    if (slots.size() >= (size_t)kSlots) throw Napi::Error::New(env, "too many live tensors (2^24): dispose some");
    i = (uint32_t)slots.size();
    slots.emplace_back();
  }
  Slot& s = slots[i];
  s.t = std::move(t);
  s.used = true;
  s.gen = (s.gen + 1) & 0x1FFFFFFF;  // keeps ids below 2^53
  live++;
  return Napi::Number::New(env, (double)s.gen * kSlots + i);
}

static Slot* Find(double id) {
  if (!(id >= 0)) return nullptr;
  double gen = std::floor(id / kSlots);
  size_t i = (size_t)(id - gen * kSlots);
  if (i >= slots.size()) return nullptr;
  Slot& s = slots[i];
  return s.used && (double)s.gen == gen ? &s : nullptr;
}

at::Tensor& Get(const Napi::Value& v) {
  if (!v.IsNumber()) throw Napi::TypeError::New(v.Env(), "expected a tensor");
  Slot* s = Find(v.As<Napi::Number>().DoubleValue());
  if (s == nullptr) throw Napi::Error::New(v.Env(), "tensor was already disposed");
  return s->t;
}

void Free(double id) {
  Slot* s = Find(id);
  if (s == nullptr) return;  // idempotent
  s->t = at::Tensor();
  s->used = false;
  live--;
  freeSlots.push_back((uint32_t)(s - slots.data()));
}

int64_t Live() { return live; }
}  // namespace slab

namespace {
using Info = const Napi::CallbackInfo&;
#define LIVE_TENSOR() at::Tensor& t = slab::Get(info[0])

Napi::Value Dispose(Info info) {
  if (info[0].IsNumber()) slab::Free(info[0].As<Napi::Number>().DoubleValue());
  return info.Env().Undefined();
}
Napi::Value IsAlive(Info info) {
  return Napi::Boolean::New(info.Env(), info[0].IsNumber() && slab::Find(info[0].As<Napi::Number>().DoubleValue()) != nullptr);
}
Napi::Value Shape(Info info) {
  LIVE_TENSOR();
  auto sizes = t.sizes();
  Napi::Array a = Napi::Array::New(info.Env(), sizes.size());
  for (size_t i = 0; i < sizes.size(); i++) a.Set(i, Napi::Number::New(info.Env(), (double)sizes[i]));
  return a;
}
Napi::Value Dtype(Info info) { LIVE_TENSOR(); return Napi::String::New(info.Env(), DtypeName(t.scalar_type())); }
Napi::Value Device(Info info) { LIVE_TENSOR(); return Napi::String::New(info.Env(), t.device().str()); }
Napi::Value Numel(Info info) { LIVE_TENSOR(); return Napi::Number::New(info.Env(), (double)t.numel()); }
Napi::Value RequiresGrad(Info info) { LIVE_TENSOR(); return Napi::Boolean::New(info.Env(), t.requires_grad()); }
Napi::Value SetRequiresGrad(Info info) {
  LIVE_TENSOR();
  ADVEXP_TRY
  t.requires_grad_(Bool(info[1], true));
  ADVEXP_CATCH(info.Env())
  return info.Env().Undefined();
}
Napi::Value Grad(Info info) {
  LIVE_TENSOR();
  const at::Tensor& g = t.grad();
  if (!g.defined()) return info.Env().Null();
  return slab::Put(info.Env(), g);
}
Napi::Value SetGrad(Info info) {
  LIVE_TENSOR();
  ADVEXP_TRY
  if (info[1].IsNull() || info[1].IsUndefined()) t.mutable_grad() = at::Tensor();
  else t.mutable_grad() = slab::Get(info[1]);
  ADVEXP_CATCH(info.Env())
  return info.Env().Undefined();
}
Napi::Value IsLeaf(Info info) { LIVE_TENSOR(); return Napi::Boolean::New(info.Env(), t.is_leaf()); }
Napi::Value HasGradFn(Info info) { LIVE_TENSOR(); return Napi::Boolean::New(info.Env(), t.grad_fn() != nullptr); }

// Copies the tensor's values into a new typed array of the matching element type.
Napi::Value Data(Info info) {
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

Napi::Value Item(Info info) {
  LIVE_TENSOR();
  ADVEXP_TRY
  if (t.numel() != 1) throw Napi::Error::New(info.Env(), "item(): tensor has " + std::to_string(t.numel()) + " elements, expected 1");
  return Napi::Number::New(info.Env(), t.item().toDouble());
  ADVEXP_CATCH(info.Env())
}
}  // namespace

void InitTensor(Napi::Env env, Napi::Object e) {
#define REG(jsname, fn) e.Set(jsname, Napi::Function::New<fn>(env, jsname))
  REG("dispose", Dispose); REG("isAlive", IsAlive); REG("shape", Shape); REG("dtype", Dtype); REG("device", Device);
  REG("numel", Numel); REG("requiresGrad", RequiresGrad); REG("setRequiresGrad", SetRequiresGrad); REG("tensorGrad", Grad);
  REG("setTensorGrad", SetGrad); REG("isLeaf", IsLeaf); REG("hasGradFn", HasGradFn); REG("data", Data); REG("item", Item);
#undef REG
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
  return slab::Get(v);
}

std::vector<at::Tensor> TensorList(const Napi::Value& v, const char* what) {
  if (!v.IsArray()) throw Napi::TypeError::New(v.Env(), std::string(what) + ": expected an array of tensors");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) out.push_back(slab::Get(a.Get(i)));
  return out;
}

Napi::Value WrapList(Napi::Env env, const std::vector<at::Tensor>& ts) {
  Napi::Array a = Napi::Array::New(env, ts.size());
  for (size_t i = 0; i < ts.size(); i++) {
    if (ts[i].defined()) a.Set(i, slab::Put(env, ts[i]));
    else a.Set(i, env.Null());
  }
  return a;
}

double Num(const Napi::Value& v, const char* what) {
  if (!v.IsNumber()) throw Napi::TypeError::New(v.Env(), std::string(what) + ": expected a number");
  return v.As<Napi::Number>().DoubleValue();
}
at::Scalar ToScalar(const Napi::Value& v, const char* what) {
  double d = Num(v, what);
  if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) <= 9007199254740992.0) return at::Scalar((int64_t)d);
  return at::Scalar(d);
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
