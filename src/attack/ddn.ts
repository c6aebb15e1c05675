// Decoupled Direction and Norm (Rony et al. 2019), L2, a minimisation attack in [0, 1]. δ₀ = 0, ε₀ = 1; each
// step moves δ along the L2-normalised gradient of the loss (cross-entropy: up for a label, down for a target) by
// α, then sets its norm to ε, which shrinks by a factor (1 − γ) while x + δ is adversarial and grows by (1 + γ)
// while it is not, and clips x + δ to [0, 1]. The smallest adversarial iterate is the result. α is annealed from
// 1 to 0.01 by a cosine (as Foolbox's DDN; the paper's α is fixed), γ = 0.05.
import { Tensor, full, zerosLike, where } from '../engine/index.js';
import { positiveInteger, positiveNumber, MinimizationAttack, type AttackContext, type BatchOutcome } from './base.js';
import { L2 } from './norms.js';

export interface DdnOptions {
  /** Steps (default 1000). */
  steps?: number;
  /** Initial norm ε₀ (default 1). */
  initEpsilon?: number;
  /** Norm change per step (default 0.05). */
  gamma?: number;
  /** First step size α (default 1), annealed to 0.01. */
  stepsize?: number;
}

/** Cosine annealing from `from` (step 0) to `to` (last step). */
export function cosineAnneal(from: number, to: number, t: number, steps: number): number {
  return to + (from - to) * (1 + Math.cos((Math.PI * t) / steps)) / 2;
}

interface DdnState { delta: Tensor; eps: Tensor; best: Tensor; bestNorm: Tensor }

export class DDN extends MinimizationAttack<DdnState> {
  readonly name = 'ddn';
  readonly norm = L2;
  readonly initEpsilon: number;
  readonly gamma: number;
  readonly stepsize: number;
  readonly #steps: number;

  constructor(opts: DdnOptions = {}) {
    super([0, 1]);
    this.#steps = positiveInteger('ddn', 'steps', opts.steps ?? 1000);
    this.initEpsilon = opts.initEpsilon ?? 1;
    this.gamma = opts.gamma ?? 0.05;
    this.stepsize = opts.stepsize ?? 1;
    for (const [k, v] of [['initEpsilon', this.initEpsilon], ['gamma', this.gamma], ['stepsize', this.stepsize]] as const) {
      positiveNumber('ddn', k, v);
    }
    if (this.gamma >= 1) throw new Error(`ddn: gamma must be < 1, got ${this.gamma}`);
  }

  get steps(): number { return this.#steps; }
  get budget(): number { return Infinity; }

  protected init(ctx: AttackContext): DdnState {
    const B = ctx.x.shape[0]!;
    return { delta: zerosLike(ctx.x), eps: full([B], this.initEpsilon), best: zerosLike(ctx.x), bestNorm: full([B], Infinity) };
  }

  protected step(ctx: AttackContext, s: DdnState, t: number): DdnState {
    const { logits, grad } = ctx.gradient(s.delta);
    const adv = ctx.isAdversarial(logits);
    const norm = L2.distance(s.delta);
    const better = adv.logicalAnd(norm.lt(s.bestNorm));
    const col = (m: Tensor): Tensor => m.reshape([-1, 1, 1, 1]);
    const best = where(col(better), s.delta, s.best);
    const bestNorm = where(better, norm, s.bestNorm);
    const eps = where(adv, s.eps.mul(1 - this.gamma), s.eps.mul(1 + this.gamma));
    const alpha = cosineAnneal(this.stepsize, 0.01, t, this.#steps);
    const moved = s.delta.add(L2.normalise(grad).mul(alpha));
    const scaled = moved.mul(col(eps.div(L2.distance(moved).add(1e-12))));
    const delta = ctx.clip(ctx.x.add(scaled)).sub(ctx.x);
    return { delta, eps, best, bestNorm };
  }

  protected override finish(ctx: AttackContext, s: DdnState): BatchOutcome {
    // The last iterate is evaluated too: it may be the smallest adversarial one.
    const adv = ctx.isAdversarial(ctx.logits(ctx.x.add(s.delta)));
    const better = adv.logicalAnd(L2.distance(s.delta).lt(s.bestNorm));
    const best = where(better.reshape([-1, 1, 1, 1]), s.delta, s.best);
    const found = better.logicalOr(s.bestNorm.lt(Infinity));
    return { adv: ctx.x.add(best), delta: best, success: found };
  }
}
