// The paper's one attack routine (METHOD.md §4): adversarial training, adversarial explanations and ARA all use it.
//
// δ₀ = 0; for t = 0 … T−1: g = ∂/∂δ Σ CE(f(x+δ), t) (negated when targeted: explanations "encourage" the target);
// follow_b decides between g_b and −δ_b (step back toward x); the direction is normalised by its RMS (+1e-8),
// optionally smoothed by momentum (not renormalised), masked by `affected`, and applied with the linear ramp
// ss_t = eps·overshoot·(T − t)/(T(T+1)/2). No sign step, no projection, no random start, no clamping.
//   budget:      follow while RMS(δ) < eps; returns δ_T.                                  (fixed-ε family)
//   misclassify: follow while argmax = label; returns the smallest-RMS δ among δ₀…δ_T that is misclassified.
//   btr:         follow while softmax[label] > 1/K; same minimisation.                   (minimising family)
// The reference's sanity rule: every sample must be across its boundary within the first ⌊T/2⌋ steps, else
// "increase eps or steps" (an AttackGuardError here; `guard: false` turns it off).
import { Tensor, tensor, zerosLike, full, where } from '../engine/index.js';
import type { Module } from '../nn/index.js';
import { Attack, type AttackContext, type BatchOutcome, type Criterion } from './base.js';

export type PaperMode = 'budget' | 'misclassify' | 'btr';

export interface PaperAttackOptions {
  /** budget: fixed ε (the ε comes from run()'s epsilons); minimize: the smallest crossing, boundary from the criterion. */
  mode: 'budget' | 'minimize';
  /** T, number of gradient steps. */
  steps: number;
  /** Budget of the minimising mode (the ARA uses 20). Ignored in budget mode. */
  eps?: number;
  /** Multiplier of the total step length, Σ ss_t = eps·overshoot (default 1). */
  overshoot?: number;
  /** Momentum m ∈ [0, 1) (default 0). */
  momentum?: number;
  /** The "increase eps or steps" sanity rule (default true). */
  guard?: boolean;
  /** Per sample of the whole input: 0 = leave this sample unperturbed (half-and-half adversarial training). */
  affected?: Uint8Array;
}

/** Raised when samples did not cross their boundary within the first ⌊T/2⌋ steps. */
export class AttackGuardError extends Error {
  override name = 'AttackGuardError';
  constructor(readonly samples: number[], readonly steps: number) {
    super(`${samples.length} sample(s) (${samples.slice(0, 8).join(', ')}${samples.length > 8 ? ', …' : ''}) did not cross `
      + `their boundary within the first ${Math.floor(steps / 2)} of ${steps} steps: increase eps or steps`);
  }
}

interface PaperState {
  delta: Tensor;
  mom?: Tensor;
  best?: Tensor;
  bestSq?: Tensor;
  firstOk: Tensor;
}

export class PaperAttack extends Attack<PaperState> {
  readonly name: string;
  readonly norm = 'rms' as const;
  readonly minimizing: boolean;
  readonly opts: Required<Omit<PaperAttackOptions, 'affected'>> & { affected?: Uint8Array };

  constructor(opts: PaperAttackOptions) {
    super(null);
    const o = { eps: NaN, overshoot: 1, momentum: 0, guard: true, ...opts };
    if (o.mode !== 'budget' && o.mode !== 'minimize') throw new Error(`paper attack: mode must be 'budget' or 'minimize', got '${String(o.mode)}'`);
    if (!Number.isInteger(o.steps) || o.steps < 1) throw new Error(`paper attack: steps must be a positive integer, got ${o.steps}`);
    if (!(o.overshoot > 0) || !Number.isFinite(o.overshoot)) throw new Error(`paper attack: overshoot must be > 0, got ${o.overshoot}`);
    if (!(o.momentum >= 0 && o.momentum < 1)) throw new Error(`paper attack: momentum must be in [0, 1), got ${o.momentum}`);
    if (o.mode === 'minimize' && !(o.eps > 0 && Number.isFinite(o.eps))) throw new Error(`paper attack: minimize mode needs eps > 0, got ${o.eps}`);
    this.opts = o;
    this.minimizing = o.mode === 'minimize';
    this.name = `paper-${o.mode}`;
  }

  get steps(): number { return this.opts.steps; }
  override get ownEps(): number { return this.opts.eps; }

  protected override validate(eps: number): void {
    if (!(eps > 0) || !Number.isFinite(eps)) throw new Error(`${this.name}: eps must be > 0, got ${eps}`);
  }

  protected init(ctx: AttackContext): PaperState {
    const B = ctx.x.shape[0]!;
    const s: PaperState = {
      delta: zerosLike(ctx.x),
      firstOk: full([B], this.opts.steps + 999, { dtype: 'int64' }),
    };
    if (this.opts.momentum > 0) s.mom = zerosLike(ctx.x);
    if (this.minimizing) {
      s.best = zerosLike(ctx.x);
      s.bestSq = full([B], 1e30);
    }
    return s;
  }

  /** follow_b and the bookkeeping at an evaluated iterate δ_t (shared by the steps and the extra evaluation). */
  #observe(ctx: AttackContext, s: PaperState, logits: Tensor, t: number): { follow: Tensor; firstOk: Tensor; best?: Tensor; bestSq?: Tensor } {
    const follow = this.minimizing
      ? ctx.isAdversarial(logits).logicalNot()
      : s.delta.square().mean([1, 2, 3]).lt(ctx.eps * ctx.eps);
    const ok = follow.logicalNot();
    const firstOk = where(ok.logicalAnd(s.firstOk.gt(t)), t, s.firstOk);
    if (!this.minimizing) return { follow, firstOk };
    const dd = s.delta.square().mean([1, 2, 3]);
    const better = ok.logicalAnd(dd.lt(s.bestSq!));
    const best = where(better.reshape([-1, 1, 1, 1]), s.delta, s.best!);
    const bestSq = where(better, dd, s.bestSq!);
    return { follow, firstOk, best, bestSq };
  }

  protected step(ctx: AttackContext, s: PaperState, t: number): PaperState {
    const { logits, grad } = ctx.gradient(s.delta);
    const o = this.#observe(ctx, s, logits, t);
    const { steps: T, overshoot, momentum } = this.opts;
    let dir = where(o.follow.reshape([-1, 1, 1, 1]), grad, s.delta.neg());
    dir = dir.div(dir.square().mean([1, 2, 3], true).sqrt().add(1e-8));
    let mom: Tensor | undefined;
    if (momentum > 0) {
      mom = s.mom!.mul(momentum).add(dir.mul(1 - momentum));
      dir = mom;
    }
    const aff = this.#affected(ctx);
    if (aff !== null) dir = dir.mul(aff);
    const ss = (ctx.eps * overshoot * (T - t)) / ((T * (T + 1)) / 2);
    const next: PaperState = { delta: s.delta.add(dir.mul(ss)), firstOk: o.firstOk };
    if (mom !== undefined) next.mom = mom;
    if (o.best !== undefined) { next.best = o.best; next.bestSq = o.bestSq!; }
    return next;
  }

  protected override finish(ctx: AttackContext, s: PaperState): BatchOutcome {
    const T = this.opts.steps;
    let firstOk = s.firstOk;
    let delta = s.delta;
    let success: Tensor | undefined;
    if (this.minimizing) {
      // The extra evaluation of δ_T: it may be the smallest crossing iterate.
      const o = this.#observe(ctx, s, ctx.logits(ctx.x.add(s.delta)), T);
      firstOk = o.firstOk;
      delta = o.best!;
      success = o.bestSq!.lt(1e29);
    }
    if (this.opts.guard) {
      const late = firstOk.gt(Math.floor(T / 2)).cast('uint8').data<Uint8Array>();
      const bad: number[] = [];
      late.forEach((v, j) => { if (v) bad.push(ctx.offset + j); });
      if (bad.length > 0) throw new AttackGuardError(bad, T);
    }
    const out: BatchOutcome = { adv: ctx.x.add(delta), delta, firstCrossing: firstOk };
    if (success !== undefined) out.success = success;
    return out;
  }

  #affected(ctx: AttackContext): Tensor | null {
    const a = this.opts.affected;
    if (a === undefined) return null;
    const B = ctx.x.shape[0]!;
    if (ctx.offset + B > a.length) throw new Error(`${this.name}: 'affected' has ${a.length} entries, the input has more samples`);
    return tensor(Float32Array.from(a.subarray(ctx.offset, ctx.offset + B), (v) => (v ? 1 : 0)), [B, 1, 1, 1]);
  }
}

export interface PaperRoutineOptions {
  mode: PaperMode;
  eps: number;
  steps: number;
  overshoot?: number;
  momentum?: number;
  /** Descend the target's cross-entropy (explanations). Budget mode only. */
  encourage?: boolean;
  guard?: boolean;
  /** Per sample: 0 = leave unperturbed. */
  affected?: Uint8Array;
}

/**
 * METHOD.md §4 as one call on a tensor batch, for training and explanations: x [B, C, H, W] in [0, 1],
 * t int64 [B] (labels, or targets with encourage). Returns x + δ, δ and the first crossing step per sample
 * (int64 [B], > steps if never), all in the caller's scope. The model is used in whatever mode it is in.
 */
export function paperRoutine(model: Module, x: Tensor, t: Tensor, opts: PaperRoutineOptions): { adv: Tensor; delta: Tensor; firstCrossing: Tensor } {
  if (opts.encourage && opts.mode !== 'budget') throw new Error(`paper routine: encourage works only in budget mode (got '${opts.mode}')`);
  const attack = new PaperAttack({
    mode: opts.mode === 'budget' ? 'budget' : 'minimize', steps: opts.steps, eps: opts.eps,
    overshoot: opts.overshoot ?? 1, momentum: opts.momentum ?? 0, guard: opts.guard ?? true,
    ...(opts.affected ? { affected: opts.affected } : {}),
  });
  const kind: Criterion['kind'] = opts.mode === 'btr' ? 'btr' : opts.encourage ? 'targeted' : 'misclassification';
  const r = attack.attackBatch(model, x, t.dtype === 'int64' ? t : t.cast('int64'), kind, opts.eps, { computeSuccess: false });
  return { adv: r.adv, delta: r.delta, firstCrossing: r.firstCrossing! };
}
