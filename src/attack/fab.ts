// FAB-T, the targeted Fast Adaptive Boundary attack (Croce & Hein 2020, "Minimally distorted adversarial
// examples with a fast adaptive boundary attack"), L∞ and L2: a minimisation attack. For each target t (the
// classes ranked 2nd … 10th by the clean logits) it linearises f = z_t − z_y at the iterate x_k, projects both
// x_k and the clean x onto the hyperplane f = 0 inside the box [0, 1] (δ_k, δ_orig: the smallest such steps
// in the norm), and moves to
//   x_{k+1} = clip((1 − α)(x_k + η δ_k) + α (x + η δ_orig)),  α = min(‖δ_k‖ / (‖δ_k‖ + ‖δ_orig‖), α_max),
// η = 1.05 (overshoot), α_max = 0.1; where x_{k+1} is adversarial it is kept when smaller than the best so far
// and pulled back toward x: x + β (x_{k+1} − x), β = 0.9. The smallest adversarial image over all targets is the
// result. With `eps` (AutoAttack), a target runs only on the samples not yet broken within eps.
import { Tensor, tidy, noGrad, enableGrad, gradOf, zeros, full, where, cat } from '../engine/index.js';
import type { Module } from '../nn/index.js';
import { positiveInteger, MinimizationAttack, type AttackContext, type BatchAttackResult, type BatchOptions, type BatchOutcome } from './base.js';
import type { Criterion } from './criteria.js';
import { NORMS, type Norm } from './norms.js';
import { pick, rankedClass, restrictCriterion, indicesWhere, indexTensor } from './losses.js';

export interface FabOptions {
  norm: 'linf' | 'l2';
  /** Iterations per target (default 100). */
  steps?: number;
  /** Target classes, ranked 2nd, 3rd, … by the clean logits (default 9, at most K − 1). */
  targets?: number;
  alphaMax?: number;
  eta?: number;
  beta?: number;
  /** When set, a target runs only on the samples not yet broken within eps (AutoAttack's fixed-ε use). */
  eps?: number;
}

/**
 * The smallest step d (in L2 or L∞) with w·(t + d) = b and t + d ∈ [0, 1], per row of t, w [N, D], b [N]:
 * d_i = clip(λ·s_i, −t_i, 1 − t_i) with s = σw (L2) or σ·sign(w) (L∞), σ the side to move to, and λ ≥ 0 found
 * by bisection on the monotone w·d(λ) (where the box cannot reach the plane: the box corner nearest to it).
 */
export function boxProjection(norm: 'l2' | 'linf', t: Tensor, w: Tensor, b: Tensor): Tensor {
  return tidy(() => {
    const c = b.sub(w.mul(t).sum(1));
    const sigma = where(c.ge(0), 1, -1).reshape([-1, 1]);
    const dir = norm === 'l2' ? w.mul(sigma) : w.sign().mul(sigma);
    const need = c.abs().reshape([-1, 1]);
    const lo = t.neg(), hi = t.neg().add(1);
    const ws = w.mul(sigma);
    const reach = (lam: Tensor): Tensor => ws.mul(dir.mul(lam).clamp(lo, hi)).sum(1, true);
    let a: Tensor, z: Tensor;
    if (norm === 'linf') {
      // Beyond λ = 1 every coordinate is at its bound.
      a = zeros(need.shape); z = full(need.shape, 1);
    } else {
      // λ from the unconstrained solution (a lower bound) up to where every coordinate is at its bound.
      const w2 = ws.square().sum(1, true);
      a = need.div(w2.add(1e-30));
      const bound = where(dir.gt(0), hi, lo).div(where(dir.eq(0), 1, dir)).maskedFill(dir.eq(0), 0);
      z = bound.amax(1, true).maximum(a).add(1e-30);
      a = a.clamp(1e-30);
    }
    const logScale = norm === 'l2';
    for (let i = 0; i < 60; i++) {
      const mid = logScale ? a.mul(z).sqrt() : a.add(z).mul(0.5);
      const ok = reach(mid).ge(need);
      z = where(ok, mid, z);
      a = where(ok, a, mid);
    }
    return dir.mul(z).clamp(lo, hi);
  });
}

interface FabState { x1: Tensor; best: Tensor; bestNorm: Tensor }

export class FAB extends MinimizationAttack<FabState> {
  readonly name: string;
  readonly norm: Norm;
  readonly targets: number;
  readonly alphaMax: number;
  readonly eta: number;
  readonly beta: number;
  readonly eps: number | undefined;
  readonly #steps: number;
  #runTargets: Tensor | null = null;

  constructor(opts: FabOptions) {
    super([0, 1]);
    if (opts.norm !== 'linf' && opts.norm !== 'l2') throw new Error(`fab: norm must be 'linf' or 'l2', got '${String(opts.norm)}'`);
    this.norm = NORMS[opts.norm];
    this.#steps = opts.steps ?? 100;
    this.targets = opts.targets ?? 9;
    for (const [k, v] of [['steps', this.#steps], ['targets', this.targets]] as const) {
      positiveInteger('fab', k, v);
    }
    this.alphaMax = opts.alphaMax ?? 0.1;
    this.eta = opts.eta ?? 1.05;
    this.beta = opts.beta ?? 0.9;
    this.eps = opts.eps;
    if (this.eps !== undefined && !(this.eps > 0)) throw new Error(`fab: eps must be > 0, got ${this.eps}`);
    this.name = `fab-t-${opts.norm}`;
  }

  get steps(): number { return this.#steps; }
  get budget(): number { return this.eps ?? Infinity; }

  /** Per target, a run on the samples that need it; the smallest adversarial image over the targets. */
  override attackBatch(model: Module, x: Tensor, criterion: Criterion, opts: BatchOptions = {}): BatchAttackResult & { success: Tensor } {
    if (criterion.targeted) throw new Error(`${this.name}: picks its own targets; give it an untargeted criterion`);
    const offset = opts.offset ?? 0;
    const B = x.shape[0]!;
    return tidy(() => {
      const classes = noGrad(() => {
        const z = model.call(x);
        return { K: z.shape[1]!, adv: criterion.isAdversarial(z, indexTensor(Array.from(criterion.classes.subarray(offset, offset + B)))) };
      });
      let adv = x.clone();
      let success = classes.adv;
      let dist = where(success, 0, Infinity);
      for (let rank = 1; rank <= Math.min(this.targets, classes.K - 1); rank++) {
        const need = this.eps === undefined ? classes.adv.logicalNot() : dist.gt(this.eps);
        const idx = indicesWhere(need.logicalAnd(classes.adv.logicalNot()));
        if (idx.length === 0) break;
        [adv, success, dist] = tidy(() => {
          const it = indexTensor(idx);
          const xs = x.index(it);
          const sub = restrictCriterion(criterion, idx.map((i) => offset + i));
          this.#runTargets = noGrad(() => rankedClass(model.call(xs), rank));
          try {
            const r = this.perturb(model, xs, sub, Infinity, { offset: 0, onStep: opts.onStep }, true);
            const d = where(r.success!, this.norm.distance(r.delta), Infinity);
            const better = d.lt(dist.index(it));
            const put = it.index(better);
            return [adv.indexPut(put, r.adv.index(better)), success.indexPut(put, better.index(better)), dist.indexPut(put, d.index(better))];
          } finally {
            this.#runTargets = null;
          }
        });
      }
      return { adv, delta: adv.sub(x), success };
    });
  }

  protected init(ctx: AttackContext): FabState {
    return { x1: ctx.x.clone(), best: ctx.x.clone(), bestNorm: full([ctx.x.shape[0]!], Infinity) };
  }

  protected step(ctx: AttackContext, s: FabState, _t: number): FabState {
    const x0 = ctx.x;
    const B = x0.shape[0]!;
    const target = this.#runTargets!;
    // f = z_t − z_y at x1 and its gradient: the plane is w·z = b with w = ∇f, b = w·x1 − f.
    const { f, g } = tidy(() => enableGrad(() => {
      const xr = s.x1.detach().requiresGrad_(true);
      const z = ctx.model.call(xr);
      const diff = pick(z, target).sub(pick(z, ctx.classes));
      const [grad] = gradOf(diff.sum(), [xr]);
      return { f: diff.detach(), g: grad! };
    }));
    const w = g.reshape([B, -1]);
    const x1f = s.x1.reshape([B, -1]);
    const b = w.mul(x1f).sum(1).sub(f);
    const nm = this.norm.name === 'linf' ? 'linf' : 'l2';
    const d = boxProjection(nm, cat([x1f, x0.reshape([B, -1])]), cat([w, w]), cat([b, b]));
    const d1 = d.slice(0, 0, B).reshape(x0.shape);
    const d2 = d.slice(0, B, 2 * B).reshape(x0.shape);
    const size = (v: Tensor): Tensor => this.norm.distance(v).clamp(1e-8).reshape([-1, 1, 1, 1]);
    const a1 = size(d1), a2 = size(d2);
    const alpha = a1.div(a1.add(a2)).clamp(0, this.alphaMax);
    let x1 = s.x1.add(d1.mul(this.eta)).mul(alpha.neg().add(1)).add(x0.add(d2.mul(this.eta)).mul(alpha)).clamp(0, 1);
    const isAdv = ctx.isAdversarial(ctx.logits(x1));
    const n = this.norm.distance(x1.sub(x0));
    const better = isAdv.logicalAnd(n.lt(s.bestNorm));
    const col = (m: Tensor): Tensor => m.reshape([-1, 1, 1, 1]);
    const best = where(col(better), x1, s.best);
    const bestNorm = where(better, n, s.bestNorm);
    x1 = where(col(isAdv), x0.add(x1.sub(x0).mul(this.beta)), x1);
    return { x1, best, bestNorm };
  }

  protected override finish(ctx: AttackContext, s: FabState): BatchOutcome {
    const found = s.bestNorm.lt(Infinity);
    return { adv: where(found.reshape([-1, 1, 1, 1]), s.best, ctx.x), success: found };
  }
}
