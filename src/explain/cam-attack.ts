// An attack on the decision that tries to leave the Grad-CAM map where it was (the paper's Fig. 1 argument): from
// x with class `from`, find δ with RMS(δ) ≤ ρ such that the network says `to`, while Grad-CAM of `to` on x + δ
// matches Grad-CAM of `from` on x. Loss per sample: CE(f(x + δ), to) + λ · Σ_cells (ĉ(x + δ) − ĉ₀)², ĉ the CAM at
// the layer's resolution divided by its maximum. The gradient of the CAM term goes through ∂z/∂A (double backprop).
// Steps follow the paper's routine (METHOD.md §4): direction normalised by its RMS, linear ramp-down step sizes
// with Σ ss_t = ρ·overshoot, no momentum; here δ is then scaled back onto the RMS ball when it leaves it, and the
// iterate kept is, among those classified `to`, the one with the smallest CAM term (else the last).
import { tensor, tidy, keep, enableGrad, gradOf, crossEntropy, zerosLike, where, type Tensor } from '../engine/index.js';
import { frozen, inEval, type Module } from '../nn/index.js';
import { CamExplainer, GradCAM, defaultCamLayer, findLayer, forwardWithActivation } from './gradcam.js';
import { targetTensor } from './types.js';

export interface CamAttackOptions {
  /** RMS budget ρ (default 0.01). */
  rho?: number;
  /** Steps (default 100). */
  steps?: number;
  /** Σ step sizes = ρ·overshoot (default 5). */
  overshoot?: number;
  /** Weight λ of the map term (default 10; 0 = a plain targeted attack). */
  lambda?: number;
  /** Grad-CAM layer (default: the last stage). */
  layer?: string;
  /** The CAM variant (default Grad-CAM). */
  cam?: CamExplainer;
}

export interface CamAttackResult {
  /** x + δ, n·C·H·W. */
  adv: Float32Array;
  rms: Float32Array;
  /** Predicted class of x + δ. */
  classAfter: Int32Array;
  /** 1 where x + δ is classified `to`. */
  success: Uint8Array;
  /** The map term Σ (ĉ − ĉ₀)² of the returned iterate. */
  camLoss: Float32Array;
}

/** ĉ: the CAM [B, h, w] of targets at the layer, divided by its per-sample maximum (differentiable in A). */
function normalisedCam(cam: CamExplainer, model: Module, layer: Module, name: string, x: Tensor, t: Tensor,
  mode: 'leaf' | 'connected' | 'differentiable'): { camN: Tensor; logits: Tensor } {
  // leaf: A cut from the input (maps only); connected: logits differentiable in the input; differentiable: the map too.
  const { logits, activation } = forwardWithActivation(model, layer, name, x, mode === 'leaf');
  const createGraph = mode === 'differentiable';
  try {
    const [g] = gradOf(logits.gather(1, t.reshape([-1, 1])).sum(), [activation], { createGraph, retainGraph: true });
    const c = cam.camFrom(activation, g!).squeeze(1);
    return { camN: c.div(c.amax([1, 2], true).add(1e-6)), logits };
  } finally {
    activation.dispose();
  }
}

export function camPreservingAttack(model: Module, images: Tensor, from: Int32Array, to: Int32Array, opts: CamAttackOptions = {}): CamAttackResult {
  const rho = opts.rho ?? 0.01, T = opts.steps ?? 100, overshoot = opts.overshoot ?? 5, lambda = opts.lambda ?? 10;
  if (!(rho > 0)) throw new Error(`cam attack: rho must be > 0, got ${rho}`);
  if (!Number.isInteger(T) || T < 1) throw new Error(`cam attack: steps must be a positive integer, got ${T}`);
  if (!(lambda >= 0)) throw new Error(`cam attack: lambda must be ≥ 0, got ${lambda}`);
  const n = images.shape[0]!;
  if (from.length !== n || to.length !== n) throw new Error(`cam attack: ${from.length}/${to.length} classes for ${n} images`);
  const name = opts.layer ?? defaultCamLayer(model);
  const layer = findLayer(model, name);
  const cam = opts.cam ?? new GradCAM();
  return frozen(model, () => {
    return inEval(model, () => tidy(() => {
      const x = images.detach();
      const tFrom = targetTensor(from), tTo = targetTensor(to);
      const cam0 = enableGrad(() => normalisedCam(cam, model, layer, name, x, tFrom, 'leaf').camN.detach());
      let delta = keep(zerosLike(x));
      let best = keep(zerosLike(x));
      let bestLoss = keep(tensor(new Float32Array(n).fill(Infinity)));
      const ramp = (T * (T + 1)) / 2;
      for (let s = 0; s <= T; s++) {
        const next = tidy(() => enableGrad(() => {
          const d = delta.detach().requiresGrad_(true);
          const { camN, logits } = normalisedCam(cam, model, layer, name, x.add(d), tTo, lambda > 0 ? 'differentiable' : 'connected');
          const camLoss = camN.sub(cam0).square().sum([1, 2]);
          // Bookkeeping at δ_s: the best iterate classified `to`.
          const hit = logits.detach().argmax(1).eq(tTo);
          const better = hit.logicalAnd(camLoss.detach().lt(bestLoss));
          const b2 = where(better.reshape([-1, 1, 1, 1]), delta, best);
          const l2 = where(better, camLoss.detach(), bestLoss);
          if (s === T) return { d2: delta.clone(), b2, l2 };
          const loss = crossEntropy(logits, tTo, 'sum').add(camLoss.sum().mul(lambda));
          const [g] = gradOf(loss, [d]);
          let dir = g!.neg();
          dir = dir.div(dir.square().mean([1, 2, 3], true).sqrt().add(1e-8));
          let d2 = delta.add(dir.mul(rho * overshoot * (T - s) / ramp));
          const r = d2.square().mean([1, 2, 3], true).sqrt();
          d2 = d2.mul(r.clamp(rho, 1e30).reciprocal().mul(rho));
          return { d2, b2, l2 };
        }));
        for (const t of [delta, best, bestLoss]) t.dispose();
        delta = keep(next.d2); best = keep(next.b2); bestLoss = keep(next.l2);
      }
      try {
        const found = bestLoss.lt(1e30).reshape([-1, 1, 1, 1]);
        const dOut = where(found, best, delta);
        const adv = x.add(dOut);
        const { camN, logits } = enableGrad(() => normalisedCam(cam, model, layer, name, adv, tTo, 'leaf'));
        const cls = logits.detach().argmax(1);
        return {
          adv: adv.contiguous().data(),
          rms: dOut.square().mean([1, 2, 3]).sqrt().data(),
          classAfter: cls.cast('int32').data<Int32Array>(),
          success: cls.eq(tTo).cast('uint8').data<Uint8Array>(),
          camLoss: camN.detach().sub(cam0).square().sum([1, 2]).data(),
        };
      } finally {
        for (const t of [delta, best, bestLoss]) t.dispose();
      }
    }));
  });
}
