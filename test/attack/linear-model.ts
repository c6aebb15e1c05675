// A tiny linear classifier z = W·flatten(x) + b, and a float64 plain-JS oracle of its cross-entropy input
// gradient, so attack steps can be checked against arithmetic done independently of libtorch.
import { Tensor, tensor, linear, seededRandom } from '../../src/engine/index.js';
import { Module } from '../../src/nn/index.js';
import { ImageDataset } from '../../src/data/dataset.js';

export class LinearNet extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(readonly W: Float64Array, readonly b: Float64Array, readonly K: number, readonly D: number) {
    super();
    this.weight = this.registerParameter('weight', tensor(Float32Array.from(W), [K, D]));
    this.bias = this.registerParameter('bias', tensor(Float32Array.from(b), [K]));
  }
  protected forward(x: Tensor): Tensor { return linear(x.flatten(1), this.weight, this.bias); }
}

/** Deterministic pseudo-random numbers in [0, 1): the engine's mulberry32, with the state these tests were written for. */
export function rng(seed: number): () => number {
  return seededRandom((seed ^ 0x9e3779b9) >>> 0);
}

/** Weights rounded to float32 so the oracle and the engine see the same model. */
export function makeLinear(K: number, D: number, seed: number, scale = 1): LinearNet {
  const r = rng(seed);
  const W = Float64Array.from({ length: K * D }, () => Math.fround((r() * 2 - 1) * scale));
  const b = Float64Array.from({ length: K }, () => Math.fround((r() * 2 - 1) * 0.1));
  return new LinearNet(W, b, K, D);
}

export function logits64(m: LinearNet, x: ArrayLike<number>): number[] {
  const z: number[] = [];
  for (let k = 0; k < m.K; k++) {
    let s = m.b[k]!;
    for (let j = 0; j < m.D; j++) s += m.W[k * m.D + j]! * x[j]!;
    z.push(s);
  }
  return z;
}

export function softmax64(z: number[]): number[] {
  const mx = Math.max(...z);
  const e = z.map((v) => Math.exp(v - mx));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** ∂CE(z(x), t)/∂x = Wᵀ(softmax(z) − onehot(t)). */
export function ceGrad64(m: LinearNet, x: ArrayLike<number>, t: number): number[] {
  const p = softmax64(logits64(m, x));
  p[t]! -= 1;
  const g = new Array<number>(m.D).fill(0);
  for (let k = 0; k < m.K; k++) for (let j = 0; j < m.D; j++) g[j]! += m.W[k * m.D + j]! * p[k]!;
  return g;
}

export const argmax = (v: number[]): number => v.reduce((bi, x, i) => (x > v[bi]! ? i : bi), 0);
export const rms = (v: ArrayLike<number>): number => Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0) / v.length);

/**
 * A classification problem on a linear model (K classes, images C×H×W): b random images in [0, 1) rounded to
 * float32, labelled with the model's clean prediction, also as an attack input.
 */
export function linearProblem(seed: number, b: number, shape: { C: number; H: number; W: number; K: number }) {
  const D = shape.C * shape.H * shape.W;
  const m = makeLinear(shape.K, D, seed, 1.5);
  const r = rng(seed + 1);
  const x = Array.from({ length: b }, () => Array.from({ length: D }, () => Math.fround(r())));
  const labels = Int32Array.from(x, (xi) => argmax(logits64(m, xi)));
  return { m, x, labels, input: floatImages(Float32Array.from(x.flat()), b, shape.C, shape.H, shape.W, labels) };
}

/** Float images as an attack input (an ImageDataset). Attacks read classes from their criterion, so the set's
 * labels are placeholders (0) unless given. */
export function floatImages(images: Float32Array, n: number, channels: number, height: number, width: number, labels?: Int32Array): ImageDataset {
  return ImageDataset.fromFloats(images, labels ?? new Int32Array(n), { channels, height, width }, 'test images');
}
