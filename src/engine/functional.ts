// Neural-network and multi-tensor ops (the functional API, like torch.nn.functional).
// Their gradients, first and second order, are libtorch's own autograd formulas.
import { native } from './native.js';
import { Tensor, wrap } from './tensor.js';
import { full } from './creation.js';

const pair = (v: number | [number, number]): number[] => (typeof v === 'number' ? [v, v] : [...v]);

export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null = null,
  opts: { stride?: number | [number, number]; padding?: number | [number, number]; dilation?: number; groups?: number } = {}): Tensor {
  return wrap(native.conv2d(x.h, weight.h, bias?.h, pair(opts.stride ?? 1), pair(opts.padding ?? 0), pair(opts.dilation ?? 1), opts.groups ?? 1));
}

/** Batch norm; in training mode batch statistics are used and the running buffers updated in place. */
export function batchNorm(x: Tensor, p: { weight?: Tensor | null; bias?: Tensor | null; runningMean?: Tensor | null; runningVar?: Tensor | null },
  training: boolean, momentum = 0.1, eps = 1e-5): Tensor {
  return wrap(native.batchNorm(x.h, p.weight?.h, p.bias?.h, p.runningMean?.h, p.runningVar?.h, training, momentum, eps));
}

/**
 * Batch norm as one autograd function whose backward is itself differentiable and whose double backward is one
 * fused kernel (native/src/fused.cc): same numbers as batchNorm (forward and backward are ATen's kernels), much
 * less work in double backprop. Affine with running statistics; float32/float64 on the CPU.
 */
export function fusedBatchNorm(x: Tensor, p: { weight: Tensor; bias: Tensor; runningMean: Tensor | null; runningVar: Tensor | null },
  training: boolean, momentum = 0.1, eps = 1e-5): Tensor {
  return wrap(native.fusedBatchNorm(x.h, p.weight.h, p.bias.h, p.runningMean?.h, p.runningVar?.h, training, momentum, eps));
}

/** Half-Huber ReLU (METHOD.md §2) as one fused autograd function, differentiable twice (native/src/fused.cc). */
export function fusedHalfHuber(x: Tensor, d: number): Tensor { return wrap(native.fusedHalfHuber(x.h, d)); }

export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor { return wrap(native.linear(x.h, weight.h, bias?.h)); }
export function avgPool2d(x: Tensor, kernel: number | [number, number], stride?: number | [number, number], padding: number = 0): Tensor {
  return wrap(native.avgPool2d(x.h, pair(kernel), pair(stride ?? kernel), pair(padding)));
}
export function maxPool2d(x: Tensor, kernel: number | [number, number], stride?: number | [number, number], padding: number = 0): Tensor {
  return wrap(native.maxPool2d(x.h, pair(kernel), pair(stride ?? kernel), pair(padding)));
}
export function adaptiveAvgPool2d(x: Tensor, size: number | [number, number]): Tensor { return wrap(native.adaptiveAvgPool2d(x.h, pair(size))); }
export function logSoftmax(x: Tensor, dim = -1): Tensor { return wrap(native.logSoftmax(x.h, dim)); }
export function softmax(x: Tensor, dim = -1): Tensor { return wrap(native.softmax(x.h, dim)); }

const REDUCTION = { none: 0, mean: 1, sum: 2 } as const;
/** Cross-entropy of logits [B, K] against int64 class indices [B]. */
export function crossEntropy(logits: Tensor, target: Tensor, reduction: keyof typeof REDUCTION = 'mean'): Tensor {
  return wrap(native.crossEntropy(logits.h, target.h, REDUCTION[reduction]));
}

export function interpolate(x: Tensor, size: [number, number], mode: 'bilinear' | 'nearest' = 'bilinear', alignCorners = false): Tensor {
  return wrap(mode === 'bilinear' ? native.interpolateBilinear(x.h, size, alignCorners) : native.interpolateNearest(x.h, size));
}

/** Pads the last dims: pads = [left, right, top, bottom] for 2-D (F.pad order). */
export function pad(x: Tensor, pads: number[], mode: 'constant' | 'replicate' | 'reflect' = 'constant', value = 0): Tensor {
  return wrap(native.pad(x.h, pads, mode, value));
}

export function cat(ts: readonly Tensor[], dim = 0): Tensor { return wrap(native.cat(ts.map((t) => t.h), dim)); }
export function stack(ts: readonly Tensor[], dim = 0): Tensor { return wrap(native.stack(ts.map((t) => t.h), dim)); }
export function where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  // Numbers become 0-d tensors, which take part in type promotion like Python scalars.
  const ta = typeof a === 'number' ? full([], a) : a;
  const tb = typeof b === 'number' ? full([], b) : b;
  const out = wrap(native.where(cond.h, ta.h, tb.h));
  if (ta !== a) ta.dispose();
  if (tb !== b) tb.dispose();
  return out;
}
