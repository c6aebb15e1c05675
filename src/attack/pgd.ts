// Projected gradient descent (Madry et al.), L∞ and L2, and FGSM / FGM as its one-step case, with Foolbox 3's
// defaults: a random start inside the ε-ball, steps of rel_stepsize·ε (sign of the gradient for L∞, the
// L2-normalised gradient for L2), projection back onto the ε-ball around x and clipping to the bounds ([0, 1])
// after every step. Targeted runs descend the target's cross-entropy (the base signs the gradient).
import { Tensor, rand, randn } from '../engine/index.js';
import { Attack, perSampleNorm, type AttackContext } from './base.js';

export interface PgdOptions {
  norm: 'linf' | 'l2';
  /** Steps (Foolbox: 40 for L∞, 50 for L2). */
  steps?: number;
  /** Step size as a fraction of ε (Foolbox: 0.01/0.3 for L∞, 0.025 for L2). */
  relStepsize?: number;
  /** Absolute step size; overrides relStepsize. */
  absStepsize?: number;
  /** Start at a uniformly random point of the ε-ball (default true). */
  randomStart?: boolean;
  /** Clip bounds (default [0, 1]); null for none. */
  bounds?: readonly [number, number] | null;
}

interface PgdState { adv: Tensor }

export class PGD extends Attack<PgdState> {
  readonly name: string;
  readonly norm: 'linf' | 'l2';
  readonly minimizing = false;
  readonly #steps: number;
  readonly relStepsize: number;
  readonly absStepsize: number | undefined;
  readonly randomStart: boolean;

  constructor(opts: PgdOptions) {
    super(opts.bounds === undefined ? [0, 1] : opts.bounds);
    if (opts.norm !== 'linf' && opts.norm !== 'l2') throw new Error(`pgd: norm must be 'linf' or 'l2', got '${String(opts.norm)}'`);
    this.norm = opts.norm;
    this.#steps = opts.steps ?? (opts.norm === 'linf' ? 40 : 50);
    if (!Number.isInteger(this.#steps) || this.#steps < 1) throw new Error(`pgd: steps must be a positive integer, got ${this.#steps}`);
    this.relStepsize = opts.relStepsize ?? (opts.norm === 'linf' ? 0.01 / 0.3 : 0.025);
    this.absStepsize = opts.absStepsize;
    for (const [k, v] of [['relStepsize', this.relStepsize], ['absStepsize', this.absStepsize]] as const) {
      if (v !== undefined && !(v > 0 && Number.isFinite(v))) throw new Error(`pgd: ${k} must be > 0, got ${v}`);
    }
    this.randomStart = opts.randomStart ?? true;
    this.name = `pgd-${opts.norm}`;
  }

  get steps(): number { return this.#steps; }

  protected override validate(eps: number): void {
    if (!(eps >= 0) || !Number.isFinite(eps)) throw new Error(`${this.name}: eps must be finite and ≥ 0, got ${eps}`);
  }

  protected init(ctx: AttackContext): PgdState {
    if (!this.randomStart || ctx.eps === 0) return { adv: ctx.x.clone() };
    const x = ctx.x;
    let r: Tensor;
    if (this.norm === 'linf') {
      r = rand(x.shape).mul(2 * ctx.eps).sub(ctx.eps);
    } else {
      // Uniform in the L2 ball: a random direction times ε·u^(1/D).
      const D = x.size / x.shape[0]!;
      const g = randn(x.shape);
      const unit = g.div(perSampleNorm(g, 'l2').add(1e-12).reshape([-1, 1, 1, 1]));
      r = unit.mul(rand([x.shape[0]!, 1, 1, 1]).pow(1 / D).mul(ctx.eps));
    }
    return { adv: ctx.clip(x.add(r)) };
  }

  protected step(ctx: AttackContext, s: PgdState, _t: number): PgdState {
    const { grad } = ctx.gradient(s.adv.sub(ctx.x));
    const alpha = this.absStepsize ?? this.relStepsize * ctx.eps;
    let delta: Tensor;
    if (this.norm === 'linf') {
      delta = s.adv.add(grad.sign().mul(alpha)).sub(ctx.x).clamp(-ctx.eps, ctx.eps);
    } else {
      const gn = grad.div(perSampleNorm(grad, 'l2').add(1e-12).reshape([-1, 1, 1, 1]));
      const d = s.adv.add(gn.mul(alpha)).sub(ctx.x);
      const scale = perSampleNorm(d, 'l2').add(1e-12).reciprocal().mul(ctx.eps).clamp(0, 1);
      delta = d.mul(scale.reshape([-1, 1, 1, 1]));
    }
    return { adv: ctx.clip(ctx.x.add(delta)) };
  }
}

/** Fast gradient sign method (L∞): one step of size ε from x, no random start. norm 'l2' gives FGM. */
export class FGSM extends PGD {
  override readonly name: string;
  constructor(opts: { norm?: 'linf' | 'l2'; bounds?: readonly [number, number] | null } = {}) {
    super({ norm: opts.norm ?? 'linf', steps: 1, relStepsize: 1, randomStart: false, ...(opts.bounds !== undefined ? { bounds: opts.bounds } : {}) });
    this.name = (opts.norm ?? 'linf') === 'linf' ? 'fgsm' : 'fgm';
  }
}
