// Projected gradient descent (Madry et al.), L∞ and L2, and FGSM / FGM as its one-step case, with Foolbox 3's
// defaults: a random start inside the ε-ball, steps of rel_stepsize·ε (sign of the gradient for L∞, the
// L2-normalised gradient for L2), projection back onto the ε-ball around x and clipping to the bounds ([0, 1])
// after every step. Targeted runs descend the target's cross-entropy (the base signs the gradient).
import { cat, getRngState, manualSeed, setRngState, type Tensor } from '../engine/index.js';
import { positiveInteger, positiveNumber, FixedEpsilonAttack, type AttackContext } from './base.js';
import { NORMS, type Norm } from './norms.js';

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
  /**
   * Draw each image's random start from a generator seeded with (seed, the image's key: RunOptions.sampleKeys, else
   * its index in the run), so a start does not depend on batching or on which process attacks the image. Without
   * it, starts come from libtorch's generator stream as it stands.
   */
  seed?: number;
}

/** The seed of one image's random start (a plain mix; below 2^53). */
export function startSeed(seed: number, key: number): number {
  return (seed * 1_000_003 + key * 2_654_435 + 12_345) % 2 ** 52;
}

/** Foolbox 3's defaults per norm. */
const DEFAULTS = { linf: { steps: 40, relStepsize: 0.01 / 0.3 }, l2: { steps: 50, relStepsize: 0.025 } } as const;

interface PgdState { adv: Tensor }

export class PGD extends FixedEpsilonAttack<PgdState> {
  readonly name: string;
  readonly norm: Norm;
  readonly #steps: number;
  readonly relStepsize: number;
  readonly absStepsize: number | undefined;
  readonly randomStart: boolean;
  readonly seed: number | undefined;

  constructor(opts: PgdOptions) {
    super(opts.bounds === undefined ? [0, 1] : opts.bounds);
    if (opts.norm !== 'linf' && opts.norm !== 'l2') throw new Error(`pgd: norm must be 'linf' or 'l2', got '${String(opts.norm)}'`);
    this.norm = NORMS[opts.norm];
    this.#steps = opts.steps ?? DEFAULTS[opts.norm].steps;
    positiveInteger('pgd', 'steps', this.#steps);
    this.relStepsize = opts.relStepsize ?? DEFAULTS[opts.norm].relStepsize;
    this.absStepsize = opts.absStepsize;
    for (const [k, v] of [['relStepsize', this.relStepsize], ['absStepsize', this.absStepsize]] as const) {
      if (v !== undefined) positiveNumber('pgd', k, v);
    }
    this.randomStart = opts.randomStart ?? true;
    this.seed = opts.seed;
    this.name = `pgd-${opts.norm}`;
  }

  get steps(): number { return this.#steps; }

  protected override validate(eps: number): void {
    if (!(eps >= 0) || !Number.isFinite(eps)) throw new Error(`${this.name}: eps must be finite and ≥ 0, got ${eps}`);
  }

  protected init(ctx: AttackContext): PgdState {
    if (!this.randomStart || ctx.eps === 0) return { adv: ctx.x.clone() };
    if (this.seed === undefined) return { adv: ctx.clip(ctx.x.add(this.norm.randomStart(ctx.x.shape, ctx.eps))) };
    const seed = this.seed;
    const [B, ...rest] = ctx.x.shape;
    const saved = getRngState();
    try {
      const starts = Array.from({ length: B! }, (_, i) => {
        manualSeed(startSeed(seed, ctx.keys?.[i] ?? ctx.offset + i));
        return this.norm.randomStart([1, ...rest], ctx.eps);
      });
      return { adv: ctx.clip(ctx.x.add(cat(starts, 0))) };
    } finally {
      setRngState(saved);
      saved.dispose();
    }
  }

  protected step(ctx: AttackContext, s: PgdState, _t: number): PgdState {
    const { grad } = ctx.gradient(s.adv.sub(ctx.x));
    const alpha = this.absStepsize ?? this.relStepsize * ctx.eps;
    const delta = ctx.project(s.adv.add(this.norm.normalise(grad).mul(alpha)).sub(ctx.x));
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
