// ARA, the accuracy-robustness area (METHOD.md §6): per image the smallest RMS perturbation that crosses the
// boundary (misclassified: Attack ARA; p(true) ≤ 1/K: BTR ARA), found by the paper's routine with eps 20,
// 450 steps, momentum 0.9, overshoot 1, model in eval mode; then
//   ARA = ∫₀^∞ max(0, Acc(ε) − 1/K) dε,  Acc(ε) = fraction of images whose distance exceeds ε.
import { inEval, type Module } from '../nn/index.js';
import { PaperMinimalAttack } from '../attack/paper.js';
import { Misclassification, TrueClassProbabilityAtMost } from '../attack/criteria.js';
import type { AttackInput } from '../attack/base.js';
import { inputBatch } from '../data/dataset.js';
import { tidy, noGrad } from '../engine/index.js';

export type AraType = 'attack' | 'btr';
export const ARA_TYPES: readonly AraType[] = ['attack', 'btr'];
/** How tables and legends name each ARA type. */
export const ARA_NAMES: Readonly<Record<AraType, string>> = { attack: 'Attack', btr: 'BTR' };

/**
 * Exact ARA of the distances: sort descending d₁ ≥ … ≥ d_N, d_{N+1} = 0,
 * ARA = Σ_k (d_k − d_{k+1})·max(0, k/N − 1/K). Computed in float64.
 */
export function araExact(distances: ArrayLike<number>, numClasses: number): number {
  return araAbove(distances, 1 / numClasses);
}

/**
 * The exact ARA above a given rate instead of chance 1/K: ∫₀^∞ max(0, Acc(ε) − rate) dε. With the majority-class
 * share as the rate it is the area above what a constant answer scores on imbalanced data (issue 13).
 */
export function araAbove(distances: ArrayLike<number>, rate: number): number {
  const n = distances.length;
  if (n === 0) return 0;
  const d = Float64Array.from(distances as ArrayLike<number>);
  for (const v of d) if (!(v >= 0) || !Number.isFinite(v)) throw new Error(`ARA: distances must be finite and ≥ 0, got ${v}`);
  d.sort().reverse();
  let s = 0;
  for (let k = 1; k <= n; k++) {
    const w = k / n - rate;
    if (w > 0) s += (d[k - 1]! - (k < n ? d[k]! : 0)) * w;
  }
  return s;
}

/**
 * The reference code's value: a `bins`-bin histogram of the distances on [0, max] (torch.histc, float32 bin
 * placement), ARA = gap · Σ_i max(0, 1 − cumsum(hist)_i/N − 1/K), gap = max/bins. Within one bin width of the
 * exact value.
 */
export function araHistogram(distances: ArrayLike<number>, numClasses: number, bins = 1000): number {
  const n = distances.length;
  if (n === 0) return 0;
  let max = 0;
  for (let i = 0; i < n; i++) {
    const v = distances[i]!;
    if (!(v >= 0) || !Number.isFinite(v)) throw new Error(`ARA: distances must be finite and ≥ 0, got ${v}`);
    if (v > max) max = v;
  }
  if (max === 0) return 0;
  const f = Math.fround;
  const fmax = f(max);
  const hist = new Float64Array(bins);
  for (let i = 0; i < n; i++) {
    // torch.histc: pos = (int)((x − min)·bins/(max − min)) in float32; x = max goes to the last bin.
    const x = f(distances[i]!);
    let pos = Math.floor(f(f(x * bins) / fmax));
    if (pos >= bins) pos = bins - 1;
    hist[pos]!++;
  }
  let cum = 0;
  let s = 0;
  for (let i = 0; i < bins; i++) {
    cum += hist[i]!;
    s += Math.max(0, 1 - cum / n - 1 / numClasses);
  }
  return (max / bins) * s;
}

/** Acc(ε) = fraction of distances strictly greater than ε. */
export function accuracyAt(distances: ArrayLike<number>, eps: number): number {
  let c = 0;
  for (let i = 0; i < distances.length; i++) if (distances[i]! > eps) c++;
  return distances.length === 0 ? 0 : c / distances.length;
}

/**
 * The accuracy-vs-ε step curve: points (ε_i, Acc) at each distinct distance, starting at (0, Acc(0)).
 * Acc is right-continuous: at a distance d the images at exactly d already count as broken.
 */
export function accuracyCurve(distances: ArrayLike<number>): { eps: number[]; accuracy: number[] } {
  const n = distances.length;
  const d = Float64Array.from(distances as ArrayLike<number>).sort();
  const eps = [0];
  const accuracy = [n === 0 ? 0 : accuracyAt(d, 0)];
  let i = 0;
  while (i < n && d[i]! <= 0) i++;
  while (i < n) {
    const v = d[i]!;
    while (i < n && d[i] === v) i++;
    eps.push(v);
    accuracy.push((n - i) / n);
  }
  return { eps, accuracy };
}

export interface AraOptions {
  /** Gradient steps (default 450). */
  steps?: number;
  /** The routine's budget (default 20). */
  eps?: number;
  /** Momentum (default 0.9). */
  momentum?: number;
  /** Overshoot (default 1). */
  overshoot?: number;
  /** Images per batch (default 128). */
  batch?: number;
  /** The "increase eps or steps" rule (default true, as the reference). */
  guard?: boolean;
  /** Progress in image-steps. */
  onStep?: (images: number) => void;
}

export interface AraDistances {
  type: AraType;
  /** Per image, in input order: the smallest RMS perturbation that crosses the boundary (0 if already across). */
  distances: Float64Array;
  /** Per image: first step at which it was across its boundary. */
  firstCrossing: Int32Array;
}

/**
 * Minimal RMS distances for the Attack or BTR ARA. The model is put in eval mode for the run (and restored),
 * its parameters stop requiring gradients meanwhile. Throws AttackGuardError when an image does not cross its
 * boundary within the first steps/2 steps (unless guard is false; such images then get distance Infinity).
 */
export function araDistances(model: Module, inputs: AttackInput, labels: Int32Array, type: AraType, opts: AraOptions = {}): AraDistances {
  if (type !== 'attack' && type !== 'btr') throw new Error(`ARA type must be 'attack' or 'btr', got '${String(type)}'`);
  const attack = new PaperMinimalAttack({
    steps: opts.steps ?? 450, eps: opts.eps ?? 20, momentum: opts.momentum ?? 0.9,
    overshoot: opts.overshoot ?? 1, guard: opts.guard ?? true,
  });
  // BTR: p(label) ≤ 1/K, the criterion's default p.
  const criterion = type === 'attack' ? new Misclassification(labels) : new TrueClassProbabilityAtMost(labels);
  return inEval(model, () => {
    const r = attack.run(model, inputs, criterion, { batch: opts.batch ?? 128, keepImages: false, ...(opts.onStep ? { onStep: opts.onStep } : {}) });
    return { type, distances: r.distances, firstCrossing: r.firstCrossing };
  });
}

export interface AraValue { exact: number; histogram: number }

/** Both ARA values of a set of distances. */
export function araOf(distances: ArrayLike<number>, numClasses: number): AraValue {
  return { exact: araExact(distances, numClasses), histogram: araHistogram(distances, numClasses) };
}

/**
 * Attack and/or BTR ARA of a model on images, both values per type (the library's one call; bench/ts_ara.ts uses it,
 * while `advexp eval` calls araDistances per type to report progress and the guard's samples).
 * Returns per type the distances (input order) and both ARA values.
 */
export function evaluateAra(model: Module, inputs: AttackInput, labels: Int32Array, opts: AraOptions & { types?: readonly AraType[]; numClasses?: number } = {}):
  Partial<Record<AraType, AraDistances & AraValue>> {
  const out: Partial<Record<AraType, AraDistances & AraValue>> = {};
  // K, for chance 1/K: given, or read off the model's output for one image.
  const K = opts.numClasses ?? tidy(() => noGrad(() => inEval(model, () => model.call(inputBatch(inputs, 0, 1)).shape[1]!)));
  for (const type of opts.types ?? ARA_TYPES) {
    const d = araDistances(model, inputs, labels, type, opts);
    out[type] = { ...d, ...araOf(d.distances, K) };
  }
  return out;
}
