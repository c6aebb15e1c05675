// Per-sample losses of logits [B, K] that the AutoAttack family and the minimal-norm attacks climb or descend,
// and the criterion restricted to a subset of its samples (attacks that run again only on the samples still
// robust). Each loss returns [B].
import { tidy, tensor, full, type Tensor } from '../engine/index.js';
import type { Criterion } from './criteria.js';

/** z[b, c_b] for int64 classes [B]. */
export const pick = (logits: Tensor, classes: Tensor): Tensor => logits.gather(1, classes.reshape([-1, 1])).squeeze(1);

/** The largest logit other than class c_b: max_{j ≠ c} z_j. */
export function largestOther(logits: Tensor, classes: Tensor): Tensor {
  return tidy(() => logits.scatter(1, classes.reshape([-1, 1]), -Infinity).amax(1));
}

/** Logit margin z_c − max_{j≠c} z_j: > 0 while class c wins (the loss Square and FMN descend). */
export function margin(logits: Tensor, classes: Tensor): Tensor {
  return tidy(() => pick(logits, classes).sub(largestOther(logits, classes)));
}

/**
 * Difference of logits ratio (Croce & Hein 2020, eq. 5): −(z_y − max_{j≠y} z_j) / (z_π1 − z_π3 + 1e-12), π the
 * logits sorted in decreasing order. Invariant to shifting and scaling the logits; needs K ≥ 3.
 */
export function dlrLoss(logits: Tensor, labels: Tensor): Tensor {
  return tidy(() => {
    if (logits.shape[1]! < 3) throw new Error(`DLR loss needs at least 3 classes, the model has ${logits.shape[1]}`);
    const s = logits.topk(3, 1).values;
    const den = s.select(1, 0).sub(s.select(1, 2)).add(1e-12);
    return margin(logits, labels).neg().div(den);
  });
}

/** Targeted DLR (eq. 6): −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2 + 1e-12); needs K ≥ 4. */
export function dlrTargetedLoss(logits: Tensor, labels: Tensor, targets: Tensor): Tensor {
  return tidy(() => {
    if (logits.shape[1]! < 4) throw new Error(`targeted DLR loss needs at least 4 classes, the model has ${logits.shape[1]}`);
    const s = logits.topk(4, 1).values;
    const den = s.select(1, 0).sub(s.select(1, 2).add(s.select(1, 3)).mul(0.5)).add(1e-12);
    return pick(logits, labels).sub(pick(logits, targets)).neg().div(den);
  });
}

/** int64 [B]: the class ranked `rank` (0 = largest) in each row of the logits. */
export function rankedClass(logits: Tensor, rank: number): Tensor {
  return tidy(() => logits.sort(1, true).indices.select(1, rank).contiguous());
}

/**
 * The same criterion for a subset of its samples: classes[i] for i in `indices`, in that order (a copy that
 * keeps the criterion's class, so its decision and direction stay as they are).
 */
export function restrictCriterion<C extends Criterion>(criterion: C, indices: ArrayLike<number>): C {
  const classes = Int32Array.from(indices as ArrayLike<number>, (i) => criterion.classes[i]!);
  const c = Object.create(Object.getPrototypeOf(criterion) as object) as C;
  Object.assign(c, criterion);
  Object.defineProperty(c, 'classes', { value: classes, enumerable: true });
  return c;
}

/** Sample numbers where a bool [B] tensor is true (false). */
export function indicesWhere(mask: Tensor, value = true): number[] {
  const bits = mask.cast('uint8').data<Uint8Array>();
  const out: number[] = [];
  bits.forEach((v, i) => { if ((v !== 0) === value) out.push(i); });
  return out;
}

/** An int64 index tensor. */
export const indexTensor = (idx: readonly number[]): Tensor => tensor(Int32Array.from(idx), [idx.length]).cast('int64');

/** A [B] tensor of one value. */
export const filled = (n: number, v: number): Tensor => full([n], v);
