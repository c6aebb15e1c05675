// Square Attack (Andriushchenko et al. 2020), L∞ and L2: a score-based random search that needs only logits.
// Each query changes one random s×s window (the same position for the whole batch, a random sign per sample
// and channel) and keeps the change only where the logit margin z_y − max_{j≠y} z_j went down (or the image
// became adversarial). The window's area is p·H·W with p from the paper's schedule, halved at queries 10, 50,
// 200, 500, 1000, 2000, 4000, 6000, 8000 (p_init 0.8 as in AutoAttack). Samples already adversarial are not
// queried again.
//  L∞: start from vertical stripes of ±ε; a query sets the window to x ± ε per channel.
//  L2: start from a grid of ±η patterns (centred squares weighted 1/(k+1)², opposite signs in the two halves)
//      scaled to ‖δ‖₂ = ε; a query moves the perturbation's mass of a second window into the first, as a fresh
//      pattern plus the old content, using the unspent budget; then the whole δ is rescaled to ε.
import { Tensor, tidy, tensor, rand, randint, zeros, where, manualSeed, pad } from '../engine/index.js';
import type { Module } from '../nn/index.js';
import { positiveInteger, FixedEpsilonAttack, type AttackContext, type BatchAttackResult, type BatchOptions } from './base.js';
import type { Criterion } from './criteria.js';
import { NORMS, type Norm } from './norms.js';
import { margin, indicesWhere, indexTensor } from './losses.js';

export interface SquareOptions {
  norm: 'linf' | 'l2';
  /** Queries per sample (default 5000). */
  queries?: number;
  /** Initial share of the image the window covers (default 0.8). */
  pInit?: number;
  /** libtorch's generator is seeded with it at every batch (default 0); null: not seeded. */
  seed?: number | null;
}

/** The paper's schedule of p: p_init halved at queries 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000. */
export function squareP(query: number, pInit: number): number {
  const cuts = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000];
  let p = pInit;
  for (const c of cuts) if (query > c) p /= 2;
  return p;
}

/**
 * The acceptance rule: a query's image replaces the best one where its margin is lower, or where it is
 * adversarial (margin ≤ 0). bool [B].
 */
export function squareAccept(newMargin: Tensor, bestMargin: Tensor): Tensor {
  return tidy(() => newMargin.lt(bestMargin).logicalOr(newMargin.le(0)));
}

/** The L2 attack's s×s pattern (rows: two halves of centred squares, weights 1/(k+1)², opposite signs), ‖·‖₂ = 1. */
export function squareEta(s: number): Float64Array {
  const rect = (a: number, b: number): Float64Array => {
    // Centred nested squares k = 0 … max(a/2, b/2): a cell lies in square k when its offsets from (a/2, b/2) are ≤ k.
    const out = new Float64Array(a * b);
    const ca = Math.floor(a / 2), cb = Math.floor(b / 2);
    const kmax = Math.max(ca, cb);
    for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) {
      for (let k = Math.max(Math.abs(i - ca), Math.abs(j - cb)); k <= kmax; k++) out[i * b + j]! += 1 / ((k + 1) * (k + 1));
    }
    const n = Math.hypot(...out);
    return out.map((v) => v / n);
  };
  const top = rect(Math.floor(s / 2), s), bottom = rect(s - Math.floor(s / 2), s);
  const eta = new Float64Array(s * s);
  eta.set(top, 0);
  bottom.forEach((v, i) => { eta[top.length + i] = -v; });
  const n = Math.hypot(...eta);
  return eta.map((v) => v / n);
}

interface SquareState { adv: Tensor; margin: Tensor }

export class Square extends FixedEpsilonAttack<SquareState> {
  readonly name: string;
  readonly norm: Norm;
  readonly queries: number;
  readonly pInit: number;
  readonly seed: number | null;

  constructor(opts: SquareOptions) {
    super([0, 1]);
    if (opts.norm !== 'linf' && opts.norm !== 'l2') throw new Error(`square: norm must be 'linf' or 'l2', got '${String(opts.norm)}'`);
    this.norm = NORMS[opts.norm];
    this.queries = opts.queries ?? 5000;
    positiveInteger('square', 'queries', this.queries);
    this.pInit = opts.pInit ?? 0.8;
    if (!(this.pInit > 0 && this.pInit <= 1)) throw new Error(`square: pInit must be in (0, 1], got ${this.pInit}`);
    this.seed = opts.seed === undefined ? 0 : opts.seed;
    this.name = `square-${opts.norm}`;
  }

  get steps(): number { return this.queries; }

  protected override validate(eps: number): void {
    if (!(eps > 0) || !Number.isFinite(eps)) throw new Error(`${this.name}: eps must be finite and > 0, got ${eps}`);
  }

  override attackBatch(model: Module, x: Tensor, criterion: Criterion, eps: number, opts: BatchOptions & { computeSuccess?: boolean } = {}): BatchAttackResult {
    if (this.seed !== null) manualSeed(this.seed);
    return super.attackBatch(model, x, criterion, eps, opts);
  }

  /** The margin to descend: the class's lead for untargeted criteria, the best other class's lead over a target. */
  #margin(ctx: AttackContext, logits: Tensor, classes: Tensor): Tensor {
    const m = margin(logits, classes);
    return ctx.criterion.targeted ? m.neg() : m;
  }

  protected init(ctx: AttackContext): SquareState {
    const { x, eps } = ctx;
    const [B, C, H, W] = x.shape as [number, number, number, number];
    let adv: Tensor;
    if (this.norm.name === 'linf') {
      adv = x.add(sign([B, C, 1, W]).mul(eps)).clamp(0, 1);
    } else {
      const s = Math.max(1, Math.floor(Math.min(H, W) / 5));
      const nh = Math.floor(H / s), nw = Math.floor(W / s);
      const h0 = Math.floor((H - s * nh) / 2), w0 = Math.floor((W - s * nw) / 2);
      let delta = zeros(x.shape);
      for (let i = 0; i < nh; i++) for (let j = 0; j < nw; j++) {
        const patch = this.#eta(s).mul(sign([B, C, 1, 1]));
        const placed = pad(patch, [w0 + j * s, W - w0 - (j + 1) * s, h0 + i * s, H - h0 - (i + 1) * s]);
        delta = delta.add(placed);
      }
      adv = x.add(unitL2(delta).mul(eps)).clamp(0, 1);
    }
    const m = this.#margin(ctx, ctx.logits(adv), ctx.classes);
    return { adv, margin: m };
  }

  /** η(s) as [1, 1, s, s], transposed with probability 1/2 (libtorch's generator). */
  #eta(s: number): Tensor {
    const e = tensor(Float32Array.from(squareEta(s)), [1, 1, s, s]);
    return rand([1]).item() > 0.5 ? e.transpose(2, 3).contiguous() : e;
  }

  protected step(ctx: AttackContext, st: SquareState, t: number): SquareState {
    const active = indicesWhere(st.margin.gt(0));
    if (active.length === 0) return st;
    const idx = indexTensor(active);
    const all = active.length === st.margin.shape[0];
    const x = all ? ctx.x : ctx.x.index(idx);
    const best = all ? st.adv : st.adv.index(idx);
    const bestMargin = all ? st.margin : st.margin.index(idx);
    const classes = all ? ctx.classes : ctx.classes.index(idx);
    const [n, C, H, W] = x.shape as [number, number, number, number];
    const p = squareP(t, this.pInit);
    const eps = ctx.eps;
    let cand: Tensor;
    if (this.norm.name === 'linf') {
      const s = Math.min(Math.max(Math.round(Math.sqrt((p * H * W))), 1), Math.min(H, W));
      const vh = randint(0, H - s + 1, [1]).item(), vw = randint(0, W - s + 1, [1]).item();
      const win = pad(sign([n, C, 1, 1]).mul(2 * eps).expand([n, C, s, s]), [vw, W - vw - s, vh, H - vh - s]);
      cand = best.add(win).maximum(x.sub(eps)).minimum(x.add(eps)).clamp(0, 1);
    } else {
      let s = Math.max(Math.round(Math.sqrt(p * H * W)), 3);
      if (s % 2 === 0) s++;
      s = Math.min(s, Math.min(H, W));
      const vh = randint(0, H - s + 1, [1]).item(), vw = randint(0, W - s + 1, [1]).item();
      const vh2 = randint(0, H - s + 1, [1]).item(), vw2 = randint(0, W - s + 1, [1]).item();
      const delta = best.sub(x);
      const place = (v: Tensor, h: number, w: number): Tensor => pad(v, [w, W - w - s, h, H - h - s]);
      const win = (v: Tensor, h: number, w: number): Tensor => v.slice(2, h, h + s).slice(3, w, w + s);
      const m1 = place(zeros([1, 1, s, s]).add(1), vh, vw);
      const m2 = place(zeros([1, 1, s, s]).add(1), vh2, vw2);
      const chanNorm = (v: Tensor): Tensor => v.square().sum([2, 3], true).sqrt();
      const old = win(delta, vh, vw);
      const imageNorm = delta.square().sum([1, 2, 3], true).sqrt();
      const windowsNorm = chanNorm(delta.mul(m1.maximum(m2)));
      let fresh = this.#eta(s).mul(sign([n, C, 1, 1])).add(old.div(chanNorm(old).add(1e-12)));
      const budget = imageNorm.square().neg().add(eps * eps).clamp(0).div(C).add(windowsNorm.square()).sqrt();
      fresh = fresh.div(chanNorm(fresh).add(1e-12)).mul(budget);
      const keep = m1.maximum(m2).neg().add(1);
      const next = delta.mul(keep).add(place(fresh, vh, vw));
      cand = x.add(unitL2(next).mul(eps)).clamp(0, 1);
    }
    const m = this.#margin(ctx, ctx.logits(cand), classes);
    const accept = squareAccept(m, bestMargin);
    const newBest = where(accept.reshape([-1, 1, 1, 1]), cand, best);
    const newMargin = where(accept, m, bestMargin);
    if (all) return { adv: newBest, margin: newMargin };
    return { adv: st.adv.indexPut(idx, newBest), margin: st.margin.indexPut(idx, newMargin) };
  }
}

/** ±1 with probability 1/2 each (libtorch's generator). */
const sign = (shape: number[]): Tensor => rand(shape).mul(2).sub(1).sign();

/** Each sample scaled to ‖·‖₂ = 1. */
const unitL2 = (d: Tensor): Tensor => d.div(d.square().sum([1, 2, 3], true).sqrt().add(1e-12));
