// Adversarial training's attack (METHOD.md §3–4), behind a small interface so the trainer does not care which
// implementation produces the adversarial batch. The default is the paper's routine from src/attack.
import type { Tensor } from '../engine/index.js';
import type { Module } from '../nn/index.js';
import { paperRoutine } from '../attack/index.js';

/**
 * Produces the adversarial version of a batch (images x in [0,1], int64 labels y), in the caller's scope.
 * `affected` (one byte a sample, or null for all): samples marked 0 must come back unperturbed (half-and-half
 * adversarial training with the robust additions). Must not change x or the parameters' .grad.
 */
export type AdversarialBatchFn = (model: Module, x: Tensor, y: Tensor, affected: Uint8Array | null) => Tensor;

export interface TrainingAttackOptions {
  eps: number;
  steps: number;
  overshoot: number;
  /** 'budget': follow +∇CE while RMS(δ) < eps, return x + δ_T. 'misclassify' (L2,min): the smallest-RMS misclassified iterate. */
  mode: 'budget' | 'misclassify';
}

/** The paper's settings: ε = 0.01, 7 steps, overshoot 1, budget; L2,min: ε = 0.1, misclassify. */
export function paperTrainingAttack(l2Min: boolean, eps?: number, steps = 7): TrainingAttackOptions {
  return l2Min
    ? { eps: eps ?? 0.1, steps, overshoot: 1, mode: 'misclassify' }
    : { eps: eps ?? 0.01, steps, overshoot: 1, mode: 'budget' };
}

/**
 * The paper's routine (METHOD.md §4, src/attack/paper.ts) for training: untargeted (+∇ of the true label's
 * cross-entropy), no momentum, no "increase eps or steps" guard, the model in whatever mode it is in (train mode
 * during training, as in the reference: batch norm sees the attack's forwards).
 */
export function trainingAttack(o: TrainingAttackOptions): AdversarialBatchFn {
  return (model, x, y, affected) => paperRoutine(model, x, y, {
    mode: o.mode, eps: o.eps, steps: o.steps, overshoot: o.overshoot, momentum: 0, guard: false,
    ...(affected !== null ? { affected } : {}),
  }).adv.detach();
}
