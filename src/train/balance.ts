// Class imbalance in training (--balance): the per-class counts, the balanced class weights of a weighted
// cross-entropy, and the class-balanced epoch draw. PneumoniaMNIST's train split is 10% normal.
import { Tensor, tidy, rand, tensor, crossEntropy } from '../engine/index.js';
import type { ImageDataset } from '../data/dataset.js';

/** Images per class of a set (K counts). */
export function classCounts(set: ImageDataset, classes: number): number[] {
  const c = new Array<number>(classes).fill(0);
  for (const y of set.labels) c[y]!++;
  return c;
}

/** Class weights n / (K·n_k) (scikit-learn's 'balanced'); an absent class gets 0. */
export function balancedClassWeights(counts: readonly number[]): number[] {
  const n = counts.reduce((a, b) => a + b, 0), k = counts.length;
  return counts.map((c) => (c === 0 ? 0 : n / (k * c)));
}

/**
 * An epoch's draw of n training images with replacement, image i with probability ∝ 1/n_{y_i} (each class equally
 * likely), from libtorch's seeded generator (so a resumed epoch re-draws it exactly). Int64 tensor [n].
 */
export function balancedDraw(labels: Int32Array, counts: readonly number[]): Tensor {
  const n = labels.length;
  const cdf = new Float64Array(n);
  let acc = 0;
  for (let i = 0; i < n; i++) { acc += 1 / counts[labels[i]!]!; cdf[i] = acc; }
  const u = tidy(() => rand([n], { dtype: 'float64' }).data<Float64Array>());
  const idx = new Int32Array(n);
  for (let j = 0; j < n; j++) {
    const t = u[j]! * acc;
    let lo = 0, hi = n - 1;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (cdf[mid]! > t) hi = mid; else lo = mid + 1; }
    idx[j] = lo;
  }
  return tensor(idx, undefined, { dtype: 'int64' });
}

/** Cross-entropy weighted per class: Σ_b w_{y_b}·CE_b / Σ_b w_{y_b} (PyTorch's weight= with mean reduction). */
export function weightedCrossEntropy(logits: Tensor, y: Tensor, weights: Tensor): Tensor {
  return tidy(() => {
    const w = weights.gather(0, y);
    return crossEntropy(logits, y, 'none').mul(w).sum().div(w.sum());
  });
}
