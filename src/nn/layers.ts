// The layers of the paper's networks. Initialisation follows METHOD.md §1.
import { Tensor, tensor, keep, zeros, ones, uniform, conv2d, batchNorm, fusedBatchNorm, fusedHalfHuber, fusedOps, avgPool2d, maxPool2d, adaptiveAvgPool2d, linear, full, bernoulli } from '../engine/index.js';
import { Module } from './module.js';

export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(readonly inChannels: number, readonly outChannels: number, readonly kernel: number,
    readonly opts: { stride?: number; padding?: number; bias?: boolean } = {}) {
    super();
    const fanIn = inChannels * kernel * kernel;
    // Kaiming-uniform U(±sqrt(6 / fan_in)) (ReLU gain); bias as PyTorch's default U(±1/sqrt(fan_in)).
    this.weight = this.registerParameter('weight', uniform([outChannels, inChannels, kernel, kernel], -Math.sqrt(6 / fanIn), Math.sqrt(6 / fanIn)));
    this.bias = opts.bias ? this.registerParameter('bias', uniform([outChannels], -1 / Math.sqrt(fanIn), 1 / Math.sqrt(fanIn))) : null;
  }
  protected forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, { stride: this.opts.stride ?? 1, padding: this.opts.padding ?? 0 });
  }
}

/**
 * What training-mode batch norm runs instead of the local one, when set: synchronised statistics over processes
 * (train/distributed.ts). Returns the previous setting.
 */
export type TrainingBatchNorm = (x: Tensor, bn: BatchNorm2d) => Tensor;
let trainingBatchNorm: TrainingBatchNorm | null = null;
export function setTrainingBatchNorm(fn: TrainingBatchNorm | null): TrainingBatchNorm | null {
  const prev = trainingBatchNorm;
  trainingBatchNorm = fn;
  return prev;
}

export class BatchNorm2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  /** The weight of a batch's statistics in the running ones (PyTorch's momentum); train/average's updateBatchNorm varies it. */
  momentum: number;
  constructor(readonly channels: number, readonly eps = 1e-5, momentum = 0.1) {
    super();
    this.momentum = momentum;
    this.weight = this.registerParameter('weight', ones([channels]));
    this.bias = this.registerParameter('bias', zeros([channels]));
    this.runningMean = this.registerBuffer('running_mean', zeros([channels]));
    this.runningVar = this.registerBuffer('running_var', ones([channels]));
  }
  /** Training mode without updating the running statistics (set by nn/modes statisticsFrozen). */
  frozenStatistics = false;
  protected forward(x: Tensor): Tensor {
    // Synchronised statistics across ranks (--sync-bn) unless the statistics are frozen (the finite-difference penalty's second pass).
    if (this.training && trainingBatchNorm !== null && !this.frozenStatistics) return trainingBatchNorm(x, this);
    const p = this.training && this.frozenStatistics ? { weight: this.weight, bias: this.bias, runningMean: null, runningVar: null } : this;
    return useFused(x) ? fusedBatchNorm(x, p, this.training, this.momentum, this.eps) : batchNorm(x, p, this.training, this.momentum, this.eps);
  }
}

/** The suffix of PyTorch's per-batch-norm counter in a state dict (see withoutBatchCounters). */
export const BATCH_COUNTER = 'num_batches_tracked';

/**
 * PyTorch's BatchNorm2d also saves `<bn>.num_batches_tracked`, an int64 count of training batches that only
 * momentum=None (a cumulative average) reads. advexp's BatchNorm2d (momentum 0.1, as PyTorch's default) does not
 * hold it, so a state dict loads with or without the counters: this returns the entries less every
 * `<p>.num_batches_tracked` whose `<p>.running_mean` is present, and model files advexp writes have none (PyTorch
 * fills a missing counter in as 0 when loading a plain dict such as one read from safetensors).
 */
export function withoutBatchCounters<T>(tensors: ReadonlyMap<string, T>): Map<string, T> {
  const out = new Map<string, T>();
  for (const [name, t] of tensors) {
    const cut = name.length - BATCH_COUNTER.length;
    const isCounter = name.endsWith(`.${BATCH_COUNTER}`) && tensors.has(`${name.slice(0, cut)}running_mean`);
    if (!isCounter) out.set(name, t);
  }
  return out;
}

export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(readonly inFeatures: number, readonly outFeatures: number) {
    super();
    const bound = 1 / Math.sqrt(inFeatures);
    this.weight = this.registerParameter('weight', uniform([outFeatures, inFeatures], -Math.sqrt(6 / inFeatures), Math.sqrt(6 / inFeatures)));
    this.bias = this.registerParameter('bias', uniform([outFeatures], -bound, bound));
  }
  protected forward(x: Tensor): Tensor { return linear(x, this.weight, this.bias); }
}

export class ReLU extends Module {
  protected forward(x: Tensor): Tensor { return x.relu(); }
}

/**
 * Half-Huber ReLU (METHOD.md §2): 0 for x ≤ 0, x²/(2d) on (0, d], x − d/2 above.
 * Written as clamp(x,0,d)²/(2d) + relu(x − d) so autograd gives f' = clamp(x,0,d)/d and
 * f'' = 1/d on (0, d): the second derivative that makes double backprop informative.
 */
export class HalfHuber extends Module {
  #d: number;
  readonly dBuffer: Tensor;
  constructor(d = 0.5) {
    super();
    this.#d = d;
    this.dBuffer = this.registerBuffer('d', full([1], d));
  }
  get d(): number { return this.#d; }
  protected override afterLoad(): void { this.#d = this.dBuffer.item(); }
  protected forward(x: Tensor): Tensor { return halfHuber(x, this.#d); }
}

/** The fused kernels run on float CPU tensors; anything else takes the composite ops. */
function useFused(x: Tensor): boolean {
  return fusedOps() && x.device === 'cpu' && (x.dtype === 'float32' || x.dtype === 'float64');
}

/** The half-Huber function itself (see HalfHuber): fused (engine's fusedOps) or composite. */
export function halfHuber(x: Tensor, d = 0.5): Tensor {
  return useFused(x) ? fusedHalfHuber(x, d) : halfHuberComposite(x, d);
}

/** Half-Huber spelled with ATen ops, whose autograd formulas give its derivatives (the reference for the fused one). */
export function halfHuberComposite(x: Tensor, d = 0.5): Tensor {
  const c = x.clamp(0, d);
  return c.mul(c).mul(1 / (2 * d)).add(x.sub(d).relu());
}

export class GlobalAvgPool extends Module {
  protected forward(x: Tensor): Tensor { return avgPool2d(x, [x.shape[2]!, x.shape[3]!]); }
}

/** torch.nn.MaxPool2d (square kernel, no dilation, floor mode). */
export class MaxPool2d extends Module {
  constructor(readonly kernel: number, readonly stride = kernel, readonly padding = 0) { super(); }
  protected forward(x: Tensor): Tensor { return maxPool2d(x, this.kernel, this.stride, this.padding); }
}

/**
 * torch.nn.AdaptiveAvgPool2d: any input size to a fixed output size. At output 1×1 it is GlobalAvgPool by another
 * kernel (the sums may differ in the last bit); architectures use whichever their PyTorch original uses.
 */
export class AdaptiveAvgPool2d extends Module {
  constructor(readonly size: number | [number, number]) { super(); }
  protected forward(x: Tensor): Tensor { return adaptiveAvgPool2d(x, this.size); }
}

/** F.dropout: in training mode zeroes each element with probability p and scales the rest by 1/(1 − p); else x. */
export function dropout(x: Tensor, p: number, training: boolean): Tensor {
  if (!(p >= 0 && p < 1)) throw new Error(`dropout probability must be in [0, 1), got ${p}`);
  if (!training || p === 0) return x;
  const keepP = full(x.shape, 1 - p);
  const mask = bernoulli(keepP);
  keepP.dispose();
  const kept = x.mul(mask);
  mask.dispose();
  const out = kept.div(1 - p);
  kept.dispose();
  return out;
}

export type Activation = 'relu' | 'half-huber';
export function makeActivation(kind: Activation): Module {
  return kind === 'relu' ? new ReLU() : new HalfHuber(0.5);
}

/**
 * A model's first operation for images in [0, 1]: per-channel (x − mean)/std with fixed values that are config,
 * not state (torchvision and RobustBench state dicts hold no tensor for them), skipped when it is the identity.
 * Not a Module, so it adds nothing to the state dict; its owner disposes it.
 */
export class InputNormalisation {
  readonly #mean: Tensor | null;
  readonly #std: Tensor | null;
  constructor(readonly mean: readonly number[], readonly std: readonly number[]) {
    const identity = mean.every((m) => m === 0) && std.every((s) => s === 1);
    const c = mean.length;
    this.#mean = identity ? null : keep(tensor([...mean], [1, c, 1, 1]));
    this.#std = identity ? null : keep(tensor([...std], [1, c, 1, 1]));
  }
  /** Checks the channel count (a one-line error instead of libtorch's) and normalises; a view when the identity. */
  apply(x: Tensor, what: string): Tensor {
    const c = this.mean.length;
    if (x.rank !== 4 || x.shape[1] !== c) throw new Error(`${what} takes images [B, ${c}, H, W], got [${x.shape.join(', ')}]`);
    if (this.#mean === null || this.#std === null) return x.reshape(x.shape);
    const z = x.sub(this.#mean);
    const out = z.div(this.#std);
    z.dispose();
    return out;
  }
  dispose(): void { this.#mean?.dispose(); this.#std?.dispose(); }
}
