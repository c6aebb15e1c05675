// Robust accuracy under a fixed-ε attack (RobustBench's measure): the share of images that are classified
// correctly and stay so under the attack. Only the clean-correct images are attacked (the others count as errors).
import { inEval, type Module } from '../nn/index.js';
import { manualSeed } from '../engine/index.js';
import type { Attack, AttackInput } from '../attack/base.js';
import { Misclassification } from '../attack/criteria.js';
import { PGD } from '../attack/pgd.js';
import { predict } from './predict.js';
import { ImageDataset, inputShape } from '../data/dataset.js';

/** RobustBench's CIFAR-10 threat models: L∞ ε = 8/255 and L2 ε = 0.5. */
export const ROBUSTBENCH_EPS = { linf: 8 / 255, l2: 0.5 } as const;

export interface RobustAccuracy {
  attack: string;
  epsilons: number[];
  /** Clean accuracy. */
  clean: number;
  /** Per ε: share of all images correct under the attack. */
  accuracy: number[];
}

/** A labelled set of the inputs (a tensor's images copied out once, so they can be subset). */
function asSet(inputs: AttackInput, labels: Int32Array): ImageDataset {
  if (inputs instanceof ImageDataset) return inputs;
  const { n, ...shape } = inputShape(inputs);
  if (labels.length !== n) throw new Error(`robust accuracy: ${labels.length} labels for ${n} images`);
  return ImageDataset.fromFloats(inputs.contiguous().data(), labels, shape, 'image tensor');
}

/**
 * Robust accuracy of the model under `attack` at each ε (eval mode for the run, restored after). `seed` seeds
 * libtorch's generator first, so random starts are reproducible. `imageKeys`: each image's key for the attack's
 * per-image randomness (RunOptions.sampleKeys; default its index here), e.g. its index in the whole data set when
 * these images are one process's shard.
 */
export function robustAccuracy(model: Module, inputs: AttackInput, labels: Int32Array, attack: Attack, epsilons: readonly number[],
  opts: { batch?: number; seed?: number; onStep?: (images: number) => void; imageKeys?: ArrayLike<number> } = {}): RobustAccuracy {
  const set = asSet(inputs, labels);
  return inEval(model, () => {
    const { classes } = predict(model, set, { batch: opts.batch ?? 256 });
    const correct: number[] = [];
    for (let i = 0; i < set.n; i++) if (classes[i] === labels[i]) correct.push(i);
    const sub = set.subset(correct);
    const subLabels = Int32Array.from(correct, (i) => labels[i]!);
    if (opts.seed !== undefined) manualSeed(opts.seed);
    const accuracy = correct.length === 0 ? epsilons.map(() => 0) : (() => {
      const sampleKeys = correct.map((i) => opts.imageKeys?.[i] ?? i);
      const r = attack.run(model, sub, new Misclassification(subLabels), { epsilons, batch: opts.batch ?? 128, keepImages: false, sampleKeys, ...(opts.onStep ? { onStep: opts.onStep } : {}) });
      return r.success.map((s) => (correct.length - s.reduce((a, v) => a + v, 0)) / set.n);
    })();
    return { attack: attack.name, epsilons: [...epsilons], clean: correct.length / Math.max(1, set.n), accuracy };
  });
}

/**
 * PGD robust accuracy at RobustBench's two points (L∞ 8/255, L2 0.5). Each image's random start is seeded with
 * (seed, its key: imageKeys, else its index), so results do not depend on batching or sharding.
 */
export function robustBenchPgd(model: Module, inputs: AttackInput, labels: Int32Array,
  opts: { steps?: number; batch?: number; seed?: number; norms?: readonly ('linf' | 'l2')[]; onStep?: (images: number) => void; imageKeys?: ArrayLike<number> } = {}):
  Partial<Record<'linf' | 'l2', RobustAccuracy & { steps: number }>> {
  const out: Partial<Record<'linf' | 'l2', RobustAccuracy & { steps: number }>> = {};
  for (const norm of opts.norms ?? (['linf', 'l2'] as const)) {
    const pgd = new PGD({ norm, seed: opts.seed ?? 0, ...(opts.steps !== undefined ? { steps: opts.steps } : {}) });
    out[norm] = { ...robustAccuracy(model, inputs, labels, pgd, [ROBUSTBENCH_EPS[norm]], { ...opts, seed: opts.seed ?? 0 }), steps: pgd.steps };
  }
  return out;
}
