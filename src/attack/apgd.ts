// Auto-PGD (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble of diverse
// parameter-free attacks"), L∞ and L2, on the cross-entropy (APGD-CE) or the targeted DLR loss (APGD-T, the
// 9 classes ranked 2nd … 10th by the clean logits, one run each on the samples still robust).
// Per run (N iterations): a random start on the ε-sphere; a gradient step of size η (2ε at first) projected
// onto the ε-ball ∩ [0, 1], then momentum 0.75 toward the previous iterate (none at the first step). At the
// checkpoints w_j = ⌈p_j N⌉ (p₀ = 0, p₁ = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06)) η is halved
// and the iterate reset to the highest-loss point for every sample where (1) the loss went up in at most
// ρ = 75% of the steps since the last checkpoint, or (2) η was not halved at the last checkpoint and the best
// loss has not improved since. Every misclassified iterate counts: the attack returns the last one found.
import { Tensor, tidy, noGrad, enableGrad, gradOf, crossEntropy, rand, randn, full, zeros, where, manualSeed } from '../engine/index.js';
import type { Module } from '../nn/index.js';
import { positiveInteger, FixedEpsilonAttack, type AttackContext, type BatchAttackResult, type BatchOptions, type BatchOutcome } from './base.js';
import type { Criterion } from './criteria.js';
import { NORMS, type Norm } from './norms.js';
import { dlrLoss, dlrTargetedLoss, rankedClass, restrictCriterion, indicesWhere, indexTensor } from './losses.js';

export type ApgdLoss = 'ce' | 'dlr' | 'dlr-targeted';

export interface ApgdOptions {
  norm: 'linf' | 'l2';
  /** 'ce' (APGD-CE, default), 'dlr' or 'dlr-targeted' (APGD-T). */
  loss?: ApgdLoss;
  /** Iterations per run N (default 100). */
  steps?: number;
  /** Runs from fresh random starts on the samples still robust (default 1; per target class for APGD-T). */
  restarts?: number;
  /** APGD-T: target classes, ranked 2nd, 3rd, … by the clean logits (default 9, at most K − 1). */
  targets?: number;
  /** ρ of the checkpoint rule (default 0.75). */
  rho?: number;
  /** libtorch's generator is seeded with it at every batch (as the original seeds every call; default 0); null: not seeded. */
  seed?: number | null;
  /** Called at the start (t = −1) and after every iteration with the loss at the iterate and the step size of the next step. */
  onIteration?: (t: number, info: { loss: Float32Array; stepSize: Float32Array }) => void;
}

/**
 * The checkpoints of an N-iteration run: after how many iterations the step size is checked, and the length
 * of the period each closes (⌈p_j N⌉ with the paper's p_j, as whole iterations: periods of ⌊0.22N⌋, then each
 * ⌊0.03N⌋ shorter, never below ⌊0.06N⌋).
 */
export function apgdCheckpoints(steps: number): { at: number; period: number }[] {
  const out: { at: number; period: number }[] = [];
  let k = Math.max(Math.floor(0.22 * steps), 1);
  const min = Math.max(Math.floor(0.06 * steps), 1);
  const decr = Math.max(Math.floor(0.03 * steps), 1);
  for (let at = k; at <= steps; at += k) {
    out.push({ at, period: k });
    k = Math.max(k - decr, min);
  }
  return out;
}

interface ApgdState {
  adv: Tensor;
  /** The iterate before adv (momentum term adv − prev). */
  prev: Tensor;
  grad: Tensor;
  loss: Tensor;
  best: Tensor;
  gradBest: Tensor;
  lossBest: Tensor;
  /** The last misclassified iterate, and whether there is one. */
  bestAdv: Tensor;
  found: Tensor;
  /** η per sample [B, 1, 1, 1]. */
  stepSize: Tensor;
  /** Loss increases since the last checkpoint [B]. */
  increases: Tensor;
  reducedLast: Tensor;
  lossBestLastCheck: Tensor;
}

export class APGD extends FixedEpsilonAttack<ApgdState> {
  readonly name: string;
  readonly norm: Norm;
  readonly loss: ApgdLoss;
  readonly restarts: number;
  readonly targets: number;
  readonly rho: number;
  readonly seed: number | null;
  readonly onIteration: ApgdOptions['onIteration'];
  readonly #steps: number;
  readonly #checks: Map<number, number>;
  /** Target classes of the run in progress (APGD-T). */
  #runTargets: Tensor | null = null;

  constructor(opts: ApgdOptions) {
    super([0, 1]);
    if (opts.norm !== 'linf' && opts.norm !== 'l2') throw new Error(`apgd: norm must be 'linf' or 'l2', got '${String(opts.norm)}'`);
    this.norm = NORMS[opts.norm];
    this.loss = opts.loss ?? 'ce';
    if (!['ce', 'dlr', 'dlr-targeted'].includes(this.loss)) throw new Error(`apgd: loss must be ce, dlr or dlr-targeted, got '${this.loss}'`);
    this.#steps = opts.steps ?? 100;
    this.restarts = opts.restarts ?? 1;
    this.targets = opts.targets ?? 9;
    this.rho = opts.rho ?? 0.75;
    this.seed = opts.seed === undefined ? 0 : opts.seed;
    this.onIteration = opts.onIteration;
    for (const [k, v] of [['steps', this.#steps], ['restarts', this.restarts], ['targets', this.targets]] as const) {
      positiveInteger('apgd', k, v);
    }
    if (!(this.rho > 0 && this.rho <= 1)) throw new Error(`apgd: rho must be in (0, 1], got ${this.rho}`);
    this.#checks = new Map(apgdCheckpoints(this.#steps).map((c) => [c.at, c.period]));
    this.name = `apgd-${this.loss === 'dlr-targeted' ? 't' : this.loss}-${opts.norm}`;
  }

  get steps(): number { return this.#steps; }

  protected override validate(eps: number): void {
    if (!(eps > 0) || !Number.isFinite(eps)) throw new Error(`${this.name}: eps must be finite and > 0, got ${eps}`);
  }

  /**
   * The runs on one batch: each restart (and, for APGD-T, each target class) attacks only the samples no run
   * has broken yet. Returns the first adversarial image found per sample, else the clean one.
   */
  override attackBatch(model: Module, x: Tensor, criterion: Criterion, eps: number, opts: BatchOptions & { computeSuccess?: boolean } = {}): BatchAttackResult {
    if (this.loss !== 'ce' && criterion.targeted) throw new Error(`${this.name}: the DLR losses are untargeted (the attack picks its own targets)`);
    this.validate(eps);
    const offset = opts.offset ?? 0;
    const B = x.shape[0]!;
    if (this.seed !== null) manualSeed(this.seed);
    return tidy(() => {
      let adv = x.clone();
      let success = zeros([B], { dtype: 'bool' });
      const K = noGrad(() => model.call(x.slice(0, 0, 1))).shape[1]!;
      const targeted = this.loss === 'dlr-targeted';
      const runs: number[] = [];
      for (let r = 0; r < (targeted ? Math.min(this.targets, K - 1) : 1); r++) for (let k = 0; k < this.restarts; k++) runs.push(r + 1);
      for (const rank of runs) {
        const idx = indicesWhere(success, false);
        if (idx.length === 0) break;
        tidy(() => {
          const it = indexTensor(idx);
          const xs = x.index(it);
          const sub = restrictCriterion(criterion, idx.map((i) => offset + i));
          this.#runTargets = targeted ? noGrad(() => rankedClass(model.call(xs), rank)) : null;
          try {
            const r = this.perturb(model, xs, sub, eps, { offset: 0, onStep: opts.onStep }, true);
            const won = r.success!;
            const put = it.index(won);
            const nextAdv = adv.indexPut(put, r.adv.index(won));
            const nextSuccess = success.indexPut(put, won.index(won));
            adv.dispose(); success.dispose();
            adv = nextAdv; success = nextSuccess;
            return [adv, success];
          } finally {
            this.#runTargets = null;
          }
        });
      }
      return { adv, delta: adv.sub(x), success };
    });
  }

  /** Per-sample loss, its input gradient and the logits at an input batch (all detached). */
  #lossGrad(ctx: AttackContext, input: Tensor): { logits: Tensor; loss: Tensor; grad: Tensor } {
    return tidy(() => enableGrad(() => {
      const xr = input.detach().requiresGrad_(true);
      const logits = ctx.model.call(xr);
      let l: Tensor;
      if (this.loss === 'ce') l = ctx.criterion.targeted ? crossEntropy(logits, ctx.classes, 'none').neg() : crossEntropy(logits, ctx.classes, 'none');
      else if (this.loss === 'dlr') l = dlrLoss(logits, ctx.classes);
      else l = dlrTargetedLoss(logits, ctx.classes, this.#runTargets!);
      const [g] = gradOf(l.sum(), [xr]);
      return { logits: logits.detach(), loss: l.detach(), grad: g! };
    }));
  }

  /** Onto the ε-ball around x, then into [0, 1] (the original's order). */
  #project(ctx: AttackContext, v: Tensor): Tensor {
    const x = ctx.x;
    if (this.norm.name === 'linf') return v.maximum(x.sub(ctx.eps)).minimum(x.add(ctx.eps)).clamp(0, 1);
    const d = v.sub(x);
    const n = l2PerSample(d);
    return x.add(d.div(n.add(1e-12)).mul(n.clamp(null, ctx.eps))).clamp(0, 1);
  }

  /** Unit direction in the attack's norm (L∞: divided by the largest |value|, as the original's normalize()). */
  #normalize(t: Tensor): Tensor {
    const n = this.norm.name === 'linf' ? t.abs().amax([1, 2, 3], true) : l2PerSample(t);
    return t.div(n.add(1e-12));
  }

  protected init(ctx: AttackContext): ApgdState {
    const { x, eps } = ctx;
    const t = this.norm.name === 'linf' ? rand(x.shape).mul(2).sub(1) : randn(x.shape);
    const adv = x.add(this.#normalize(t).mul(eps)).clamp(0, 1);
    const { logits, loss, grad } = this.#lossGrad(ctx, adv);
    const B = x.shape[0]!;
    return this.#report(-1, {
      adv, prev: adv, grad, loss, best: adv, gradBest: grad, lossBest: loss, bestAdv: adv, found: ctx.isAdversarial(logits),
      stepSize: full([B, 1, 1, 1], 2 * eps), increases: zeros([B]), reducedLast: full([B], 1).cast('bool'), lossBestLastCheck: loss,
    });
  }

  protected step(ctx: AttackContext, s: ApgdState, t: number): ApgdState {
    const a = t > 0 ? 0.75 : 1;
    const dir = this.norm.name === 'linf' ? s.grad.sign() : this.#normalize(s.grad);
    const z = this.#project(ctx, s.adv.add(dir.mul(s.stepSize)));
    const next = this.#project(ctx, s.adv.add(z.sub(s.adv).mul(a)).add(s.adv.sub(s.prev).mul(1 - a)));
    const { logits, loss, grad } = this.#lossGrad(ctx, next);
    const wrong = ctx.isAdversarial(logits);
    const col = (m: Tensor): Tensor => m.reshape([-1, 1, 1, 1]);
    const found = s.found.logicalOr(wrong);
    const bestAdv = where(col(wrong), next, s.bestAdv);
    const increases = s.increases.add(loss.gt(s.loss).cast('float32'));
    const up = loss.gt(s.lossBest);
    const best = where(col(up), next, s.best);
    const gradBest = where(col(up), grad, s.gradBest);
    const lossBest = where(up, loss, s.lossBest);
    const out: ApgdState = { ...s, adv: next, prev: s.adv, grad, loss, best, gradBest, lossBest, bestAdv, found, increases };
    const period = this.#checks.get(t + 1);
    if (period === undefined) return this.#report(t, out);
    // Checkpoint: halve η and restart from the best point where the loss oscillated or stalled.
    const oscillating = increases.le(period * this.rho);
    const stalled = s.reducedLast.logicalNot().logicalAnd(s.lossBestLastCheck.ge(lossBest));
    const reduce = oscillating.logicalOr(stalled);
    return this.#report(t, {
      ...out,
      stepSize: where(col(reduce), s.stepSize.mul(0.5), s.stepSize),
      adv: where(col(reduce), best, next),
      grad: where(col(reduce), gradBest, grad),
      increases: zeros(increases.shape),
      reducedLast: reduce,
      lossBestLastCheck: lossBest,
    });
  }

  #report(t: number, s: ApgdState): ApgdState {
    this.onIteration?.(t, { loss: s.loss.data(), stepSize: s.stepSize.reshape([-1]).data() });
    return s;
  }

  protected override finish(ctx: AttackContext, s: ApgdState): BatchOutcome {
    return { adv: where(s.found.reshape([-1, 1, 1, 1]), s.bestAdv, ctx.x), success: s.found };
  }
}

/** ‖d‖₂ per sample, [B, 1, 1, 1]. */
export const l2PerSample = (d: Tensor): Tensor => d.square().sum([1, 2, 3], true).sqrt();
