// How a perturbation is measured, as objects holding each norm's pieces (distance, steepest-ascent direction,
// projection onto the ε-ball, random start), so attacks call `norm.project(δ, ε)` instead of branching on a
// norm's name. All work per sample on batches [B, ...].
import { rand, randn, type Tensor } from '../engine/index.js';

export type NormName = 'rms' | 'l2' | 'linf';

export interface Norm {
  readonly name: NormName;
  /** [B]: the size of each sample's perturbation. */
  distance(delta: Tensor): Tensor;
  /** The gradient scaled to unit size in this norm: the steepest-ascent step of size 1. */
  normalise(grad: Tensor): Tensor;
  /** The perturbation brought back into the ε-ball (unchanged inside it, up to rounding). */
  project(delta: Tensor, eps: number): Tensor;
  /** A perturbation drawn uniformly from the ε-ball, of the given shape (libtorch's generator). */
  randomStart(shape: readonly number[], eps: number): Tensor;
}

/** Dimensions 1 … rank−1: everything but the batch. */
const sampleDims = (t: Tensor): number[] => t.shape.slice(1).map((_, i) => i + 1);
/** [B] → [B, 1, …, 1], to scale samples of a [B, ...] tensor. */
const perSample = (v: Tensor, like: Tensor): Tensor => v.reshape([-1, ...like.shape.slice(1).map(() => 1)]);

/** Euclidean norm over all elements of a sample. */
export const L2: Norm = {
  name: 'l2',
  distance: (d) => d.square().sum(sampleDims(d)).sqrt(),
  normalise: (g) => g.div(perSample(L2.distance(g).add(1e-12), g)),
  project: (d, eps) => d.mul(perSample(L2.distance(d).add(1e-12).reciprocal().mul(eps).clamp(0, 1), d)),
  randomStart(shape, eps) {
    // Uniform in the ball: a random direction times ε·u^(1/D).
    const D = shape.slice(1).reduce((a, b) => a * b, 1);
    const unit = L2.normalise(randn(shape));
    return unit.mul(rand([shape[0]!, ...shape.slice(1).map(() => 1)]).pow(1 / D).mul(eps));
  },
};

/** Largest absolute element of a sample. */
export const LINF: Norm = {
  name: 'linf',
  distance: (d) => d.abs().amax(sampleDims(d)),
  normalise: (g) => g.sign(),
  project: (d, eps) => d.clamp(-eps, eps),
  randomStart: (shape, eps) => rand(shape).mul(2 * eps).sub(eps),
};

/**
 * Root mean square over all C·H·W elements of a sample: the paper's distance (an L2 norm divided by √D). The
 * direction is divided by 1e-8 + RMS (METHOD.md §4); outside the ball the projection rescales onto it.
 */
export const RMS: Norm = {
  name: 'rms',
  distance: (d) => d.square().mean(sampleDims(d)).sqrt(),
  normalise: (g) => g.div(g.square().mean(sampleDims(g), true).sqrt().add(1e-8)),
  project: (d, eps) => d.mul(d.square().mean(sampleDims(d), true).sqrt().clamp(eps).reciprocal().mul(eps)),
  randomStart(shape, eps) {
    const D = shape.slice(1).reduce((a, b) => a * b, 1);
    return L2.randomStart(shape, eps * Math.sqrt(D));
  },
};

export const NORMS: Readonly<Record<NormName, Norm>> = { rms: RMS, l2: L2, linf: LINF };
