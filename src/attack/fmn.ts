// Fast Minimum-Norm attack (Pintor et al. 2021), L2, a minimisation attack in [0, 1]. The loss is the logit
// margin L = z_y − max_{j≠y} z_j (for a target: max_{j≠t} z_j − z_t), adversarial when L < 0. Each step:
//  - while x + δ is not adversarial, the ε-ball grows: to ‖δ‖ + L/‖∇L‖ (the linearised boundary) until an
//    adversarial point has been found, by a factor (1 + γ) after;
//  - while it is, it shrinks: ε = min((1 − γ) ε, ‖δ*‖), δ* the smallest adversarial δ so far;
//  - δ moves by α along −∇L/‖∇L‖, is projected onto the ε-ball and x + δ clipped to [0, 1].
// α is cosine-annealed from 1 to 0.01, γ from 0.05 to 0.001 (the paper's L2 settings). The result is δ*.
import { Tensor, tidy, full, zerosLike, where, enableGrad, gradOf } from '../engine/index.js';
import { positiveInteger, positiveNumber, MinimizationAttack, type AttackContext, type BatchOutcome } from './base.js';
import { L2 } from './norms.js';
import { margin } from './losses.js';
import { cosineAnneal } from './ddn.js';

export interface FmnOptions {
  /** Steps (default 1000). */
  steps?: number;
  /** First and last step size (default 1 → 0.01). */
  alphaInit?: number;
  alphaFinal?: number;
  /** First and last ε change (default 0.05 → 0.001). */
  gammaInit?: number;
  gammaFinal?: number;
}

/** Relative overshoot of the linearised distance (see step()). */
const FMN_OVERSHOOT = 1e-3;

interface FmnState { delta: Tensor; eps: Tensor; best: Tensor; bestNorm: Tensor }

export class FMN extends MinimizationAttack<FmnState> {
  readonly name = 'fmn';
  readonly norm = L2;
  readonly alphaInit: number;
  readonly alphaFinal: number;
  readonly gammaInit: number;
  readonly gammaFinal: number;
  readonly #steps: number;

  constructor(opts: FmnOptions = {}) {
    super([0, 1]);
    this.#steps = positiveInteger('fmn', 'steps', opts.steps ?? 1000);
    this.alphaInit = opts.alphaInit ?? 1;
    this.alphaFinal = opts.alphaFinal ?? this.alphaInit / 100;
    this.gammaInit = opts.gammaInit ?? 0.05;
    this.gammaFinal = opts.gammaFinal ?? 0.001;
    for (const [k, v] of [['alphaInit', this.alphaInit], ['alphaFinal', this.alphaFinal], ['gammaInit', this.gammaInit], ['gammaFinal', this.gammaFinal]] as const) {
      positiveNumber('fmn', k, v);
    }
  }

  get steps(): number { return this.#steps; }
  get budget(): number { return Infinity; }

  protected init(ctx: AttackContext): FmnState {
    const B = ctx.x.shape[0]!;
    return { delta: zerosLike(ctx.x), eps: full([B], 0), best: zerosLike(ctx.x), bestNorm: full([B], Infinity) };
  }

  /** The margin loss at x + δ, its gradient and the logits. */
  #marginGrad(ctx: AttackContext, delta: Tensor): { logits: Tensor; loss: Tensor; grad: Tensor } {
    return tidy(() => enableGrad(() => {
      const d = delta.detach().requiresGrad_(true);
      const z = ctx.model.call(ctx.x.add(d));
      const m = margin(z, ctx.classes);
      const l = ctx.criterion.targeted ? m.neg() : m;
      const [g] = gradOf(l.sum(), [d]);
      return { logits: z.detach(), loss: l.detach(), grad: g! };
    }));
  }

  protected step(ctx: AttackContext, s: FmnState, t: number): FmnState {
    const { logits, loss, grad } = this.#marginGrad(ctx, s.delta);
    const adv = ctx.isAdversarial(logits);
    const norm = L2.distance(s.delta);
    const better = adv.logicalAnd(norm.lt(s.bestNorm));
    const col = (m: Tensor): Tensor => m.reshape([-1, 1, 1, 1]);
    const best = where(col(better), s.delta, s.best);
    const bestNorm = where(better, norm, s.bestNorm);
    const gamma = cosineAnneal(this.gammaInit, this.gammaFinal, t, this.#steps);
    const gradNorm = L2.distance(grad);
    const found = bestNorm.lt(Infinity);
    // Until the first adversarial point: the linearised distance to the boundary, overshot by 1e-3 of itself, as a
    // linear model's boundary is a fixed point of the update (the next step lands on it, never across).
    const grow = where(found, s.eps.mul(1 + gamma), norm.add(loss.abs().div(gradNorm.clamp(1e-12)).mul(1 + FMN_OVERSHOOT)));
    const shrink = s.eps.mul(1 - gamma).minimum(bestNorm);
    const eps = where(adv, shrink, grow);
    const alpha = cosineAnneal(this.alphaInit, this.alphaFinal, t, this.#steps);
    const moved = s.delta.sub(grad.div(col(gradNorm.add(1e-12))).mul(alpha));
    const projected = moved.mul(col(eps.div(L2.distance(moved).add(1e-12)).clamp(null, 1)));
    const delta = ctx.clip(ctx.x.add(projected)).sub(ctx.x);
    return { delta, eps, best, bestNorm };
  }

  protected override finish(ctx: AttackContext, s: FmnState): BatchOutcome {
    const adv = ctx.isAdversarial(ctx.logits(ctx.x.add(s.delta)));
    const better = adv.logicalAnd(L2.distance(s.delta).lt(s.bestNorm));
    const best = where(better.reshape([-1, 1, 1, 1]), s.delta, s.best);
    const found = better.logicalOr(s.bestNorm.lt(Infinity));
    return { adv: ctx.x.add(best), delta: best, success: found };
  }
}
