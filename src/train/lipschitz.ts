// The Lipschitz-inspired loss of the paper ("robust additions", METHOD.md §3):
// L = CE(f(x), y) + ψ · mean(G²), G = ∂(Σ_b s_b)/∂x kept differentiable (double backprop), where
// s_b is a random class's logit or, with probability ζ ("tandem"), the margin of the true class.
import { Tensor, crossEntropy, gradOf, randint, rand, where, tidy } from '../engine/index.js';
import type { Module } from '../nn/index.js';
import { weightedCrossEntropy } from './balance.js';

/** Which output each sample smooths: class k_b, or the true-class margin where unfair_b is set. */
export interface SmoothingChoices {
  k: Tensor;       // int64 [B]
  unfair: Tensor;  // bool [B]
}

export const TANDEM_PROBABILITY = 0.2;

/** Draws the per-sample choices from libtorch's seeded generator. */
export function sampleChoices(batch: number, classes: number, tandem = TANDEM_PROBABILITY): SmoothingChoices {
  return tidy(() => ({ k: randint(0, classes, [batch]), unfair: rand([batch]).lt(tandem) }));
}

export interface LipschitzLoss {
  loss: Tensor;      // L_cls + L_adv, differentiable w.r.t. the parameters (second order)
  lossCls: Tensor;
  lossAdv: Tensor;   // ψ · mean(G²)
  /** The ψ that weighed the penalty. */
  psi: number;
  logits: Tensor;
}

/** s_b per METHOD.md §3 step 2, from logits z [B, K] and labels y [B]. */
export function smoothedOutputs(z: Tensor, y: Tensor, c: SmoothingChoices): Tensor {
  const yi = y.unsqueeze(1);
  const picked = z.gather(1, c.k.unsqueeze(1)).squeeze(1);
  const trueLogit = z.gather(1, yi).squeeze(1);
  const bestOther = z.scatter(1, yi, -Infinity).amax(1);
  return where(c.unfair, trueLogit.sub(bestOther), picked);
}

/**
 * The loss for one batch. x: images in [0,1] [B,C,H,W] (not modified), y: int64 labels, psi: the penalty weight,
 * either fixed or the adaptive controller (stepped here with this batch's L_cls before it weighs the penalty, as
 * training does), choices: per-sample smoothing choices (sampled when omitted), classWeights: a weighted
 * cross-entropy's class weights [K] (--balance weight; null: plain cross-entropy).
 */
export function lipschitzLoss(model: Module, x: Tensor, y: Tensor, psi: number | AdaptivePsi, choices?: SmoothingChoices, classWeights?: Tensor | null): LipschitzLoss {
  return tidy(() => {
    const xg = x.detach().requiresGrad_(true);
    const logits = model.call(xg);
    const lossCls = classWeights ? weightedCrossEntropy(logits, y, classWeights) : crossEntropy(logits, y);
    const weight = typeof psi === 'number' ? psi : psi.update(lossCls.item());
    const c = choices ?? sampleChoices(x.shape[0]!, logits.shape[1]!);
    const s = smoothedOutputs(logits, y, c).sum();
    const [g] = gradOf(s, [xg], { createGraph: true });
    const lossAdv = g!.square().mean().mul(weight);
    return { loss: lossCls.add(lossAdv), lossCls, lossAdv, psi: weight, logits };
  });
}

/**
 * Adaptive ψ: an integrator r (never reset; checkpointed) steers the training cross-entropy toward
 * L_target (the paper's 1.5 for 10 classes; the trainer passes options.lossTarget or 1.5·ln K/ln 10). Updated each
 * batch before ψ is used.
 */
export class AdaptivePsi {
  constructor(public r = 0, readonly base = 220, readonly rate = 0.02, readonly target = 1.5) {}
  get psi(): number { return this.base * Math.exp(this.rate * this.r); }
  /** r ← max(0, r + clip(−ln(L_cls / target), −0.01, +1)); returns the new ψ. */
  update(lossCls: number): number {
    const step = Math.min(1, Math.max(-0.01, -Math.log(lossCls / this.target)));
    if (Number.isFinite(step)) this.r = Math.max(0, this.r + step);
    return this.psi;
  }
}
