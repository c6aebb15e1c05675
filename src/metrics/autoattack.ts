// RobustBench's measure under AutoAttack (standard version): clean accuracy and the share of images that are
// correct and stay so under APGD-CE, APGD-T, FAB-T and Square at one ε (L∞ or L2, images in [0, 1]); per image
// flags, and which attack broke how many. Only clean-correct images are attacked.
import { inEval, type Module } from '../nn/index.js';
import type { ImageDataset } from '../data/dataset.js';
import { AutoAttack, type AutoAttackOptions } from '../attack/autoattack.js';
import { Misclassification } from '../attack/criteria.js';
import { predict } from './predict.js';

/** RobustBench's default ε per norm (CIFAR-10). */
export const AUTOATTACK_DEFAULT_EPS = { linf: 8 / 255, l2: 0.5 } as const;

export interface AutoAttackRecord {
  norm: 'linf' | 'l2';
  eps: number;
  n: number;
  clean_acc: number;
  autoattack_acc: number;
  /** Per image: 1 when correct on the clean image / still correct after every attack. */
  clean: number[];
  robust: number[];
  /** Images each attack broke (the first to break them). */
  broken: Record<string, number>;
  seconds: number;
}

/**
 * AutoAttack on the images `indices` of the set (clean-correct ones): per index 1 when it stays correct, and which
 * attack broke how many. Batches are the indices in order, `batch` at a time, each seeded alike, so a caller that
 * deals whole batches of the same list to several processes gets the flags one process would.
 */
export function autoAttackOn(model: Module, set: ImageDataset, labels: Int32Array, indices: readonly number[], norm: 'linf' | 'l2', eps: number,
  opts: { batch?: number; onStep?: (images: number) => void } & Omit<AutoAttackOptions, 'norm'> = {}): { robust: number[]; broken: Record<string, number> } {
  const aa = new AutoAttack({ norm, ...opts });
  if (indices.length === 0) return { robust: [], broken: { ...aa.broken } };
  return inEval(model, () => {
    const r = aa.run(model, set.subset(indices), new Misclassification(Int32Array.from(indices, (i) => labels[i]!)),
      { epsilons: [eps], batch: opts.batch ?? 128, keepImages: false, ...(opts.onStep ? { onStep: opts.onStep } : {}) });
    return { robust: indices.map((_, k) => (r.success[0]![k] ? 0 : 1)), broken: { ...aa.broken } };
  });
}

export function autoAttackAccuracy(model: Module, set: ImageDataset, labels: Int32Array, norm: 'linf' | 'l2', eps: number,
  opts: { batch?: number; onStep?: (images: number) => void } & Omit<AutoAttackOptions, 'norm'> = {}): AutoAttackRecord {
  const t0 = performance.now();
  const { classes } = inEval(model, () => predict(model, set, { batch: Math.max(opts.batch ?? 128, 256) }));
  const clean = Array.from(classes, (c, i) => (c === labels[i] ? 1 : 0));
  const correct = clean.flatMap((v, i) => (v ? [i] : []));
  const on = autoAttackOn(model, set, labels, correct, norm, eps, opts);
  const robust = new Array<number>(set.n).fill(0);
  correct.forEach((i, k) => { robust[i] = on.robust[k]!; });
  return autoAttackRecord(norm, eps, clean, robust, on.broken, (performance.now() - t0) / 1000);
}

/** The record from per-image flags. */
export function autoAttackRecord(norm: 'linf' | 'l2', eps: number, clean: number[], robust: number[], broken: Record<string, number>, seconds: number): AutoAttackRecord {
  const sum = (a: number[]): number => a.reduce((s, v) => s + v, 0);
  const n = clean.length;
  return { norm, eps, n, clean_acc: sum(clean) / Math.max(1, n), autoattack_acc: sum(robust) / Math.max(1, n), clean, robust, broken, seconds };
}
