// The one explainer interface (in the spirit of Captum's `attribute(inputs, target)`): every method answers
// `attribute(model, images, targets)` for a batch of images and one target class per image, and returns a
// per-pixel importance map for each (image, target) pair plus the target's probability, so metrics
// (deletion/insertion AUC) and pictures take any explainer. Method-specific results ride along in one field.
import { tensor, noGrad, type Tensor } from '../engine/index.js';
import type { Module } from '../nn/index.js';

export type MethodName = 'ae' | 'gradcam' | 'lime' | 'saliency' | 'smoothgrad' | 'ig';
export const METHODS: readonly MethodName[] = ['ae', 'gradcam', 'lime', 'saliency', 'smoothgrad', 'ig'];

/** Adversarial explanation (METHOD.md §5): the image x + δ that the network would call the target. */
export interface AeDetails {
  /** x + δ, unclamped (clamp only when writing a picture), n·C·H·W. */
  images: Float32Array;
  /** δ, n·C·H·W. */
  deltas: Float32Array;
  /** RMS(δ) per pair. */
  rms: Float32Array;
  /** Softmax probability of the target on x + δ. */
  pAfter: Float32Array;
  /** Predicted class on x + δ. */
  classAfter: Int32Array;
}

/** Grad-CAM: the class activation map before upsampling. */
export interface CamDetails {
  layer: string;
  /** ReLU(Σ_k α_k A_k) at the layer's resolution, n·h·w (not normalised). */
  cam: Float32Array;
  camHeight: number;
  camWidth: number;
}

/** LIME: the segmentation and the surrogate's fit, per pair. */
export interface LimeDetails {
  /** Superpixel label per pixel, n·H·W (labels 0..count−1 per image). */
  segments: Int32Array;
  /** Number of superpixels per image. */
  counts: Int32Array;
  /** Surrogate coefficient per superpixel, per pair. */
  weights: Float64Array[];
  intercept: Float64Array;
  /** Weighted R² of the surrogate on its samples. */
  score: Float64Array;
  /** The top-k superpixels with positive weight, best first. */
  top: Int32Array[];
}

/** Integrated gradients: signed per-element attributions and the completeness gap. */
export interface IgDetails {
  /** (x − x') · mean gradient along the path, n·C·H·W. */
  attributions: Float32Array;
  /** Σ attributions − (z_t(x) − z_t(x')) per pair: the Riemann-sum error (Captum's "convergence delta"). */
  delta: Float32Array;
}

export interface Attribution {
  method: MethodName;
  n: number;
  channels: number;
  height: number;
  width: number;
  targets: Int32Array;
  /** Importance of each pixel for the target, n·H·W row-major; larger = more important (LIME and IG are signed). */
  maps: Float32Array;
  /** Softmax probability of the target on the (clean) input. */
  pBefore: Float32Array;
  ae?: AeDetails;
  gradcam?: CamDetails;
  lime?: LimeDetails;
  ig?: IgDetails;
}

/** What every explanation method implements. Options are given to the constructor. */
export interface Explainer {
  readonly name: MethodName;
  /**
   * Explains targets[i] for images[i]: images [N, C, H, W] in [0, 1] (any dtype the model takes), one target class
   * per image. The model runs in eval mode for the call (restored after); its parameters are not changed.
   * Every tensor made is freed before it returns: the result is plain arrays.
   */
  attribute(model: Module, images: Tensor, targets: Int32Array): Attribution;
}

/** Checks the batch and the targets; returns [N, C, H, W]. */
export function checkInputs(method: string, images: Tensor, targets: Int32Array): [number, number, number, number] {
  if (images.rank !== 4) throw new Error(`${method}: images must be [N, C, H, W], got [${images.shape.join(', ')}]`);
  const [n, c, h, w] = images.shape as [number, number, number, number];
  if (targets.length !== n) throw new Error(`${method}: ${targets.length} target(s) for ${n} image(s)`);
  return [n, c, h, w];
}

/** Checks targets against the number of classes (known after the first forward). */
export function checkTargets(method: string, targets: Int32Array, classes: number): void {
  for (const t of targets) {
    if (!Number.isInteger(t) || t < 0 || t >= classes) throw new Error(`${method}: target ${t} outside 0..${classes - 1}`);
  }
}

/** int64 [B] of targets[start, start+count). */
export function targetTensor(targets: Int32Array, start = 0, count = targets.length - start): Tensor {
  return tensor(targets.subarray(start, start + count), [count]).cast('int64');
}

/** Softmax probabilities [B, K] of a batch, without autograd. */
export function probabilities(model: Module, x: Tensor): Tensor {
  return noGrad(() => model.call(x).softmax(1));
}

/** Calls fn(start, count) over [0, n) in chunks of `batch`. */
export function chunks(n: number, batch: number, fn: (start: number, count: number) => void): void {
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`batch must be a positive integer, got ${batch}`);
  for (let i = 0; i < n; i += batch) fn(i, Math.min(batch, n - i));
}

/** Copies a [B, ...] tensor's values into out at offset start·(values per sample). */
export function copyInto(out: Float32Array, t: Tensor, start: number): void {
  const per = t.size / t.shape[0]!;
  out.set(t.contiguous().cast('float32').data(), start * per);
}
