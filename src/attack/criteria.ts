// What counts as adversarial, as objects (Foolbox 3's criteria): each holds its classes for the whole input and
// decides from a batch's logits. Whether the attack climbs away from a label or descends toward a target is the
// criterion's to say (`targeted`), not a flag of the attack.
import { tidy, type Tensor } from '../engine/index.js';

export abstract class Criterion {
  /** Short name for messages. */
  abstract readonly name: string;
  /**
   * True when attacks descend the class's cross-entropy (toward a target), false when they ascend it (away from
   * the label).
   */
  abstract readonly targeted: boolean;

  /** Per sample of the whole input: the class the attack's loss is taken against (label or target). */
  readonly classes: Int32Array;

  constructor(classes: Int32Array) { this.classes = classes; }

  /** bool [B]: adversarial or not, from logits [B, K] and the batch's classes (int64 [B], a slice of `classes`). */
  abstract isAdversarial(logits: Tensor, classes: Tensor): Tensor;
}

/** Adversarial when argmax ≠ label (untargeted). */
export class Misclassification extends Criterion {
  readonly name = 'misclassification';
  readonly targeted = false;
  constructor(readonly labels: Int32Array) { super(labels); }
  isAdversarial(logits: Tensor, classes: Tensor): Tensor { return tidy(() => logits.argmax(1).ne(classes)); }
}

/** Adversarial when argmax = target. */
export class TargetedMisclassification extends Criterion {
  readonly name = 'targeted misclassification';
  readonly targeted = true;
  constructor(readonly targets: Int32Array) { super(targets); }
  isAdversarial(logits: Tensor, classes: Tensor): Tensor { return tidy(() => logits.argmax(1).eq(classes)); }
}

/**
 * Adversarial when softmax[label] ≤ p (untargeted). Without p, p = 1/K for K logits: the label is no better than
 * a guess, the paper's BTR boundary.
 */
export class TrueClassProbabilityAtMost extends Criterion {
  readonly name = 'true-class probability';
  readonly targeted = false;
  constructor(readonly labels: Int32Array, readonly p?: number) {
    super(labels);
    if (p !== undefined && !(p > 0 && p <= 1)) throw new Error(`true-class probability: p must be in (0, 1], got ${p}`);
  }
  isAdversarial(logits: Tensor, classes: Tensor): Tensor {
    return tidy(() => logits.softmax(1).gather(1, classes.reshape([-1, 1])).squeeze(1).le(this.p ?? 1 / logits.shape[1]!));
  }
}
