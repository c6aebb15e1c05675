// The paper's one attack routine (METHOD.md §4) as two attacks sharing one step:
//   PaperBudgetAttack (fixed-ε family): follow while RMS(δ) < ε, return δ_T. Adversarial training, explanations.
//   PaperMinimalAttack (minimisation family): follow while the criterion does not hold, return the smallest-RMS
//     iterate among δ₀…δ_T that meets it. ARA (Attack: misclassification, BTR: p(label) ≤ 1/K), L2,min training.
// The step: δ₀ = 0; g = ∂/∂δ Σ CE(f(x+δ), class), negated when the criterion is targeted (explanations descend
// the target's cross-entropy); follow_b picks g_b or −δ_b (back toward x); the direction is divided by its RMS
// (+1e-8), optionally smoothed by momentum (not renormalised), masked by `affected`, and applied with the linear
// ramp ss_t = eps·overshoot·(T − t)/(T(T+1)/2). No sign step, no projection, no random start, no clamping.
// The reference's sanity rule: every sample must be across its boundary within the first ⌊T/2⌋ steps, else
// "increase eps or steps" (an AttackGuardError here; `guard: false` turns it off).
import { Tensor, tensor, zerosLike, full, where } from '../engine/index.js';
import { positiveInteger, positiveNumber, FixedEpsilonAttack, MinimizationAttack, type AttackContext, type BatchOutcome } from './base.js';
import { RMS } from './norms.js';

export interface PaperOptions {
  /** T, number of gradient steps. */
  steps: number;
  /** Multiplier of the total step length, Σ ss_t = eps·overshoot (default 1). */
  overshoot?: number;
  /** Momentum m ∈ [0, 1) (default 0). */
  momentum?: number;
  /** The "increase eps or steps" sanity rule (default true). */
  guard?: boolean;
  /** Per sample of the whole input: 0 = leave this sample unperturbed (half-and-half adversarial training). */
  affected?: Uint8Array | undefined;
}

export interface PaperMinimalOptions extends PaperOptions {
  /** The search's budget: the step sizes sum to eps·overshoot (the ARA uses 20). */
  eps: number;
}

/** Raised when samples did not cross their boundary within the first ⌊T/2⌋ steps. */
export class AttackGuardError extends Error {
  override name = 'AttackGuardError';
  constructor(readonly samples: number[], readonly steps: number) {
    super(`${samples.length} sample(s) (${samples.slice(0, 8).join(', ')}${samples.length > 8 ? ', …' : ''}) did not cross `
      + `their boundary within the first ${Math.floor(steps / 2)} of ${steps} steps: increase eps or steps`);
  }
}

/** Step t of the linear ramp-down over T steps: Σ_t = eps·overshoot, the first step the largest. */
export function rampStepSize(eps: number, overshoot: number, steps: number, t: number): number {
  return (eps * overshoot * (steps - t)) / ((steps * (steps + 1)) / 2);
}

interface PaperState {
  delta: Tensor;
  mom?: Tensor;
  /** int64 [B]: first step at which the sample was across its boundary (steps + 999 until then, as bench/torch_attack.py). */
  firstOk: Tensor;
}

/** The step both paper attacks share: its options, the direction, momentum, mask, ramp and the guard. */
class PaperStep {
  readonly steps: number;
  readonly overshoot: number;
  readonly momentum: number;
  readonly guard: boolean;
  readonly affected: Uint8Array | undefined;

  constructor(readonly name: string, o: PaperOptions) {
    this.steps = o.steps;
    this.overshoot = o.overshoot ?? 1;
    this.momentum = o.momentum ?? 0;
    this.guard = o.guard ?? true;
    this.affected = o.affected;
    positiveInteger(name, 'steps', this.steps);
    positiveNumber(name, 'overshoot', this.overshoot);
    if (!(this.momentum >= 0 && this.momentum < 1)) throw new Error(`${name}: momentum must be in [0, 1), got ${this.momentum}`);
  }

  init(ctx: AttackContext): PaperState {
    const s: PaperState = { delta: zerosLike(ctx.x), firstOk: full([ctx.x.shape[0]!], this.steps + 999, { dtype: 'int64' }) };
    if (this.momentum > 0) s.mom = zerosLike(ctx.x);
    return s;
  }

  /** firstOk after evaluating δ_t: t where the sample is across (ok) for the first time. */
  firstOk(s: PaperState, ok: Tensor, t: number): Tensor {
    return where(ok.logicalAnd(s.firstOk.gt(t)), t, s.firstOk);
  }

  /** δ_{t+1} from δ_t: follow the gradient where `follow`, else step back toward x. */
  advance(ctx: AttackContext, s: PaperState, grad: Tensor, follow: Tensor, t: number): PaperState {
    let dir = RMS.normalise(where(follow.reshape([-1, 1, 1, 1]), grad, s.delta.neg()));
    let mom: Tensor | undefined;
    if (this.momentum > 0) {
      mom = s.mom!.mul(this.momentum).add(dir.mul(1 - this.momentum));
      dir = mom;
    }
    const aff = this.#affected(ctx);
    if (aff !== null) dir = dir.mul(aff);
    const next: PaperState = { delta: s.delta.add(dir.mul(rampStepSize(ctx.eps, this.overshoot, this.steps, t))), firstOk: s.firstOk };
    if (mom !== undefined) next.mom = mom;
    return next;
  }

  /** The sanity rule on the first crossings (input-wide sample numbers in the error). */
  check(ctx: AttackContext, firstOk: Tensor): void {
    if (!this.guard) return;
    const late = firstOk.gt(Math.floor(this.steps / 2)).cast('uint8').data<Uint8Array>();
    const bad: number[] = [];
    late.forEach((v, j) => { if (v) bad.push(ctx.offset + j); });
    if (bad.length > 0) throw new AttackGuardError(bad, this.steps);
  }

  #affected(ctx: AttackContext): Tensor | null {
    const a = this.affected;
    if (a === undefined) return null;
    const B = ctx.x.shape[0]!;
    if (ctx.offset + B > a.length) throw new Error(`${this.name}: 'affected' has ${a.length} entries, the input has more samples`);
    return tensor(Float32Array.from(a.subarray(ctx.offset, ctx.offset + B), (v) => (v ? 1 : 0)), [B, 1, 1, 1]);
  }
}

/** Mean square per sample [B]: RMS² (compared with eps² to spare the root). */
const meanSquare = (d: Tensor): Tensor => d.square().mean([1, 2, 3]);

/** The routine with a fixed RMS budget ε (from run()'s epsilons or attackBatch): returns x + δ_T. */
export class PaperBudgetAttack extends FixedEpsilonAttack<PaperState> {
  readonly name = 'paper-budget';
  readonly norm = RMS;
  readonly #step: PaperStep;

  constructor(opts: PaperOptions) {
    super(null);
    this.#step = new PaperStep(this.name, opts);
  }

  get steps(): number { return this.#step.steps; }

  protected override validate(eps: number): void {
    if (!(eps > 0) || !Number.isFinite(eps)) throw new Error(`${this.name}: eps must be > 0, got ${eps}`);
  }

  protected init(ctx: AttackContext): PaperState { return this.#step.init(ctx); }

  protected step(ctx: AttackContext, s: PaperState, t: number): PaperState {
    const { grad } = ctx.gradient(s.delta);
    const follow = meanSquare(s.delta).lt(ctx.eps * ctx.eps);
    return this.#step.advance(ctx, { ...s, firstOk: this.#step.firstOk(s, follow.logicalNot(), t) }, grad, follow, t);
  }

  protected override finish(ctx: AttackContext, s: PaperState): BatchOutcome {
    this.#step.check(ctx, s.firstOk);
    return { adv: ctx.x.add(s.delta), delta: s.delta, firstCrossing: s.firstOk };
  }
}

interface MinimalState extends PaperState {
  /** The smallest crossing iterate so far (0 until one is found) and its mean square (Infinity until then). */
  best: Tensor;
  bestSq: Tensor;
}

/**
 * The routine searching, within its budget eps, the smallest-RMS perturbation that meets the criterion: every
 * iterate δ₀…δ_T is evaluated (one extra forward after the last step); where none meets it, the clean image.
 */
export class PaperMinimalAttack extends MinimizationAttack<MinimalState> {
  readonly name = 'paper-minimal';
  readonly norm = RMS;
  readonly #step: PaperStep;
  readonly #eps: number;

  constructor(opts: PaperMinimalOptions) {
    super(null);
    this.#step = new PaperStep(this.name, opts);
    if (!(opts.eps > 0 && Number.isFinite(opts.eps))) throw new Error(`${this.name}: needs eps > 0, got ${opts.eps}`);
    this.#eps = opts.eps;
  }

  get steps(): number { return this.#step.steps; }
  get budget(): number { return this.#eps; }

  protected init(ctx: AttackContext): MinimalState {
    return { ...this.#step.init(ctx), best: zerosLike(ctx.x), bestSq: full([ctx.x.shape[0]!], Infinity) };
  }

  /** follow_b and the bookkeeping at an evaluated iterate δ_t (the steps and the extra evaluation). */
  #observe(ctx: AttackContext, s: MinimalState, logits: Tensor, t: number): { follow: Tensor; state: MinimalState } {
    const follow = ctx.isAdversarial(logits).logicalNot();
    const ok = follow.logicalNot();
    const firstOk = this.#step.firstOk(s, ok, t);
    const dd = meanSquare(s.delta);
    const better = ok.logicalAnd(dd.lt(s.bestSq));
    const best = where(better.reshape([-1, 1, 1, 1]), s.delta, s.best);
    const bestSq = where(better, dd, s.bestSq);
    return { follow, state: { ...s, firstOk, best, bestSq } };
  }

  protected step(ctx: AttackContext, s: MinimalState, t: number): MinimalState {
    const { logits, grad } = ctx.gradient(s.delta);
    const o = this.#observe(ctx, s, logits, t);
    const next = this.#step.advance(ctx, o.state, grad, o.follow, t);
    return { ...next, best: o.state.best, bestSq: o.state.bestSq };
  }

  protected override finish(ctx: AttackContext, s: MinimalState): BatchOutcome {
    // The extra evaluation of δ_T: it may be the smallest crossing iterate.
    const { state } = this.#observe(ctx, s, ctx.logits(ctx.x.add(s.delta)), this.steps);
    this.#step.check(ctx, state.firstOk);
    return { adv: ctx.x.add(state.best), delta: state.best, success: state.bestSq.lt(Infinity), firstCrossing: state.firstOk };
  }
}
