// The Lipschitz-inspired loss of the paper ("robust additions", METHOD.md §3):
// L = CE(f(x), y) + ψ · mean(G²), G = ∂(Σ_b s_b)/∂x kept differentiable (double backprop), where
// s_b is a random class's logit or, with probability ζ ("tandem"), the margin of the true class.
// With penalty 'finite-difference' (Finlay & Oberman 2019), mean(G²) is approximated without a second-order graph.
import { Tensor, crossEntropy, gradOf, randint, rand, where, tidy, noGrad } from '../engine/index.js';
import { statisticsFrozen, type Module } from '../nn/index.js';
import type { Penalty } from './options.js';
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

/** How the penalty is computed (TrainOptions.penalty, fdStep). */
export interface PenaltyOptions {
  penalty: Penalty;
  /** Finite difference: the step h along each sample's normalised gradient (input units). */
  fdStep?: number;
}
export const DOUBLE_BACKPROP: PenaltyOptions = { penalty: 'double-backprop' };

/**
 * The loss for one batch. x: images in [0,1] [B,C,H,W] (not modified), y: int64 labels, psi: the penalty weight,
 * either fixed or the adaptive controller (stepped here with this batch's L_cls before it weighs the penalty, as
 * training does), choices: per-sample smoothing choices (sampled when omitted), classWeights: a weighted
 * cross-entropy's class weights [K] (--balance weight; null: plain cross-entropy), how: the penalty's computation.
 */
export function lipschitzLoss(model: Module, x: Tensor, y: Tensor, psi: number | AdaptivePsi, choices?: SmoothingChoices,
  classWeights: Tensor | null = null, how: PenaltyOptions = DOUBLE_BACKPROP): LipschitzLoss {
  return tidy(() => {
    const xg = x.detach().requiresGrad_(true);
    const logits = model.call(xg);
    const lossCls = classWeights ? weightedCrossEntropy(logits, y, classWeights) : crossEntropy(logits, y);
    const weight = typeof psi === 'number' ? psi : psi.update(lossCls.item());
    const c = choices ?? sampleChoices(x.shape[0]!, logits.shape[1]!);
    if (how.penalty === 'finite-difference') {
      const lossAdv = finiteDifferencePenalty(model, xg, y, c, smoothedOutputs(logits, y, c), how.fdStep ?? 0.01).mul(weight);
      return { loss: lossCls.add(lossAdv), lossCls, lossAdv, psi: weight, logits };
    }
    const s = smoothedOutputs(logits, y, c).sum();
    const [g] = gradOf(s, [xg], { createGraph: true });
    const lossAdv = g!.square().mean().mul(weight);
    return { loss: lossCls.add(lossAdv), lossCls, lossAdv, psi: weight, logits };
  });
}

/**
 * Finlay & Oberman's finite-difference penalty: with d_b = G_b/‖G_b‖ (G_b = ∂s_b/∂x_b, computed once and held
 * constant), ‖G_b‖ ≈ (s_b(x + h·d) − s_b(x))/h, so Σ_b of its square over the number of input values stands for
 * mean(G²). Differentiable w.r.t. the parameters through both forward passes, first order only. The second pass
 * runs in the model's mode but leaves batch norm's running statistics as the first pass left them.
 * xg: the input the first pass saw (requires grad), s: that pass's s_b [B].
 */
function finiteDifferencePenalty(model: Module, xg: Tensor, y: Tensor, c: SmoothingChoices, s: Tensor, h: number): Tensor {
  const [g] = gradOf(s.sum(), [xg], { retainGraph: true });
  const dir = noGrad(() => {
    const norm = g!.flatten(1).square().sum([1]).sqrt().clamp(1e-12, null);
    return xg.detach().add(g!.div(norm.reshape([-1, ...g!.shape.slice(1).map(() => 1)])).mul(h));
  });
  const s2 = statisticsFrozen(model, () => smoothedOutputs(model.call(dir), y, c));
  return s2.sub(s).div(h).square().sum().div(xg.size);
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
