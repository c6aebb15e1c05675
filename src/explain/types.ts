// The one explainer interface (in the spirit of Captum's `attribute(inputs, target)`): every method answers
// `attribute(model, images, targets)` for a batch of images and one target class per image, and returns a
// per-pixel importance map for each (image, target) pair plus the target's probability, so metrics
// (deletion/insertion AUC) and pictures take any explainer. What only one method has rides along in `details`, typed
// by the method: an Explanation is a union discriminated on `method`. The methods themselves are plug-ins: each file
// registers itself (registry.ts) and adds its types to ExplainerTypes below; nothing here lists them.
import { tensor, noGrad, type Tensor } from '../engine/index.js';
import type { Module } from '../nn/index.js';

/**
 * Method name → `{ options; details }`, one entry per method file, added there by declaration merging:
 * `declare module './types.js' { interface ExplainerTypes { gradcam: { options: CamOptions; details: CamDetails } } }`.
 * It lets explain() check a method's options and narrow its result. The run-time list is the registry.
 */
export interface ExplainerTypes {}

/** The methods the type checker knows (the registry may hold more, added at run time). */
export type MethodName = keyof ExplainerTypes & string;

type Field<T, K extends string> = T extends { [P in K]: infer V } ? V : never;
/** The options method M takes (besides its name). */
export type OptionsOf<M extends MethodName> = { method: M } & Field<ExplainerTypes[M], 'options'>;
/** The details an explanation by method M carries. */
export type DetailsOf<M extends MethodName> = Field<ExplainerTypes[M], 'details'>;

/** What every explanation has, whatever the method. */
export interface ExplanationBase {
  n: number;
  channels: number;
  height: number;
  width: number;
  targets: Int32Array;
  /** Importance of each pixel for the target, n·H·W row-major; larger = more important (LIME and IG are signed). */
  maps: Float32Array;
  /** Softmax probability of the target on the (clean) input. */
  pBefore: Float32Array;
}

/** An explanation by method M: the common fields and the method's own details. */
export interface MethodExplanation<M extends string, D> extends ExplanationBase {
  method: M;
  details: D;
}

/** The explanation of a known method; for a union of names, the union of theirs, discriminated on `method`. */
export type Explanation<M extends MethodName = MethodName> = { [K in M]: MethodExplanation<K, DetailsOf<K>> }[M];
/** The options of any known method, discriminated on `method`. */
export type ExplainOptions<M extends MethodName = MethodName> = { [K in M]: OptionsOf<K> }[M];

/** An explanation by any registered method, known to the type checker or not (the CLI and server take names at run time). */
export type AnyExplanation = MethodExplanation<string, unknown>;
/** Options for a method named at run time. */
export type AnyExplainOptions = { readonly method: string } & Readonly<Record<string, unknown>>;

/** What every explanation method implements. Options are given to the constructor. */
export interface Explainer<M extends string = string, D = unknown> {
  readonly name: M;
  /**
   * Explains targets[i] for images[i]: images [N, C, H, W] in [0, 1] (any dtype the model takes), one target class
   * per image. The model runs in eval mode for the call (restored after); its parameters are not changed.
   * Every tensor made is freed before it returns: the result is plain arrays.
   */
  attribute(model: Module, images: Tensor, targets: Int32Array): MethodExplanation<M, D>;
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
