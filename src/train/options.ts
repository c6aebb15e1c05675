// Everything that defines a training run, with the paper's defaults (METHOD.md §3). Stored in every checkpoint,
// so a resumed run continues with exactly the options it started with.
import { architectureNames, type Activation } from '../nn/index.js';
import { RESIZE_POLICIES, type ResizePolicy } from '../data/images.js';

export type Balance = 'none' | 'weight' | 'sample';
export const BALANCES: readonly Balance[] = ['none', 'weight', 'sample'];

/** The adaptive ψ's default target for K classes: the paper's 1.5 at K = 10, in proportion to ln K. */
export function defaultLossTarget(classes: number): number { return (1.5 * Math.log(classes)) / Math.log(10); }

export type TrainMode = 'standard' | 'lipschitz' | 'adversarial' | 'all';
/**
 * How the Lipschitz loss computes its gradient-norm penalty: double backprop (the paper's, exact) or the finite
 * difference along the normalised input gradient of Finlay & Oberman (2019), which needs no second-order graph.
 */
export type Penalty = 'double-backprop' | 'finite-difference';
export const PENALTIES: readonly Penalty[] = ['double-backprop', 'finite-difference'];
export const TRAIN_MODES: readonly TrainMode[] = ['standard', 'lipschitz', 'adversarial', 'all'];

export interface TrainOptions {
  /** Training data (see loadDataset): CIFAR-10 batch file(s), directory, tarball, or image folder. */
  data: string;
  /** Use only the first `limit` images of the data (before the split); null: all. */
  limit: number | null;
  /** Bring images to size×size (null: the data's own size, which all images must share). */
  imageSize: number | null;
  /** How pictures of another size are fitted (data/images.ts fitImage). */
  resize: ResizePolicy;
  /** The architecture (nn/models/registry): 'preact-resnet' (the paper's; --depth, --widths, --activation apply), … */
  arch: string;
  /**
   * A model file to start from (fine-tuning): safetensors of a built-in architecture or a scripted TorchScript module;
   * its architecture, normalisation and input size replace arch/depth/widths/activation. null: a new network.
   */
  init: string | null;
  /**
   * Images held out for validation, drawn with `seed`; null: the default, 5,000 or a tenth of the data when that is
   * fewer (small data keeps 90% for training). Ignored with valData.
   */
  val: number | null;
  /** A validation folder (or any data path) used whole instead of a split of `data`; null: a split. */
  valData: string | null;
  /**
   * Class imbalance: 'none'; 'weight' (cross-entropy weighted n / (K·n_k) per class k, the mean taken over the
   * weights as PyTorch's weighted cross-entropy); 'sample' (each epoch draws its images with replacement, with
   * probability ∝ 1/n_k, so every class is drawn equally often).
   */
  balance: Balance;
  /** Horizontal flips in the augmentation (off for data whose left and right differ, such as chest X-rays). */
  flip: boolean;
  /**
   * The adaptive ψ's target training cross-entropy; null: the K-aware default 1.5 · ln K / ln 10 (the paper's 1.5 for
   * 10 classes, scaled to chance's cross-entropy ln K: 0.45 for 2 classes, where 1.5 lies above chance).
   */
  lossTarget: number | null;
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
  /** Lipschitz modes: how the penalty is computed (states written before this option: double backprop). */
  penalty: Penalty;
  /** Finite-difference penalty: the step h along the normalised gradient, in input units ([0,1] pixels). */
  fdStep: number;
}

/** The penalty of states written before the option existed. */
export const PENALTY_DEFAULTS: Pick<TrainOptions, 'penalty' | 'fdStep'> = { penalty: 'double-backprop', fdStep: 0.01 };

export function robustAdditions(mode: TrainMode): boolean { return mode === 'lipschitz' || mode === 'all'; }
export function adversarialTraining(mode: TrainMode): boolean { return mode === 'adversarial' || mode === 'all'; }

/** The paper's defaults; the activation follows the mode (half-Huber with robust additions). */
export function defaultTrainOptions(partial: Partial<TrainOptions> & { data: string }): TrainOptions {
  const mode = partial.mode ?? 'lipschitz';
  return {
    limit: null, imageSize: null, resize: 'crop', arch: 'preact-resnet', init: null, val: null, valData: null, balance: 'none', flip: true, lossTarget: null, mode, l2Min: false, noiseStd: 0,
    activation: robustAdditions(mode) ? 'half-huber' : 'relu',
    depth: 44, widths: [16, 32, 64], epochs: 200, lr: 0.1, batch: 128, milestones: [170, 195], gamma: 0.1,
    weightDecay: 1e-4, momentum: 0.9, seed: 0, advEps: null, advSteps: 7, augment: true, ...PENALTY_DEFAULTS,
    ...partial,
  };
}

/** The largest network a run may ask for: 1,000 blocks a stage, 4,096 channels, 2^28 numbers in its state. */
export const MAX_DEPTH = 6002;
export const MAX_WIDTH = 4096;
export const MAX_STATE_NUMBERS = 2 ** 28;

/**
 * Options a run's state.json may lack because it predates them, with the value that reproduces what such a run did
 * (older runs stretched image folders to 32×32 and always built the paper's network).
 */
export const OPTIONS_ADDED_LATER: Partial<TrainOptions> = {
  arch: 'preact-resnet', resize: 'stretch', init: null, valData: null, balance: 'none', flip: true, lossTarget: 1.5, ...PENALTY_DEFAULTS,
};

/** What each option holds, as a stored state.json may get it wrong (any JSON value). */
const KINDS: Record<keyof TrainOptions, 'string' | 'string|null' | 'number' | 'number|null' | 'boolean' | 'numbers'> = {
  data: 'string', limit: 'number|null', imageSize: 'number|null', resize: 'string', arch: 'string', init: 'string|null', val: 'number|null', valData: 'string|null', balance: 'string', flip: 'boolean', lossTarget: 'number|null', mode: 'string', l2Min: 'boolean',
  noiseStd: 'number', activation: 'string', depth: 'number', widths: 'numbers', epochs: 'number', lr: 'number',
  batch: 'number', milestones: 'numbers', gamma: 'number', weightDecay: 'number', momentum: 'number', seed: 'number',
  advEps: 'number|null', advSteps: 'number', augment: 'boolean', penalty: 'string', fdStep: 'number',
};

/** The command-line flag of an option, for messages about a fresh run's options. */
const FLAGS: Partial<Record<keyof TrainOptions, string>> = {
  imageSize: 'size', valData: 'val-data', lossTarget: 'loss-target', l2Min: 'l2-min', fdStep: 'fd-step', noiseStd: 'noise-std', weightDecay: 'weight-decay', advEps: 'adv-eps', advSteps: 'adv-steps',
};

export interface OptionProblem { key: keyof TrainOptions; message: string }

function shown(v: unknown): string {
  const s = v === undefined ? 'nothing' : JSON.stringify(v) ?? String(v);
  return (s.length > 60 ? `${s.slice(0, 57)}...` : s).replace(/[\r\n]+/g, ' ');
}

/** Checks options of any provenance (a stored state.json may hold any JSON): the first problem, or null. */
export function optionProblem(raw: unknown): OptionProblem | null {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return { key: 'data', message: `expected the options object, got ${shown(raw)}` };
  const r = raw as Record<string, unknown>;
  for (const [key, kind] of Object.entries(KINDS) as [keyof TrainOptions, string][]) {
    const v = r[key];
    const ok = kind === 'string' ? typeof v === 'string'
      : kind === 'string|null' ? typeof v === 'string' || v === null
      : kind === 'boolean' ? typeof v === 'boolean'
        : kind === 'numbers' ? Array.isArray(v) && v.every((x) => typeof x === 'number')
          : typeof v === 'number' || (kind === 'number|null' && v === null);
    if (!ok) return { key, message: `expected ${kind === 'numbers' ? 'a list of numbers' : kind.endsWith('|null') ? `a ${kind.slice(0, -5)} or null` : `a ${kind}`}, got ${shown(v)}` };
  }
  const o = raw as TrainOptions;
  const p = (key: keyof TrainOptions, message: string): OptionProblem => ({ key, message });
  const posInt = (v: number): boolean => Number.isSafeInteger(v) && v >= 1;
  if (o.data === '') return p('data', 'expected a data path, got an empty string');
  if (!TRAIN_MODES.includes(o.mode)) return p('mode', `expected one of ${TRAIN_MODES.join('|')}, got '${o.mode}'`);
  if (o.activation !== 'relu' && o.activation !== 'half-huber') return p('activation', `expected relu|half-huber, got '${o.activation}'`);
  const archs = architectureNames();
  if (!archs.includes(o.arch)) return p('arch', `expected one of ${archs.join(', ')}, got '${o.arch}'`);
  if (!RESIZE_POLICIES.includes(o.resize)) return p('resize', `expected ${RESIZE_POLICIES.join(' or ')}, got '${o.resize}'`);
  if (o.init === '') return p('init', 'expected a model file, got an empty string');
  if (o.arch === 'preact-resnet' && o.init === null) {
    if (!posInt(o.depth) || (o.depth - 2) % 6 !== 0 || o.depth < 8 || o.depth > MAX_DEPTH) return p('depth', `expected 6n+2 from 8 to ${MAX_DEPTH} (8, 14, 20, …, 44), got ${o.depth}`);
    if (o.widths.length !== 3 || !o.widths.every((w) => posInt(w) && w <= MAX_WIDTH)) return p('widths', `expected three integers from 1 to ${MAX_WIDTH}, got ${o.widths.join(',')}`);
    const numbers = networkNumbers(o.depth, o.widths);
    if (numbers > MAX_STATE_NUMBERS) {
      return p('widths', `PreActResNet-${o.depth} ${o.widths.join('/')} has ${numbers.toLocaleString('en-US')} weights, more than the ${MAX_STATE_NUMBERS.toLocaleString('en-US')} allowed: a smaller depth or widths`);
    }
  }
  if (!posInt(o.epochs)) return p('epochs', `expected a positive integer, got ${o.epochs}`);
  if (!posInt(o.batch) || o.batch < 2) return p('batch', `expected an integer ≥ 2, got ${o.batch}`);
  if (!(o.lr > 0) || !Number.isFinite(o.lr)) return p('lr', `expected a positive number, got ${o.lr}`);
  if (!o.milestones.every((m) => Number.isSafeInteger(m) && m >= 1)) return p('milestones', `expected positive integers, got ${o.milestones.join(',')}`);
  if (o.milestones.some((m, i) => i > 0 && m <= o.milestones[i - 1]!)) return p('milestones', `must increase, got ${o.milestones.join(',')}`);
  if (!(o.gamma > 0) || !Number.isFinite(o.gamma)) return p('gamma', `expected a positive number, got ${o.gamma}`);
  if (!(o.weightDecay >= 0) || !Number.isFinite(o.weightDecay)) return p('weightDecay', `expected a number ≥ 0, got ${o.weightDecay}`);
  if (!(o.momentum >= 0 && o.momentum < 1)) return p('momentum', `expected a number in [0, 1), got ${o.momentum}`);
  if (!(o.noiseStd >= 0) || !Number.isFinite(o.noiseStd)) return p('noiseStd', `expected a number ≥ 0, got ${o.noiseStd}`);
  if (!Number.isSafeInteger(o.seed) || o.seed < 0) return p('seed', `expected an integer ≥ 0, got ${o.seed}`);
  if (o.val !== null && (!Number.isSafeInteger(o.val) || o.val < 0)) return p('val', `expected an integer ≥ 0, got ${o.val}`);
  if (o.valData === '') return p('valData', 'expected a data path, got an empty string');
  if (!BALANCES.includes(o.balance)) return p('balance', `expected one of ${BALANCES.join('|')}, got '${o.balance}'`);
  if (o.lossTarget !== null && !(o.lossTarget > 0 && Number.isFinite(o.lossTarget))) return p('lossTarget', `expected a positive number, got ${o.lossTarget}`);
  if (o.limit !== null && !posInt(o.limit)) return p('limit', `expected a positive integer, got ${o.limit}`);
  if (o.imageSize !== null && !posInt(o.imageSize)) return p('imageSize', `expected a positive integer, got ${o.imageSize}`);
  if (o.advEps !== null && !(o.advEps > 0 && Number.isFinite(o.advEps))) return p('advEps', `expected a positive number, got ${o.advEps}`);
  if (!posInt(o.advSteps)) return p('advSteps', `expected a positive integer, got ${o.advSteps}`);
  if (o.penalty !== undefined && !PENALTIES.includes(o.penalty)) return p('penalty', `expected ${PENALTIES.join('|')}, got '${o.penalty}'`);
  if (o.fdStep !== undefined && !(o.fdStep > 0 && o.fdStep <= 1)) return p('fdStep', `expected a number in (0, 1], got ${o.fdStep}`);
  if (o.l2Min && !adversarialTraining(o.mode)) return p('l2Min', `needs --mode adversarial or all (got ${o.mode})`);
  return null;
}

/** Weights of a PreActResNet of this depth and widths (3 input channels, 10 classes; convolutions dominate). */
function networkNumbers(depth: number, widths: readonly number[]): number {
  const n = (depth - 2) / 6, [a, b, c] = widths as [number, number, number];
  const conv = (i: number, o: number): number => 9 * i * o;
  return conv(3, a) + n * 2 * conv(a, a) + conv(a, b) * 2 + (2 * n - 1) * conv(b, b) + conv(b, c) * 2 + (2 * n - 1) * conv(c, c) + 10 * c;
}

/** Checks option values; returns a one-line problem naming the option (its command-line flag), or null. */
export function checkOptions(o: TrainOptions): string | null {
  const q = optionProblem(o);
  return q === null ? null : `${FLAGS[q.key] ?? q.key}: ${q.message}`;
}
