// The layers of the paper's networks. Initialisation follows METHOD.md §1.
import { Tensor, zeros, ones, uniform, conv2d, batchNorm, fusedBatchNorm, fusedHalfHuber, fusedOps, avgPool2d, linear, full } from '../engine/index.js';
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

export class BatchNorm2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  constructor(readonly channels: number, readonly eps = 1e-5, readonly momentum = 0.1) {
    super();
    this.weight = this.registerParameter('weight', ones([channels]));
    this.bias = this.registerParameter('bias', zeros([channels]));
    this.runningMean = this.registerBuffer('running_mean', zeros([channels]));
    this.runningVar = this.registerBuffer('running_var', ones([channels]));
  }
  /** Training mode without updating the running statistics (set by nn/modes statisticsFrozen). */
  frozenStatistics = false;
  protected forward(x: Tensor): Tensor {
    const p = this.training && this.frozenStatistics ? { weight: this.weight, bias: this.bias, runningMean: null, runningVar: null } : this;
    return useFused(x) ? fusedBatchNorm(x, p, this.training, this.momentum, this.eps) : batchNorm(x, p, this.training, this.momentum, this.eps);
  }
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

export type Activation = 'relu' | 'half-huber';
export function makeActivation(kind: Activation): Module {
  return kind === 'relu' ? new ReLU() : new HalfHuber(0.5);
}
