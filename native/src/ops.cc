// Tensor creation and operations, one N-API function per libtorch op.
#include "common.h"

#include <cstring>
#include <memory>

#include <torch/csrc/autograd/profiler_legacy.h>

namespace advexp {
namespace {

using Info = const Napi::CallbackInfo&;
#define T(i) slab::Get(info[i])
#define RET(expr) return slab::Put(env, (expr))
#define FN(name) Napi::Value name(Info info)
#define BODY_BEGIN Napi::Env env = info.Env(); ADVEXP_TRY
#define BODY_END ADVEXP_CATCH(env)

at::TensorOptions Opts(Info info, size_t dtypeArg, at::ScalarType dflt) {
  return at::TensorOptions().dtype(ParseDtype(info[dtypeArg], dflt)).device(ParseDevice(info[dtypeArg + 1]));
}

// ---- creation ----

// fromArray(typedArray, shape, device?): copies the values; dtype follows the array type.
FN(FromArray) {
  BODY_BEGIN
  if (!info[0].IsTypedArray()) throw Napi::TypeError::New(env, "fromArray: expected a typed array");
  Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
  at::ScalarType st;
  switch (ta.TypedArrayType()) {
    case napi_float32_array: st = at::kFloat; break;
    case napi_float64_array: st = at::kDouble; break;
    case napi_int32_array: st = at::kInt; break;
    case napi_bigint64_array: st = at::kLong; break;
    case napi_int16_array: st = at::kShort; break;
    case napi_int8_array: st = at::kChar; break;
    case napi_uint8_array: case napi_uint8_clamped_array: st = at::kByte; break;
    default: throw Napi::TypeError::New(env, "fromArray: unsupported typed array type");
  }
  std::vector<int64_t> shape = IntList(info[1], "fromArray shape");
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  if ((size_t)n != ta.ElementLength())
    throw Napi::Error::New(env, "fromArray: shape has " + std::to_string(n) + " elements but the array has " +
                                    std::to_string(ta.ElementLength()));
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(st));
  uint8_t* src = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  if (n > 0) std::memcpy(t.data_ptr(), src, ta.ByteLength());
  at::Device dev = ParseDevice(info[2]);
  if (dev != t.device()) t = t.to(dev);
  RET(t);
  BODY_END
}

FN(Zeros) { BODY_BEGIN RET(at::zeros(IntList(info[0], "shape"), Opts(info, 1, at::kFloat))); BODY_END }
FN(Ones) { BODY_BEGIN RET(at::ones(IntList(info[0], "shape"), Opts(info, 1, at::kFloat))); BODY_END }
FN(Full) { BODY_BEGIN RET(at::full(IntList(info[0], "shape"), Num(info[1], "value"), Opts(info, 2, at::kFloat))); BODY_END }
FN(Arange) {
  BODY_BEGIN
  RET(at::arange(Num(info[0], "start"), Num(info[1], "end"), Num(info[2], "step"), Opts(info, 3, at::kLong)));
  BODY_END
}
FN(Rand) { BODY_BEGIN RET(at::rand(IntList(info[0], "shape"), Opts(info, 1, at::kFloat))); BODY_END }
FN(Randn) { BODY_BEGIN RET(at::randn(IntList(info[0], "shape"), Opts(info, 1, at::kFloat))); BODY_END }
FN(Randint) {
  BODY_BEGIN
  RET(at::randint(Int(info[0], "low"), Int(info[1], "high"), IntList(info[2], "shape"), Opts(info, 3, at::kLong)));
  BODY_END
}
FN(Randperm) { BODY_BEGIN RET(at::randperm(Int(info[0], "n"), Opts(info, 1, at::kLong))); BODY_END }
FN(Bernoulli) { BODY_BEGIN RET(at::bernoulli(T(0))); BODY_END }
FN(UniformInplace) { BODY_BEGIN T(0).uniform_(Num(info[1], "from"), Num(info[2], "to")); return info[0]; BODY_END }
FN(NormalInplace) { BODY_BEGIN T(0).normal_(Num(info[1], "mean"), Num(info[2], "std")); return info[0]; BODY_END }

FN(ManualSeed) {
  BODY_BEGIN
  torch::manual_seed((uint64_t)Int(info[0], "seed"));
  return env.Undefined();
  BODY_END
}
// The CPU generator's full state as a uint8 tensor, so training can resume bit-identically.
FN(GetRngState) {
  BODY_BEGIN
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  RET(gen.get_state());
  BODY_END
}
FN(SetRngState) {
  BODY_BEGIN
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(T(0));
  return env.Undefined();
  BODY_END
}

// ---- elementwise ----

#define UNARY(name, expr) FN(name) { BODY_BEGIN const at::Tensor& a = T(0); RET(expr); BODY_END }
UNARY(Neg, at::neg(a))
UNARY(Abs, at::abs(a))
UNARY(Exp, at::exp(a))
UNARY(Log, at::log(a))
UNARY(Log1p, at::log1p(a))
UNARY(Sqrt, at::sqrt(a))
UNARY(Rsqrt, at::rsqrt(a))
UNARY(Square, at::square(a))
UNARY(Relu, at::relu(a))
UNARY(Sigmoid, at::sigmoid(a))
UNARY(Tanh, at::tanh(a))
UNARY(Sign, at::sign(a))
UNARY(Floor, at::floor(a))
UNARY(Round, at::round(a))
UNARY(Reciprocal, at::reciprocal(a))
UNARY(LogicalNot, at::logical_not(a))
UNARY(Isfinite, at::isfinite(a))
UNARY(Detach, a.detach())
UNARY(Clone, a.clone())
UNARY(Contiguous, a.contiguous())

// Binary ops: name(a, b) takes two tensors, nameScalar(a, number) a tensor and a number.
#define BINARY(name, fn)                                                          \
  FN(name) { BODY_BEGIN RET(fn(T(0), T(1))); BODY_END }                           \
  FN(name##Scalar) { BODY_BEGIN RET(fn(T(0), ToScalar(info[1], "b"))); BODY_END }
BINARY(Add, at::add)
BINARY(Sub, at::sub)
BINARY(Mul, at::mul)
BINARY(Div, at::div)
BINARY(Pow, at::pow)
BINARY(Eq, at::eq)
BINARY(Ne, at::ne)
BINARY(Lt, at::lt)
BINARY(Le, at::le)
BINARY(Gt, at::gt)
BINARY(Ge, at::ge)
BINARY(Remainder, at::remainder)
FN(Maximum) { BODY_BEGIN RET(at::maximum(T(0), T(1))); BODY_END }
FN(Minimum) { BODY_BEGIN RET(at::minimum(T(0), T(1))); BODY_END }
FN(LogicalAnd) { BODY_BEGIN RET(at::logical_and(T(0), T(1))); BODY_END }
FN(LogicalOr) { BODY_BEGIN RET(at::logical_or(T(0), T(1))); BODY_END }

c10::optional<at::Scalar> OptScalar(const Napi::Value& v) {
  if (v.IsNull() || v.IsUndefined()) return c10::nullopt;
  return ToScalar(v, "scalar");
}
FN(Clamp) { BODY_BEGIN RET(at::clamp(T(0), OptScalar(info[1]), OptScalar(info[2]))); BODY_END }
FN(ClampTensor) { BODY_BEGIN RET(at::clamp(T(0), OptTensor(info[1]), OptTensor(info[2]))); BODY_END }
FN(Where) { BODY_BEGIN RET(at::where(T(0), T(1), T(2))); BODY_END }
FN(Cast) { BODY_BEGIN RET(T(0).to(ParseDtype(info[1], at::kFloat))); BODY_END }
FN(ToDevice) { BODY_BEGIN RET(T(0).to(ParseDevice(info[1]))); BODY_END }

// ---- reductions ----
// reduce(a, dims|null, keepdim): dims null reduces everything.
#define REDUCE(name, all, dimfn)                                                  \
  FN(name) {                                                                      \
    BODY_BEGIN                                                                    \
    auto dims = OptIntList(info[1], "dims");                                      \
    if (!dims) RET(all(T(0)));                                                    \
    RET(dimfn(T(0), *dims, Bool(info[2], false)));                                \
    BODY_END                                                                      \
  }
REDUCE(Sum, at::sum, at::sum)
REDUCE(Mean, at::mean, at::mean)
REDUCE(Amax, at::amax, at::amax)
REDUCE(Amin, at::amin, at::amin)
FN(Logsumexp) { BODY_BEGIN RET(at::logsumexp(T(0), IntList(info[1], "dims"), Bool(info[2], false))); BODY_END }
FN(Var) { BODY_BEGIN RET(at::var(T(0), IntList(info[1], "dims"), Bool(info[2], true), Bool(info[3], false))); BODY_END }
FN(MaxDim) {
  BODY_BEGIN
  auto r = at::max(T(0), Int(info[1], "dim"), Bool(info[2], false));
  return WrapList(env, {std::get<0>(r), std::get<1>(r)});
  BODY_END
}
FN(MinDim) {
  BODY_BEGIN
  auto r = at::min(T(0), Int(info[1], "dim"), Bool(info[2], false));
  return WrapList(env, {std::get<0>(r), std::get<1>(r)});
  BODY_END
}
FN(Argmax) {
  BODY_BEGIN
  if (info[1].IsNull() || info[1].IsUndefined()) RET(at::argmax(T(0)));
  RET(at::argmax(T(0), Int(info[1], "dim"), Bool(info[2], false)));
  BODY_END
}
FN(Topk) {
  BODY_BEGIN
  auto r = at::topk(T(0), Int(info[1], "k"), Int(info[2], "dim"), Bool(info[3], true), true);
  return WrapList(env, {std::get<0>(r), std::get<1>(r)});
  BODY_END
}
FN(Sort) {
  BODY_BEGIN
  auto r = at::sort(T(0), Int(info[1], "dim"), Bool(info[2], false));
  return WrapList(env, {std::get<0>(r), std::get<1>(r)});
  BODY_END
}
FN(Cumsum) { BODY_BEGIN RET(at::cumsum(T(0), Int(info[1], "dim"))); BODY_END }

// ---- shape and indexing ----
FN(Reshape) { BODY_BEGIN RET(at::reshape(T(0), IntList(info[1], "shape"))); BODY_END }
FN(Permute) { BODY_BEGIN RET(T(0).permute(IntList(info[1], "dims"))); BODY_END }
FN(Transpose) { BODY_BEGIN RET(T(0).transpose(Int(info[1], "dim0"), Int(info[2], "dim1"))); BODY_END }
FN(Expand) { BODY_BEGIN RET(T(0).expand(IntList(info[1], "shape"))); BODY_END }
FN(Repeat) { BODY_BEGIN RET(T(0).repeat(IntList(info[1], "repeats"))); BODY_END }
FN(Squeeze) { BODY_BEGIN RET(T(0).squeeze(Int(info[1], "dim"))); BODY_END }
FN(Unsqueeze) { BODY_BEGIN RET(T(0).unsqueeze(Int(info[1], "dim"))); BODY_END }
FN(Flatten) { BODY_BEGIN RET(T(0).flatten(Int(info[1], "start"), Int(info[2], "end"))); BODY_END }
FN(Slice) {
  BODY_BEGIN
  RET(T(0).slice(Int(info[1], "dim"), Int(info[2], "start"), Int(info[3], "end"), info[4].IsNumber() ? Int(info[4], "step") : 1));
  BODY_END
}
FN(Select) { BODY_BEGIN RET(T(0).select(Int(info[1], "dim"), Int(info[2], "index"))); BODY_END }
FN(IndexSelect) { BODY_BEGIN RET(at::index_select(T(0), Int(info[1], "dim"), T(2))); BODY_END }
FN(Gather) { BODY_BEGIN RET(at::gather(T(0), Int(info[1], "dim"), T(2))); BODY_END }
FN(Scatter) { BODY_BEGIN RET(at::scatter(T(0), Int(info[1], "dim"), T(2), T(3))); BODY_END }
FN(ScatterValue) { BODY_BEGIN RET(at::scatter(T(0), Int(info[1], "dim"), T(2), ToScalar(info[3], "value"))); BODY_END }
FN(ScatterAdd) { BODY_BEGIN RET(at::scatter_add(T(0), Int(info[1], "dim"), T(2), T(3))); BODY_END }
FN(MaskedFill) { BODY_BEGIN RET(at::masked_fill(T(0), T(1), ToScalar(info[2], "value"))); BODY_END }
FN(Cat) { BODY_BEGIN RET(at::cat(TensorList(info[0], "cat"), Int(info[1], "dim"))); BODY_END }
FN(Stack) { BODY_BEGIN RET(at::stack(TensorList(info[0], "stack"), Int(info[1], "dim"))); BODY_END }
FN(Flip) { BODY_BEGIN RET(at::flip(T(0), IntList(info[1], "dims"))); BODY_END }
FN(Roll) { BODY_BEGIN RET(at::roll(T(0), IntList(info[1], "shifts"), IntList(info[2], "dims"))); BODY_END }
// pad(a, pads, mode, value): mode is constant | reflect | replicate | circular (F.pad's modes).
FN(Pad) {
  BODY_BEGIN
  std::string mode = info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "constant";
  auto pads = IntList(info[1], "pads");
  if (mode == "constant") RET(at::constant_pad_nd(T(0), pads, info[3].IsNumber() ? Num(info[3], "value") : 0.0));
  if (mode == "replicate") {
    if (pads.size() == 4) RET(at::replication_pad2d(T(0), pads));
    if (pads.size() == 2) RET(at::replication_pad1d(T(0), pads));
  }
  if (mode == "reflect") {
    if (pads.size() == 4) RET(at::reflection_pad2d(T(0), pads));
    if (pads.size() == 2) RET(at::reflection_pad1d(T(0), pads));
  }
  throw Napi::Error::New(env, "pad: unsupported mode '" + mode + "' for " + std::to_string(pads.size()) + " pads");
  BODY_END
}
// Index a batch: a[idx] along dim 0 where idx is a long or bool tensor.
FN(Index) {
  BODY_BEGIN
  c10::List<c10::optional<at::Tensor>> idx;
  idx.push_back(T(1));
  RET(at::index(T(0), idx));
  BODY_END
}
FN(IndexPut) {
  BODY_BEGIN
  c10::List<c10::optional<at::Tensor>> idx;
  idx.push_back(T(1));
  RET(at::index_put(T(0), idx, T(2)));
  BODY_END
}

// ---- neural-network ops ----
FN(Conv2d) {
  BODY_BEGIN
  RET(at::conv2d(T(0), T(1), OptTensor(info[2]), IntList(info[3], "stride"), IntList(info[4], "padding"),
                 IntList(info[5], "dilation"), Int(info[6], "groups")));
  BODY_END
}
// batchNorm(x, weight, bias, runningMean, runningVar, training, momentum, eps): in training mode the
// running statistics are updated in place, as torch.nn.functional.batch_norm does.
FN(BatchNorm) {
  BODY_BEGIN
  RET(at::batch_norm(T(0), OptTensor(info[1]), OptTensor(info[2]), OptTensor(info[3]), OptTensor(info[4]),
                     Bool(info[5], false), Num(info[6], "momentum"), Num(info[7], "eps"), at::globalContext().userEnabledCuDNN()));
  BODY_END
}
FN(Linear) { BODY_BEGIN RET(at::linear(T(0), T(1), OptTensor(info[2]))); BODY_END }
FN(Matmul) { BODY_BEGIN RET(at::matmul(T(0), T(1))); BODY_END }
FN(AvgPool2d) {
  BODY_BEGIN
  RET(at::avg_pool2d(T(0), IntList(info[1], "kernel"), IntList(info[2], "stride"), IntList(info[3], "padding")));
  BODY_END
}
FN(MaxPool2d) {
  BODY_BEGIN
  RET(at::max_pool2d(T(0), IntList(info[1], "kernel"), IntList(info[2], "stride"), IntList(info[3], "padding")));
  BODY_END
}
FN(AdaptiveAvgPool2d) { BODY_BEGIN RET(at::adaptive_avg_pool2d(T(0), IntList(info[1], "size"))); BODY_END }
FN(LogSoftmax) { BODY_BEGIN RET(at::log_softmax(T(0), Int(info[1], "dim"))); BODY_END }
FN(Softmax) { BODY_BEGIN RET(at::softmax(T(0), Int(info[1], "dim"))); BODY_END }
// crossEntropy(logits, target, reduction): reduction 0 none, 1 mean, 2 sum (at::Reduction).
FN(CrossEntropy) {
  BODY_BEGIN
  RET(at::cross_entropy_loss(T(0), T(1), c10::nullopt, Int(info[2], "reduction"), -100, 0.0));
  BODY_END
}
FN(InterpolateBilinear) {
  BODY_BEGIN
  RET(at::upsample_bilinear2d(T(0), IntList(info[1], "size"), Bool(info[2], false), c10::nullopt, c10::nullopt));
  BODY_END
}
FN(InterpolateNearest) {
  BODY_BEGIN
  RET(at::upsample_nearest2d(T(0), IntList(info[1], "size"), c10::nullopt, c10::nullopt));
  BODY_END
}

// ---- in place (optimisers, buffers). Callers wrap these in a no-grad region. ----
FN(AddInplace) {
  BODY_BEGIN T(0).add_(T(1), info[2].IsNumber() ? Num(info[2], "alpha") : 1.0); return info[0]; BODY_END
}
FN(AddScalarInplace) { BODY_BEGIN T(0).add_(ToScalar(info[1], "b")); return info[0]; BODY_END }
FN(MulInplace) { BODY_BEGIN T(0).mul_(T(1)); return info[0]; BODY_END }
FN(MulScalarInplace) { BODY_BEGIN T(0).mul_(ToScalar(info[1], "b")); return info[0]; BODY_END }
FN(AddcmulInplace) { BODY_BEGIN T(0).addcmul_(T(1), T(2), Num(info[3], "value")); return info[0]; BODY_END }
FN(CopyInplace) { BODY_BEGIN T(0).copy_(T(1)); return info[0]; BODY_END }
FN(ZeroInplace) { BODY_BEGIN T(0).zero_(); return info[0]; BODY_END }
FN(FillInplace) { BODY_BEGIN T(0).fill_(Num(info[1], "value")); return info[0]; BODY_END }
FN(ReluInplace) { BODY_BEGIN T(0).relu_(); return info[0]; BODY_END }
FN(ClampInplace) { BODY_BEGIN T(0).clamp_(OptScalar(info[1]), OptScalar(info[2])); return info[0]; BODY_END }

// ---- threads and runtime ----
FN(SetNumThreads) { BODY_BEGIN at::set_num_threads((int)Int(info[0], "threads")); return env.Undefined(); BODY_END }
FN(GetNumThreads) { BODY_BEGIN return Napi::Number::New(env, at::get_num_threads()); BODY_END }
FN(SetNumInteropThreads) {
  BODY_BEGIN at::set_num_interop_threads((int)Int(info[0], "threads")); return env.Undefined(); BODY_END
}
FN(LiveHandles) { return Napi::Number::New(info.Env(), (double)slab::Live()); }
FN(CudaAvailable) { return Napi::Boolean::New(info.Env(), torch::cuda::is_available()); }
FN(ParallelInfo) { BODY_BEGIN return Napi::String::New(env, at::get_parallel_info()); BODY_END }
FN(ShowConfig) { BODY_BEGIN return Napi::String::New(env, at::show_config()); BODY_END }
// libtorch's autograd profiler for benchmarks: every op between start and stop goes to a Chrome trace file.
static std::unique_ptr<torch::autograd::profiler::RecordProfile> g_profile;
FN(ProfileStart) {
  BODY_BEGIN
  if (g_profile) throw std::runtime_error("the profiler is already running");
  if (!info[0].IsString()) throw std::runtime_error("profileStart: a trace file path is required");
  g_profile = std::make_unique<torch::autograd::profiler::RecordProfile>(info[0].As<Napi::String>().Utf8Value());
  return env.Undefined();
  BODY_END
}
FN(ProfileStop) { BODY_BEGIN g_profile.reset(); return env.Undefined(); BODY_END }
FN(Version) { return Napi::String::New(info.Env(), TORCH_VERSION); }

}  // namespace

void InitOps(Napi::Env env, Napi::Object e) {
#define REG(jsname, fn) e.Set(jsname, Napi::Function::New<fn>(env, jsname))
  REG("fromArray", FromArray); REG("zeros", Zeros); REG("ones", Ones); REG("full", Full); REG("arange", Arange);
  REG("rand", Rand); REG("randn", Randn); REG("randint", Randint); REG("randperm", Randperm);
  REG("bernoulli", Bernoulli); REG("uniform_", UniformInplace); REG("normal_", NormalInplace);
  REG("manualSeed", ManualSeed); REG("getRngState", GetRngState); REG("setRngState", SetRngState);
  REG("neg", Neg); REG("abs", Abs); REG("exp", Exp); REG("log", Log); REG("log1p", Log1p); REG("sqrt", Sqrt);
  REG("rsqrt", Rsqrt); REG("square", Square); REG("relu", Relu); REG("sigmoid", Sigmoid); REG("tanh", Tanh);
  REG("sign", Sign); REG("floor", Floor); REG("round", Round); REG("reciprocal", Reciprocal);
  REG("logicalNot", LogicalNot); REG("isfinite", Isfinite); REG("detach", Detach); REG("clone", Clone);
  REG("contiguous", Contiguous);
#define REG2(jsname, fn) REG(jsname, fn); REG(jsname "Scalar", fn##Scalar)
  REG2("add", Add); REG2("sub", Sub); REG2("mul", Mul); REG2("div", Div); REG2("pow", Pow); REG2("eq", Eq);
  REG2("ne", Ne); REG2("lt", Lt); REG2("le", Le); REG2("gt", Gt); REG2("ge", Ge); REG2("remainder", Remainder);
#undef REG2
  REG("maximum", Maximum); REG("minimum", Minimum); REG("logicalAnd", LogicalAnd); REG("logicalOr", LogicalOr);
  REG("clamp", Clamp); REG("clampTensor", ClampTensor); REG("where", Where); REG("cast", Cast); REG("toDevice", ToDevice);
  REG("sum", Sum); REG("mean", Mean); REG("amax", Amax); REG("amin", Amin); REG("logsumexp", Logsumexp);
  REG("var", Var); REG("maxDim", MaxDim); REG("minDim", MinDim); REG("argmax", Argmax); REG("topk", Topk);
  REG("sort", Sort); REG("cumsum", Cumsum);
  REG("reshape", Reshape); REG("permute", Permute); REG("transpose", Transpose); REG("expand", Expand);
  REG("repeat", Repeat); REG("squeeze", Squeeze); REG("unsqueeze", Unsqueeze); REG("flatten", Flatten);
  REG("slice", Slice); REG("select", Select); REG("indexSelect", IndexSelect); REG("gather", Gather);
  REG("scatter", Scatter); REG("scatterValue", ScatterValue); REG("scatterAdd", ScatterAdd); REG("maskedFill", MaskedFill); REG("cat", Cat);
  REG("stack", Stack); REG("flip", Flip); REG("roll", Roll); REG("pad", Pad); REG("index", Index);
  REG("indexPut", IndexPut);
  REG("conv2d", Conv2d); REG("batchNorm", BatchNorm); REG("linear", Linear); REG("matmul", Matmul);
  REG("avgPool2d", AvgPool2d); REG("maxPool2d", MaxPool2d); REG("adaptiveAvgPool2d", AdaptiveAvgPool2d);
  REG("logSoftmax", LogSoftmax); REG("softmax", Softmax); REG("crossEntropy", CrossEntropy);
  REG("interpolateBilinear", InterpolateBilinear); REG("interpolateNearest", InterpolateNearest);
  REG("add_", AddInplace); REG("addScalar_", AddScalarInplace); REG("mul_", MulInplace);
  REG("mulScalar_", MulScalarInplace); REG("addcmul_", AddcmulInplace); REG("copy_", CopyInplace);
  REG("zero_", ZeroInplace); REG("fill_", FillInplace); REG("clamp_", ClampInplace); REG("relu_", ReluInplace);
  REG("setNumThreads", SetNumThreads); REG("getNumThreads", GetNumThreads);
  REG("setNumInteropThreads", SetNumInteropThreads); REG("liveHandles", LiveHandles);
  REG("cudaAvailable", CudaAvailable); REG("parallelInfo", ParallelInfo); REG("showConfig", ShowConfig); REG("profileStart", ProfileStart); REG("profileStop", ProfileStop); REG("version", Version);
#undef REG
}

}  // namespace advexp
