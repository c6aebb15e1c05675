// Weight averaging (Izmailov et al. 2018, "Averaging weights leads to wider optima and better generalization"), as
// torch.optim.swa_utils does it: the average of several networks' weights (AveragedModel), then batch norm's running
// statistics recomputed for the averaged weights by one pass over training images (update_bn). Averaging the
// endpoints of a cyclic (warm-restart) schedule is SWA's own recipe; the running statistics of the endpoints do not
// belong to the averaged weights, which is why they are recomputed rather than averaged.
import { tidy, noGrad, manualSeed, randperm, type Tensor } from '../engine/index.js';
import { batchNormLayers, type Module } from '../nn/index.js';
import type { ImageDataset } from '../data/dataset.js';
import { augmentBatch } from '../data/augment.js';

/**
 * Sets `target`'s parameters and buffers to the element-wise mean of `states` (state dicts of one architecture:
 * the same names and shapes, which the caller has checked), summed in float64. Buffers are averaged too; batch
 * norm's are then recomputed by updateBatchNorm.
 */
export function averageInto(target: Module, states: readonly ReadonlyMap<string, Tensor>[]): void {
  if (states.length === 0) throw new Error('averageInto: no state dicts to average');
  const averaged = new Map<string, { shape: readonly number[]; data: Float32Array }>();
  for (const [name, t] of target.stateDict()) {
    const sum = new Float64Array(t.size);
    for (const [i, sd] of states.entries()) {
      const s = sd.get(name);
      if (s === undefined) throw new Error(`averageInto: state dict ${i} has no '${name}'`);
      const v = tidy(() => s.cast('float32').data<Float32Array>());
      if (v.length !== sum.length) throw new Error(`averageInto: '${name}' has ${v.length} values in state dict ${i}, ${sum.length} in the network`);
      for (let j = 0; j < v.length; j++) sum[j]! += v[j]!;
    }
    averaged.set(name, { shape: t.shape, data: Float32Array.from(sum, (x) => x / states.length) });
  }
  target.loadStateDict(averaged);
}

export interface UpdateBatchNormOptions {
  /** Images per forward pass (default 128, the training batch). */
  batch?: number;
  /** Images to use, drawn without replacement (default: all). */
  images?: number;
  /** The training augmentation (METHOD.md §3: replicate-pad 4, random crop, flip) on each batch (default true). */
  augment?: boolean;
  /** With augment: horizontal flips (default true; false for data trained without them). */
  flip?: boolean;
  /** Seeds the draw order and the augmentation (libtorch's generator; default 0). */
  seed?: number;
  onBatch?: (done: number) => void;
}

/**
 * Recomputes every batch norm's running mean and variance as the cumulative average over the batches of one pass
 * in training mode (PyTorch's momentum=None: the mean of the per-batch means and of the per-batch unbiased
 * variances), as torch.optim.swa_utils.update_bn. The images are shuffled first (seeded), so that a batch mixes
 * classes of a folder read in class order. Returns the number of layers updated (0: the network has no batch norm,
 * and nothing runs). The network's mode and the layers' momenta are restored after.
 */
export function updateBatchNorm(model: Module, data: ImageDataset, opts: UpdateBatchNormOptions = {}): number {
  const layers = batchNormLayers(model);
  if (layers.length === 0) return 0;
  const batch = opts.batch ?? 128;
  const count = Math.min(opts.images ?? data.n, data.n);
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`updateBatchNorm: batch must be a positive integer, got ${batch}`);
  if (count < 1) throw new Error('updateBatchNorm: no images');
  manualSeed(opts.seed ?? 0);
  const order = tidy(() => randperm(data.n).toArray().slice(0, count));
  const momenta = layers.map((l) => l.momentum);
  const wasTraining = model.training;
  noGrad(() => tidy(() => {
    for (const l of layers) { l.runningMean.zero_(); l.runningVar.fill_(1); }
  }));
  model.train(true);
  try {
    for (let k = 0, start = 0; start < count; k++, start += batch) {
      // Batch k enters with weight 1/(k+1): after it, the running values are the mean over batches 0..k.
      for (const l of layers) l.momentum = 1 / (k + 1);
      const end = Math.min(count, start + batch);
      tidy(() => noGrad(() => {
        const x = data.gather(order.slice(start, end)).x;
        model.call(opts.augment ?? true ? augmentBatch(x, undefined, opts.flip ?? true ? 0.5 : 0) : x);
      }));
      opts.onBatch?.(end);
    }
  } finally {
    layers.forEach((l, i) => { l.momentum = momenta[i]!; });
    model.train(wasTraining);
  }
  return layers.length;
}
