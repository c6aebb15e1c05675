// Adversarial training's attack (METHOD.md §3–4), behind a small interface so the trainer does not care which
// implementation produces the adversarial batch. The default is the paper's routine from src/attack: its budget
// attack, or its minimal attack for the L2,min variant.
import type { Tensor } from '../engine/index.js';
import type { Module } from '../nn/index.js';
import { PaperBudgetAttack, PaperMinimalAttack, Misclassification } from '../attack/index.js';
import type { TrainOptions } from './options.js';

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
}

// Both: untargeted (+∇ of the true label's cross-entropy), no momentum, no "increase eps or steps" guard, the model
// in whatever mode it is in (train mode during training, as in the reference: batch norm sees the attack's forwards).
const routine = (o: TrainingAttackOptions, affected: Uint8Array | null) =>
  ({ steps: o.steps, overshoot: o.overshoot, momentum: 0, guard: false, affected: affected ?? undefined });
const labelsOf = (y: Tensor): Misclassification => new Misclassification(y.cast('int32').data<Int32Array>());

/** The paper's adversarial training: follow +∇CE while RMS(δ) < ε, train on x + δ_T (ε 0.01, 7 steps). */
export function budgetTrainingAttack(o: TrainingAttackOptions = { eps: 0.01, steps: 7, overshoot: 1 }): AdversarialBatchFn {
  return (model, x, y, affected) => new PaperBudgetAttack(routine(o, affected))
    .attackBatch(model, x, labelsOf(y), o.eps, { computeSuccess: false }).adv.detach();
}

/** L2,min: train on the smallest-RMS misclassified iterate within ε (the clean image where none; ε 0.1, 7 steps). */
export function minimalTrainingAttack(o: TrainingAttackOptions = { eps: 0.1, steps: 7, overshoot: 1 }): AdversarialBatchFn {
  return (model, x, y, affected) => new PaperMinimalAttack({ ...routine(o, affected), eps: o.eps })
    .attackBatch(model, x, labelsOf(y)).adv.detach();
}

/** The attack a run's options ask for: L2,min with l2Min, else budget; ε by default the paper's for each. */
export function paperTrainingAttack(o: Pick<TrainOptions, 'l2Min' | 'advEps' | 'advSteps'>): AdversarialBatchFn {
  return o.l2Min
    ? minimalTrainingAttack({ eps: o.advEps ?? 0.1, steps: o.advSteps, overshoot: 1 })
    : budgetTrainingAttack({ eps: o.advEps ?? 0.01, steps: o.advSteps, overshoot: 1 });
}
