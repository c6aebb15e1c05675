// Adversarial training's attack (METHOD.md §3–4), behind a small interface so the trainer does not care
// which implementation produces the adversarial batch.
//
// The routine here is a private, minimal version of the paper's attack (§4) for training only: untargeted
// (+∇ of the true label's cross-entropy), no momentum, modes "budget" (standard adversarial training) and
// "misclassify" (L2,min: the smallest-RMS misclassifying iterate, or the clean image if none).
import { Tensor, tidy, zerosLike, full, crossEntropy, gradOf, where, noGrad } from '../engine/index.js';
import type { Module } from '../nn/index.js';

/** Produces the adversarial version of a batch (images x in [0,1], int64 labels y). Must not change x. */
export type AdversarialBatchFn = (model: Module, x: Tensor, y: Tensor) => Tensor;

export interface TrainingAttackOptions {
  eps: number;
  steps: number;
  overshoot: number;
  /** 'budget': follow the gradient while RMS(δ) < eps, return x + δ_T. 'misclassify': L2,min. */
  mode: 'budget' | 'misclassify';
}

/** The paper's settings: ε = 0.01, 7 steps, overshoot 1; L2,min: ε = 0.1, minimising. */
export function paperTrainingAttack(l2Min: boolean, eps?: number, steps = 7): TrainingAttackOptions {
  return l2Min
    ? { eps: eps ?? 0.1, steps, overshoot: 1, mode: 'misclassify' }
    : { eps: eps ?? 0.01, steps, overshoot: 1, mode: 'budget' };
}

/** RMS over all but the batch dimension: [B]. */
function rms(t: Tensor): Tensor { return t.square().mean([1, 2, 3]).sqrt(); }

/**
 * The attack routine of METHOD.md §4 for training: δ₀ = 0; per step g = ∂ΣCE(f(x+δ), y)/∂δ, direction g where
 * the sample is followed else −δ, normalised to unit RMS (+1e-8), step eps·o·(T−t)/(T(T+1)/2). The model runs in
 * whatever mode it is in (training: train mode). Parameters' .grad are not touched.
 */
export function paperAttack(model: Module, x: Tensor, y: Tensor, o: TrainingAttackOptions): Tensor {
  return tidy(() => {
    const b = x.shape[0]!;
    const T = o.steps;
    const ramp = (T * (T + 1)) / 2;
    const bshape = [b, 1, 1, 1];
    let delta = zerosLike(x);
    let best = x;
    let bestRms = full([b], Infinity);
    const record = (z: Tensor, d: Tensor): void => {
      // Misclassified iterates closer than the best so far replace it (δ₀ … δ_T).
      const r = rms(d);
      const better = z.argmax(1).ne(y).logicalAnd(r.lt(bestRms));
      const nb = where(better.reshape(bshape), x.add(d), best);
      const nr = where(better, r, bestRms);
      best = nb; bestRms = nr;
    };
    for (let t = 0; t < T; t++) {
      const next = tidy(() => {
        const d = delta.detach().requiresGrad_(true);
        const z = model.call(x.add(d));
        const [g] = gradOf(crossEntropy(z, y, 'sum'), [d]);
        const follow = o.mode === 'budget' ? rms(d).lt(o.eps) : z.argmax(1).eq(y);
        if (o.mode === 'misclassify') noGrad(() => record(z.detach(), d.detach()));
        const dir = where(follow.reshape(bshape), g!, d.detach().neg());
        const unit = dir.div(rms(dir).add(1e-8).reshape(bshape));
        const step = (o.eps * o.overshoot * (T - t)) / ramp;
        return { delta: d.detach().add(unit.mul(step)), best, bestRms };
      });
      delta = next.delta; best = next.best; bestRms = next.bestRms;
    }
    if (o.mode === 'budget') return x.add(delta).detach();
    noGrad(() => record(model.call(x.add(delta)), delta));
    return best.detach();
  });
}

/** An AdversarialBatchFn with fixed options. */
export function trainingAttack(o: TrainingAttackOptions): AdversarialBatchFn {
  return (model, x, y) => paperAttack(model, x, y, o);
}
