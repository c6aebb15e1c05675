// Fused autograd functions for the Lipschitz loss's double backprop (issue 17): batch norm and half-Huber.
// The composite versions spell their backward and double backward out op by op (batch norm's double
// backward alone was a fifth of the step); here each level is one or two passes over the data, and the
// backward of each function is itself an autograd function, so gradients of gradients work.
//
// Levels: forward (BatchNormFn, HalfHuberFn) → backward (BatchNormBackwardFn, HalfHuberBackwardFn, recorded
// when the first backward runs with create_graph) → double backward (their backward, one fused kernel).
// Third-order gradients: half-Huber falls back to differentiable ATen ops; batch norm in training mode refuses
// them with a clear error (nothing in advexp asks for them; the composite path, ADVEXP_FUSED=0, has them).
#include "common.h"

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>

namespace advexp {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using Info = const Napi::CallbackInfo&;

// Elementwise grain: below this many elements a pass stays on one thread.
constexpr int64_t kGrain = 32768;

// ---------------------------------------------------------------------------------------------------------
// Half-Huber (METHOD.md §2): f(x) = clamp(x,0,d)²/(2d) + relu(x−d); f'(x) = clamp(x,0,d)/d; f'' = 1/d on [0,d].
// The forward rounds as the composite does (c·c, ·1/(2d), + relu(x−d)), so outputs are bit-identical to it.
// f'' uses the closed interval [0, d], as the composite's clamp backward does (ATen passes the gradient at
// the clamp's bounds), so both paths give the same numbers at the (measure-zero) kinks too.

// Branch-free bodies (min/max, a 0/1 mask): the branches of a plain ?: mispredict on activations of either sign
// and cost more than the arithmetic (measured 10× a ReLU pass before, about one after).
template <typename T>
inline T Clamp0d(T v, T d) { return std::min(std::max(v, T(0)), d); }

template <typename T>
void HalfHuberKernel(const T* x, T* y, int64_t n, T d) {
  const T inv2d = T(1) / (T(2) * d);
  at::parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) {
#pragma omp simd
    for (int64_t i = b; i < e; ++i) {
      T v = x[i];
      T c = Clamp0d(v, d);
      y[i] = c * c * inv2d + std::max(v - d, T(0));
    }
  });
}

// gx = g · clamp(x,0,d)/d
template <typename T>
void HalfHuberGradKernel(const T* g, const T* x, T* gx, int64_t n, T d) {
  const T invd = T(1) / d;
  at::parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) {
#pragma omp simd
    for (int64_t i = b; i < e; ++i) gx[i] = g[i] * (Clamp0d(x[i], d) * invd);
  });
}

// The double backward in one pass: gg = ggx · f'(x), dx = ggx · g · f''(x).
template <typename T>
void HalfHuberGradGradKernel(const T* ggx, const T* g, const T* x, T* gg, T* dx, int64_t n, T d) {
  const T invd = T(1) / d;
  at::parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) {
#pragma omp simd
    for (int64_t i = b; i < e; ++i) {
      T v = x[i];
      T inside = (T)((v >= T(0)) & (v <= d));
      gg[i] = ggx[i] * (Clamp0d(v, d) * invd);
      dx[i] = ggx[i] * g[i] * (inside * invd);
    }
  });
}

void CheckFloating(const at::Tensor& t, const char* what) {
  TORCH_CHECK(t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble, what,
              ": fused ops take float32 or float64 tensors, got ", t.scalar_type());
  TORCH_CHECK(t.device().is_cpu(), what, ": fused ops run on the CPU (ADVEXP_FUSED=0 uses the composite ops)");
}

struct HalfHuberBackwardFn : public torch::autograd::Function<HalfHuberBackwardFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& g, const at::Tensor& x, double d) {
    at::Tensor gc = g.contiguous(), xc = x.contiguous();
    at::Tensor gx = at::empty_like(xc, at::MemoryFormat::Contiguous);
    AT_DISPATCH_FLOATING_TYPES(xc.scalar_type(), "half_huber_backward", [&] {
      HalfHuberGradKernel<scalar_t>(gc.data_ptr<scalar_t>(), xc.data_ptr<scalar_t>(), gx.data_ptr<scalar_t>(), xc.numel(), (scalar_t)d);
    });
    ctx->save_for_backward({gc, xc});
    ctx->saved_data["d"] = d;
    return gx;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor &g = saved[0], &x = saved[1];
    double d = ctx->saved_data["d"].toDouble();
    at::Tensor ggx = grads[0];
    if (!ggx.defined()) return {at::Tensor(), at::Tensor(), at::Tensor()};
    if (at::GradMode::is_enabled()) {
      // Third order asked for: differentiable ATen ops (f' as a clamp, f'' as a mask, whose derivative is 0).
      at::Tensor fp = at::clamp(x, 0.0, d).div(d);
      at::Tensor fpp = at::logical_and(x.ge(0.0), x.le(d)).to(x.scalar_type()).div(d);
      return {ggx.mul(fp), ggx.mul(g).mul(fpp), at::Tensor()};
    }
    at::Tensor ggc = ggx.contiguous();
    at::Tensor gg = at::empty_like(x), dx = at::empty_like(x);
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "half_huber_double_backward", [&] {
      HalfHuberGradGradKernel<scalar_t>(ggc.data_ptr<scalar_t>(), g.data_ptr<scalar_t>(), x.data_ptr<scalar_t>(),
                                        gg.data_ptr<scalar_t>(), dx.data_ptr<scalar_t>(), x.numel(), (scalar_t)d);
    });
    return {gg, dx, at::Tensor()};
  }
};

struct HalfHuberFn : public torch::autograd::Function<HalfHuberFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, double d) {
    at::Tensor xc = x.contiguous();
    at::Tensor y = at::empty_like(xc, at::MemoryFormat::Contiguous);
    AT_DISPATCH_FLOATING_TYPES(xc.scalar_type(), "half_huber", [&] {
      HalfHuberKernel<scalar_t>(xc.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(), xc.numel(), (scalar_t)d);
    });
    ctx->save_for_backward({xc});
    ctx->saved_data["d"] = d;
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    at::Tensor x = ctx->get_saved_variables()[0];
    if (!grads[0].defined()) return {at::Tensor(), at::Tensor()};
    return {HalfHuberBackwardFn::apply(grads[0], x, ctx->saved_data["d"].toDouble()), at::Tensor()};
  }
};

// ---------------------------------------------------------------------------------------------------------
// Batch norm over [B, C, ...] (statistics per channel c over its N = numel/C values).
// Forward and backward are ATen's own kernels (native_batch_norm, native_batch_norm_backward), so they give
// the composite's numbers exactly; what is fused is the double backward. In training mode, with s = invstd,
// xh = (x−μ)s, and per channel A = mean(gy), Bm = mean(gy·xh), the backward is
//   gx = w s P(gy),   P(v) = v − mean(v) − xh·mean(v·xh),   gw = Σ gy·xh,   gb = Σ gy,
// and, given the upstream ggx, ggw, ggb (with m = mean(ggx), mx = mean(ggx·xh), my = mean(ggx·gy)):
//   ggy = w s P(ggx) + ggw·xh + ggb
//   dx  = −w s² [mx·gy + Bm·ggx + xh·(my − A·m − 3·Bm·mx) − mx·A − Bm·m] + ggw·s·P(gy)
//   dw  = N s (my − A·m − Bm·mx)
// (∂xh/∂x = s·P, P symmetric, ∂s/∂x_j = −s² xh_j / N; tests check it against finite differences.)

template <typename T>
void BatchNormDoubleBackwardKernel(const T* gy, const T* x, const T* ggx, const T* mean, const T* invstd, const T* w,
                                   const T* sumGy, const T* sumGyXh, const T* ggw, const T* ggb, T* ggy, T* dx, T* dw,
                                   int64_t B, int64_t C, int64_t HW) {
  using acc_t = double;
  const acc_t N = (acc_t)(B * HW);
  at::parallel_for(0, C, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const T mu = mean[c], s = invstd[c];
      acc_t sg = 0, sgx = 0, sgy = 0;
      for (int64_t b = 0; b < B; ++b) {
        const int64_t o = (b * C + c) * HW;
        const T *pg = ggx + o, *px = x + o, *py = gy + o;
        acc_t a0 = 0, a1 = 0, a2 = 0;
#pragma omp simd reduction(+ : a0, a1, a2)
        for (int64_t k = 0; k < HW; ++k) {
          acc_t g = pg[k], xh = (acc_t)((px[k] - mu) * s);
          a0 += g;
          a1 += g * xh;
          a2 += g * (acc_t)py[k];
        }
        sg += a0; sgx += a1; sgy += a2;
      }
      const acc_t m = sg / N, mx = sgx / N, my = sgy / N;
      const acc_t A = (acc_t)sumGy[c] / N, Bm = (acc_t)sumGyXh[c] / N;
      const acc_t ws = (acc_t)w[c] * s, ws2 = ws * s;
      const acc_t gw = ggw ? (acc_t)ggw[c] : 0, gb = ggb ? (acc_t)ggb[c] : 0;
      dw[c] = (T)(N * s * (my - A * m - Bm * mx));
      // ggy = ws·ggx + xh·(gw − ws·mx) + (gb − ws·m)
      const T cy0 = (T)ws, cy1 = (T)(gw - ws * mx), cy2 = (T)(gb - ws * m);
      // dx = −ws2·[mx·gy + Bm·ggx + xh·K − mx·A − Bm·m] + gw·s·(gy − A − xh·Bm), K = my − A·m − 3·Bm·mx
      const acc_t K = my - A * m - 3 * Bm * mx, gws = gw * s;
      const T cgy = (T)(-ws2 * mx + gws), cgg = (T)(-ws2 * Bm), cxh = (T)(-ws2 * K - gws * Bm),
              c0c = (T)(ws2 * (mx * A + Bm * m) - gws * A);
      for (int64_t b = 0; b < B; ++b) {
        const int64_t o = (b * C + c) * HW;
        const T *pg = ggx + o, *px = x + o, *py = gy + o;
        T *qy = ggy + o, *qx = dx + o;
#pragma omp simd
        for (int64_t k = 0; k < HW; ++k) {
          T xh = (px[k] - mu) * s;
          qy[k] = cy0 * pg[k] + cy1 * xh + cy2;
          qx[k] = cgy * py[k] + cgg * pg[k] + cxh * xh + c0c;
        }
      }
    }
  });
}

at::Tensor ChannelView(const at::Tensor& v, int64_t dims) {
  std::vector<int64_t> shape(dims, 1);
  shape[1] = v.size(0);
  return v.view(shape);
}

struct BatchNormBackwardFn : public torch::autograd::Function<BatchNormBackwardFn> {
  // Inputs gy, x, w are differentiable; mean/invstd (the batch's, saved by the forward) and the running
  // statistics are constants here: the double backward accounts for the statistics' dependence on x itself.
  static variable_list forward(AutogradContext* ctx, const at::Tensor& gy, const at::Tensor& x, const at::Tensor& w,
                               const at::Tensor& mean, const at::Tensor& invstd, const at::Tensor& rm, const at::Tensor& rv,
                               bool training, double eps) {
    auto none = [](const at::Tensor& t) { return t.numel() == 0 ? at::Tensor() : t; };
    auto r = at::native_batch_norm_backward(gy, x, w, none(rm), none(rv), mean, invstd, training, eps, {true, true, true});
    at::Tensor gx = std::get<0>(r), gw = std::get<1>(r), gb = std::get<2>(r);
    ctx->save_for_backward({gy, x, w, mean, invstd, rm, rv, gw, gb});
    ctx->saved_data["training"] = training;
    ctx->saved_data["eps"] = eps;
    return {gx, gw, gb};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto sv = ctx->get_saved_variables();
    const at::Tensor &gy = sv[0], &x = sv[1], &w = sv[2], &mean = sv[3], &invstd = sv[4], &rm = sv[5], &rv = sv[6];
    const bool training = ctx->saved_data["training"].toBool();
    const double eps = ctx->saved_data["eps"].toDouble();
    at::Tensor ggx = grads[0], ggw = grads[1], ggb = grads[2];
    variable_list none(9);
    if (!ggx.defined() && !ggw.defined() && !ggb.defined()) return none;
    const int64_t dims = x.dim();
    std::vector<int64_t> red{0};
    for (int64_t i = 2; i < dims; ++i) red.push_back(i);

    if (!training) {
      // Eval mode: the map is affine in x with constant statistics; a few differentiable ATen ops say it all.
      at::Tensor s = ChannelView(at::rsqrt(rv + eps), dims);
      at::Tensor xh = (x - ChannelView(rm, dims)) * s;
      at::Tensor ggy, dx, dw;
      if (ggx.defined()) {
        ggy = ggx * (ChannelView(w, dims) * s);
        dw = (ggx * gy * s).sum(red);
      }
      if (ggw.defined()) {
        at::Tensor t = ChannelView(ggw, dims) * xh;
        ggy = ggy.defined() ? ggy + t : t;
        dx = ChannelView(ggw, dims) * gy * s;
      }
      if (ggb.defined()) {
        at::Tensor t = ChannelView(ggb, dims).expand_as(x);
        ggy = ggy.defined() ? ggy + t : t.contiguous();
      }
      variable_list out(9);
      out[0] = ggy; out[1] = dx; out[2] = dw;
      return out;
    }
    TORCH_CHECK(!at::GradMode::is_enabled(),
                "fused batch norm: third-order gradients are not supported (ADVEXP_FUSED=0 uses the composite ops)");
    at::Tensor gyc = gy.contiguous(), xc = x.contiguous();
    at::Tensor ggc = ggx.defined() ? ggx.contiguous() : at::zeros_like(xc);
    at::Tensor ggwc = ggw.defined() ? ggw.contiguous() : at::Tensor(), ggbc = ggb.defined() ? ggb.contiguous() : at::Tensor();
    at::Tensor wc = w.contiguous(), gw = sv[7].contiguous(), gb = sv[8].contiguous();
    at::Tensor meanc = mean.contiguous(), invc = invstd.contiguous();
    at::Tensor ggy = at::empty_like(xc), dx = at::empty_like(xc), dw = at::empty_like(wc);
    const int64_t B = xc.size(0), C = xc.size(1), HW = C > 0 && B > 0 ? xc.numel() / (B * C) : 0;
    AT_DISPATCH_FLOATING_TYPES(xc.scalar_type(), "batch_norm_double_backward_fused", [&] {
      BatchNormDoubleBackwardKernel<scalar_t>(
          gyc.data_ptr<scalar_t>(), xc.data_ptr<scalar_t>(), ggc.data_ptr<scalar_t>(), meanc.data_ptr<scalar_t>(),
          invc.data_ptr<scalar_t>(), wc.data_ptr<scalar_t>(), gb.data_ptr<scalar_t>(), gw.data_ptr<scalar_t>(),
          ggwc.defined() ? ggwc.data_ptr<scalar_t>() : nullptr, ggbc.defined() ? ggbc.data_ptr<scalar_t>() : nullptr,
          ggy.data_ptr<scalar_t>(), dx.data_ptr<scalar_t>(), dw.data_ptr<scalar_t>(), B, C, HW);
    });
    variable_list out(9);
    out[0] = ggy; out[1] = dx; out[2] = dw;
    return out;
  }
};

struct BatchNormFn : public torch::autograd::Function<BatchNormFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w, const at::Tensor& b,
                            const at::Tensor& rm, const at::Tensor& rv, bool training, double momentum, double eps) {
    // Updates the running statistics in place in training mode, as the composite does.
    auto none = [](const at::Tensor& t) { return t.numel() == 0 ? at::Tensor() : t; };
    auto r = at::native_batch_norm(x, w, b, none(rm), none(rv), training, momentum, eps);
    // Training mode uses the batch's statistics only; saving the running ones (changed in place by every
    // forward) would make a second forward before the backward an in-place-modification error.
    // (An empty tensor stands for "none": custom functions take no undefined tensor inputs.)
    ctx->save_for_backward({x, w, std::get<1>(r), std::get<2>(r), training ? at::empty({0}) : rm, training ? at::empty({0}) : rv});
    ctx->saved_data["training"] = training;
    ctx->saved_data["eps"] = eps;
    return std::get<0>(r);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto sv = ctx->get_saved_variables();
    variable_list out(8);
    if (!grads[0].defined()) return out;
    auto g = BatchNormBackwardFn::apply(grads[0], sv[0], sv[1], sv[2], sv[3], sv[4], sv[5],
                                        ctx->saved_data["training"].toBool(), ctx->saved_data["eps"].toDouble());
    out[0] = g[0]; out[1] = g[1]; out[2] = g[2];
    return out;
  }
};

// fusedBatchNorm(x, weight, bias, runningMean, runningVar, training, momentum, eps)
Napi::Value FusedBatchNorm(Info info) {
  Napi::Env env = info.Env();
  ADVEXP_TRY
  const at::Tensor& x = slab::Get(info[0]);
  const at::Tensor &w = slab::Get(info[1]), &b = slab::Get(info[2]);
  // No running statistics (training mode only): an empty tensor stands for them, as custom functions take no
  // undefined tensor inputs.
  c10::optional<at::Tensor> orm = OptTensor(info[3]), orv = OptTensor(info[4]);
  at::Tensor rm = orm ? *orm : at::empty({0}, x.options()), rv = orv ? *orv : at::empty({0}, x.options());
  bool training = Bool(info[5], false);
  CheckFloating(x, "fusedBatchNorm");
  TORCH_CHECK(training || (orm && orv), "fusedBatchNorm: eval mode needs the running statistics");
  TORCH_CHECK(x.dim() >= 2, "fusedBatchNorm: expected [B, C, ...], got ", x.dim(), " dimensions");
  return slab::Put(env, BatchNormFn::apply(x, w, b, rm, rv, training, Num(info[6], "momentum"), Num(info[7], "eps")));
  ADVEXP_CATCH(env)
}

// fusedHalfHuber(x, d)
Napi::Value FusedHalfHuber(Info info) {
  Napi::Env env = info.Env();
  ADVEXP_TRY
  const at::Tensor& x = slab::Get(info[0]);
  CheckFloating(x, "fusedHalfHuber");
  double d = Num(info[1], "d");
  TORCH_CHECK(d > 0, "fusedHalfHuber: d must be positive, got ", d);
  return slab::Put(env, HalfHuberFn::apply(x, d));
  ADVEXP_CATCH(env)
}

}  // namespace

void InitFused(Napi::Env env, Napi::Object e) {
  e.Set("fusedBatchNorm", Napi::Function::New<FusedBatchNorm>(env, "fusedBatchNorm"));
  e.Set("fusedHalfHuber", Napi::Function::New<FusedHalfHuber>(env, "fusedHalfHuber"));
}

}  // namespace advexp
