// Data-parallel training over a c10d process group, with PyTorch DDP's semantics (what Trainer calls through
// RunOptions.distributed): parameters and buffers broadcast from rank 0; each rank trains on a disjoint shard of
// every global batch, drawn from an epoch permutation seeded like DistributedSampler (the same on every rank, no
// communication); gradients averaged (each rank's mean-loss gradient weighted by its share of the batch, then
// summed: exactly the full batch's mean gradient); the adaptive ψ fed with the global L_cls, reduced before the
// backward, so every rank holds the same ψ; batch norm per rank (as the reference's DataParallel), with rank 0's
// statistics broadcast at checkpoints and before validation, so what a checkpoint holds is what every rank holds;
// or, with syncBatchNorm, batch statistics over the global batch (PyTorch's SyncBatchNorm), differentiable through
// the ranks (also for the Lipschitz loss's double backprop).
import { Tensor, tidy, keep, randperm, manualSeed, getRngState, setRngState, zerosLike, stack, full, noGrad, type ProcessGroup } from '../engine/index.js';
import { setTrainingBatchNorm, type Module, type BatchNorm2d, type TrainingBatchNorm } from '../nn/index.js';
import type { ImageDataset } from '../data/dataset.js';
import { AdaptivePsi } from './lipschitz.js';
import type { Sgd } from './sgd.js';

/** A seed for rank `rank`'s own generator stream (augmentation, noise, smoothing choices) at optimizer step `step`. */
export function rankSeed(seed: number, rank: number, step: number): number {
  return (seed * 1_000_003 + (rank + 1) * 7_919 + step * 104_729) % 2 ** 48;
}

/**
 * Epoch e's permutation of n images for a data-parallel run, the same on every rank: drawn from a generator seeded
 * with (seed, epoch), as DistributedSampler does; the generator's own stream is restored afterwards.
 */
export function epochPermutation(n: number, seed: number, epoch: number): Tensor {
  const saved = getRngState();
  try {
    manualSeed((seed * 2_654_435 + epoch + 1) % 2 ** 48);
    return keep(randperm(n));
  } finally {
    setRngState(saved);
    saved.dispose();
  }
}

export class DataParallel {
  /** This step's images: on this rank and in the whole (global) batch. */
  #local = 0;
  #global = 0;
  /** Batch norm with the global batch's statistics (the run's choice: stored in its checkpoint). */
  syncBatchNorm: boolean;
  #prevBn: TrainingBatchNorm | null = null;
  #bnInstalled = false;
  constructor(readonly pg: ProcessGroup, opts: { syncBatchNorm?: boolean } = {}) {
    this.syncBatchNorm = opts.syncBatchNorm ?? false;
  }

  /** Puts synchronised batch norm in place for training-mode forwards (when chosen); undone by uninstall(). */
  install(): void {
    if (!this.syncBatchNorm || this.#bnInstalled) return;
    this.#prevBn = setTrainingBatchNorm((x, bn) => this.#syncedBatchNorm(x, bn));
    this.#bnInstalled = true;
  }
  uninstall(): void {
    if (!this.#bnInstalled) return;
    setTrainingBatchNorm(this.#prevBn);
    this.#bnInstalled = false;
  }

  /**
   * Training-mode batch norm over the global batch: per channel, the sum, the sum of squares and the count of every
   * rank's values summed over ranks (differentiably), the biased variance normalising, the unbiased one going into
   * the running statistics (as torch.nn.SyncBatchNorm).
   */
  #syncedBatchNorm(x: Tensor, bn: BatchNorm2d): Tensor {
    return tidy(() => {
      const [n, c, h, w] = x.shape as [number, number, number, number];
      const local = stack([x.sum([0, 2, 3]), x.square().sum([0, 2, 3]), full([c], n * h * w, { dtype: x.dtype })], 0);
      const g = this.pg.sumOverRanks(local);
      const count = g.select(0, 2);
      const mean = g.select(0, 0).div(count);
      const variance = g.select(0, 1).div(count).sub(mean.square());
      const total = count.select(0, 0).item();
      noGrad(() => {
        bn.runningMean.mul_(1 - bn.momentum).add_(mean.detach().mul(bn.momentum));
        bn.runningVar.mul_(1 - bn.momentum).add_(variance.detach().mul(bn.momentum * total / Math.max(1, total - 1)));
      });
      const s = [1, c, 1, 1];
      return x.sub(mean.reshape(s)).mul(variance.add(bn.eps).rsqrt().reshape(s)).mul(bn.weight.reshape(s)).add(bn.bias.reshape(s));
    });
  }
  get rank(): number { return this.pg.rank; }
  get world(): number { return this.pg.world; }
  get isRoot(): boolean { return this.pg.isRoot; }

  /** Bounds of rank r's contiguous part of n items (sizes differ by at most one; the first n mod world get one more). */
  bounds(n: number, rank = this.rank): [number, number] {
    const base = Math.floor(n / this.world), extra = n % this.world;
    const lo = rank * base + Math.min(rank, extra);
    return [lo, lo + base + (rank < extra ? 1 : 0)];
  }

  /** This rank's shard of a global batch's indices; remembers the sizes for the weighting of this step. */
  shard(idx: Tensor): Tensor {
    const n = idx.shape[0]!;
    const [lo, hi] = this.bounds(n);
    this.#local = hi - lo;
    this.#global = n;
    return idx.slice(0, lo, hi);
  }

  /** This rank's share of the current global batch (the weight of its mean loss in the global mean). */
  get share(): number { return this.#global === 0 ? 1 : this.#local / this.#global; }

  /** The global batch's mean of a per-rank mean (weighted by the ranks' shares): blocking, every rank gets it. */
  allreduceMean(x: number): number {
    return this.pg.allreduceNumbers([x * this.share])[0]!;
  }

  /** Sums numbers over ranks (float64, exact for counts). */
  sum(values: readonly number[]): number[] { return this.pg.allreduceNumbers(values); }

  /** True on every rank when it is true on any (a stop request, a checkpoint that is due). */
  any(flags: readonly boolean[]): boolean[] {
    return this.pg.allreduceNumbers(flags.map((f) => (f ? 1 : 0)), 'max').map((v) => v > 0);
  }

  /**
   * The gradients of the parameters, averaged over the global batch: each rank's gradient (of its shard's mean loss)
   * weighted by its share, summed over ranks in one flattened bucket. Parameters without a gradient get zeros, so
   * every rank reduces the same bucket.
   */
  averageGradients(params: readonly Tensor[]): void {
    tidy(() => {
      const grads = params.map((p) => {
        const g = p.grad;
        if (g !== null) return g;
        const z = zerosLike(p);
        p.grad = z;
        return z;
      });
      const share = this.share;
      if (share !== 1) for (const g of grads) g.mul_(share);
      this.pg.allreduceSync(grads, 'sum');
    });
  }

  /** Rank 0's parameters and buffers on every rank (in place). */
  broadcastModel(model: Module): void {
    const ts = [...model.parameters(), ...model.namedBuffers().map(([, b]) => b)];
    const floats = ts.filter((t) => t.dtype === 'float32');
    const others = ts.filter((t) => t.dtype !== 'float32');
    if (floats.length > 0) this.pg.broadcastSync(floats);
    for (const t of others) this.pg.broadcastSync([t]);
  }

  /** Rank 0's buffers (batch-norm statistics) on every rank. */
  broadcastBuffers(model: Module): void {
    const bs = model.namedBuffers().map(([, b]) => b).filter((b) => b.dtype === 'float32');
    if (bs.length > 0) this.pg.broadcastSync(bs);
  }

  /** Rank 0's momentum buffers on every rank (created as zeros where rank 0 has one and this rank has not). */
  broadcastOptimizer(sgd: Sgd): void {
    const present = this.pg.broadcastJson<boolean[]>(this.isRoot ? sgd.buffers.map((b) => b !== null) : undefined);
    const bufs: Tensor[] = [];
    present.forEach((has, i) => {
      if (!has) {
        sgd.buffers[i]?.dispose();
        sgd.buffers[i] = null;
        return;
      }
      sgd.buffers[i] ??= keep(tidy(() => zerosLike(sgd.params[i]!)));
      bufs.push(sgd.buffers[i]!);
    });
    if (bufs.length > 0) this.pg.broadcastSync(bufs);
  }

  /** Every rank's generator state, in rank order. */
  gatherRng(state: Uint8Array): Uint8Array[] { return this.pg.allgatherBytes(state); }

  /** Rank 0's JSON value on every rank. */
  fromRoot<T>(value: T | undefined): T { return this.pg.broadcastJson(value); }

  /**
   * Accuracy and mean cross-entropy over a set, each rank scoring a contiguous part with `evaluate`, after rank 0's
   * batch-norm statistics were broadcast (so the result is what rank 0's model scores).
   */
  evaluate<M extends Module>(model: M, set: ImageDataset, evaluate: (m: M, s: ImageDataset) => { acc: number; loss: number }): { acc: number; loss: number } {
    this.broadcastBuffers(model);
    const [lo, hi] = this.bounds(set.n);
    const part = set.subset(Array.from({ length: hi - lo }, (_, i) => lo + i));
    const r = hi > lo ? evaluate(model, part) : { acc: 0, loss: 0 };
    const n = hi - lo;
    const [correct, lossSum] = this.sum([Math.round(r.acc * n), r.loss * n]);
    return { acc: set.n === 0 ? 0 : correct! / set.n, loss: set.n === 0 ? 0 : lossSum! / set.n };
  }
}

/** The adaptive ψ stepped with the global batch's L_cls (a blocking allreduce): the same ψ on every rank. */
export class GlobalAdaptivePsi extends AdaptivePsi {
  constructor(readonly dp: DataParallel, r = 0) { super(r); }
  override update(lossCls: number): number {
    return super.update(this.dp.allreduceMean(lossCls));
  }
}
