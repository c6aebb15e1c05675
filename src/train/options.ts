// Everything that defines a training run, with the paper's defaults (METHOD.md §3). Stored in every checkpoint,
// so a resumed run continues with exactly the options it started with.
import type { Activation } from '../nn/index.js';

export type TrainMode = 'standard' | 'lipschitz' | 'adversarial' | 'all';
export const TRAIN_MODES: readonly TrainMode[] = ['standard', 'lipschitz', 'adversarial', 'all'];

export interface TrainOptions {
  /** Training data (see loadDataset): CIFAR-10 batch file(s), directory, tarball, or image folder. */
  data: string;
  /** Use only the first `limit` images of the data (before the split); null: all. */
  limit: number | null;
  /** Image folders: resize to size×size. */
  imageSize: number;
  /** Images held out for validation, drawn with `seed`. */
  val: number;
  mode: TrainMode;
  /** Adversarial modes: the L2,min variant (ε 0.1, smallest misclassifying iterate). */
  l2Min: boolean;
  /** Standard deviation of Gaussian noise added to training inputs (0: none). Not clamped. */
  noiseStd: number;
  activation: Activation;
  depth: number;
  widths: [number, number, number];
  epochs: number;
  lr: number;
  batch: number;
  milestones: number[];
  gamma: number;
  weightDecay: number;
  momentum: number;
  seed: number;
  /** Adversarial modes: ε and steps of the training attack (null ε: the paper's 0.01, or 0.1 with l2Min). */
  advEps: number | null;
  advSteps: number;
  /** Augmentation (pad 4, crop, flip) on or off. */
  augment: boolean;
}

export function robustAdditions(mode: TrainMode): boolean { return mode === 'lipschitz' || mode === 'all'; }
export function adversarialTraining(mode: TrainMode): boolean { return mode === 'adversarial' || mode === 'all'; }

/** The paper's defaults; the activation follows the mode (half-Huber with robust additions). */
export function defaultTrainOptions(partial: Partial<TrainOptions> & { data: string }): TrainOptions {
  const mode = partial.mode ?? 'lipschitz';
  return {
    limit: null, imageSize: 32, val: 5000, mode, l2Min: false, noiseStd: 0,
    activation: robustAdditions(mode) ? 'half-huber' : 'relu',
    depth: 44, widths: [16, 32, 64], epochs: 200, lr: 0.1, batch: 128, milestones: [170, 195], gamma: 0.1,
    weightDecay: 1e-4, momentum: 0.9, seed: 0, advEps: null, advSteps: 7, augment: true,
    ...partial,
  };
}

/** Checks option values; returns a one-line problem naming the option, or null. */
export function checkOptions(o: TrainOptions): string | null {
  const posInt = (v: number): boolean => Number.isSafeInteger(v) && v >= 1;
  if (!TRAIN_MODES.includes(o.mode)) return `mode: expected one of ${TRAIN_MODES.join('|')}, got '${o.mode}'`;
  if (o.activation !== 'relu' && o.activation !== 'half-huber') return `activation: expected relu|half-huber, got '${o.activation}'`;
  if (!posInt(o.depth) || (o.depth - 2) % 6 !== 0 || o.depth < 8) return `depth: expected 6n+2 ≥ 8 (8, 14, 20, …, 44), got ${o.depth}`;
  if (o.widths.length !== 3 || !o.widths.every(posInt)) return `widths: expected three positive integers, got ${o.widths.join(',')}`;
  if (!posInt(o.epochs)) return `epochs: expected a positive integer, got ${o.epochs}`;
  if (!posInt(o.batch) || o.batch < 2) return `batch: expected an integer ≥ 2, got ${o.batch}`;
  if (!(o.lr > 0) || !Number.isFinite(o.lr)) return `lr: expected a positive number, got ${o.lr}`;
  if (!o.milestones.every((m) => Number.isSafeInteger(m) && m >= 1)) return `milestones: expected positive integers, got ${o.milestones.join(',')}`;
  if (o.milestones.some((m, i) => i > 0 && m <= o.milestones[i - 1]!)) return `milestones: must increase, got ${o.milestones.join(',')}`;
  if (!(o.weightDecay >= 0) || !Number.isFinite(o.weightDecay)) return `weight-decay: expected a number ≥ 0, got ${o.weightDecay}`;
  if (!(o.momentum >= 0 && o.momentum < 1)) return `momentum: expected a number in [0, 1), got ${o.momentum}`;
  if (!(o.noiseStd >= 0) || !Number.isFinite(o.noiseStd)) return `noise-std: expected a number ≥ 0, got ${o.noiseStd}`;
  if (!Number.isSafeInteger(o.seed) || o.seed < 0) return `seed: expected an integer ≥ 0, got ${o.seed}`;
  if (!Number.isSafeInteger(o.val) || o.val < 0) return `val: expected an integer ≥ 0, got ${o.val}`;
  if (o.limit !== null && !posInt(o.limit)) return `limit: expected a positive integer, got ${o.limit}`;
  if (!posInt(o.imageSize)) return `size: expected a positive integer, got ${o.imageSize}`;
  if (o.advEps !== null && !(o.advEps > 0 && Number.isFinite(o.advEps))) return `adv-eps: expected a positive number, got ${o.advEps}`;
  if (!posInt(o.advSteps)) return `adv-steps: expected a positive integer, got ${o.advSteps}`;
  if (o.l2Min && !adversarialTraining(o.mode)) return `l2-min: needs --mode adversarial or all (got ${o.mode})`;
  return null;
}
