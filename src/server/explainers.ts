// The one place the server meets the explanation methods (src/explain, `explain(model, images, targets, options)`).
// Everything else in src/server talks to this file's small interface: one image at a time, plain arrays out.
//
// AE (METHOD.md §5): targeted, "encourage", budget mode, ρ = eps, overshoot 5, 35 steps, no momentum, eval mode;
// one per requested class, all from the same image, in one batch. The map methods explain one class (the
// predicted one) and return an H×W map. Which methods there are, their labels, whether their maps are signed and
// the line under each map come from the explainer registry (src/explain/registry.ts): nothing here lists them.
import type { ImageShape } from '../data/dataset.js';
import { tensor, tidy, noGrad, type Tensor } from '../engine/index.js';
import type { Module } from '../nn/index.js';
import { explain, explainers, explainerFor, type AnyExplanation, type MethodName } from '../explain/index.js';

export type { MethodName };
/** The paper's AE settings (METHOD.md §5), defined with the AE in src/explain. */
export { AE_DEFAULTS } from '../explain/index.js';

/** The explanation methods the server offers: every registered one, read when asked (plug-ins included). */
export function methodNames(): string[] { return explainers().map((d) => d.name); }

export interface MethodInfo {
  name: string;
  label: string;
  available: boolean;
  /** Why not, when unavailable. */
  note?: string;
}

export function methodInfo(): MethodInfo[] {
  return explainers().map((d) => ({ name: d.name, label: d.label, available: true }));
}


export interface AeOptions {
  /** ρ: the RMS budget of δ (METHOD §5 default 0.1). */
  rho: number;
  steps: number;
  overshoot: number;
}

export interface AeTarget {
  target: number;
  /** Softmax probability of the target on the original image. */
  pBefore: number;
  /** … and on x + δ. */
  pAfter: number;
  /** argmax at x + δ. */
  predictedAfter: number;
  /** RMS of δ. */
  rms: number;
  /** x + δ, CHW (not clamped: the paper's routine never clamps). */
  image: Float32Array;
  delta: Float32Array;
}

/** Softmax probabilities of one CHW image. */
export function probabilities(model: Module, x: Float32Array, shape: ImageShape): Float32Array {
  return tidy(() => noGrad(() => model.call(tensor(x, [1, shape.channels, shape.height, shape.width])).softmax(1).data()));
}

/** `count` copies of one CHW image as a batch, the explainers' input. */
function repeated<T>(x: Float32Array, shape: ImageShape, count: number, fn: (images: Tensor) => T): T {
  const { channels: c, height: h, width: w } = shape;
  return tidy(() => fn(tensor(x, [1, c, h, w]).expand([count, c, h, w]).contiguous()));
}

/** One adversarial explanation per target, all from the same image, in one batch. */
export function adversarialExplanations(model: Module, x: Float32Array, shape: ImageShape, targets: readonly number[], opts: AeOptions): AeTarget[] {
  const k = targets.length;
  if (k === 0) return [];
  const per = shape.channels * shape.height * shape.width;
  const r = repeated(x, shape, k, (images) => explain(model, images, Int32Array.from(targets), { method: 'ae', rho: opts.rho, steps: opts.steps, overshoot: opts.overshoot }));
  const ae = r.details;
  return targets.map((target, i) => ({
    target,
    pBefore: r.pBefore[i]!,
    pAfter: ae.pAfter[i]!,
    predictedAfter: ae.classAfter[i]!,
    rms: ae.rms[i]!,
    image: ae.images.slice(i * per, (i + 1) * per),
    delta: ae.deltas.slice(i * per, (i + 1) * per),
  }));
}

export interface MapExplanation {
  method: string;
  target: number;
  /** H×W attribution, larger = more important (Grad-CAM ≥ 0; LIME, saliency, IG may be signed). */
  map: Float32Array;
  signed: boolean;
  /** e.g. the Grad-CAM layer, LIME's sample count. */
  detail?: string;
}

/** What a request may set beyond the defaults: LIME's sample count and mask seed (fields limeSamples, seed). */
export interface MapOptions {
  /** LIME: perturbed samples. */
  samples: number;
  /** LIME: seed of the masks. */
  seed: number;
}

/** A map-producing explanation of `target` for one CHW image, by any registered method but the AE. */
export function mapExplanation(method: string, model: Module, x: Float32Array, shape: ImageShape,
  target: number, opts: MapOptions): MapExplanation {
  const def = explainerFor(method);
  // The API's limeSamples and seed fields are LIME's; every other method runs with its defaults.
  const options = method === 'lime' ? { method, samples: opts.samples, seed: opts.seed } : { method };
  const a: AnyExplanation = repeated(x, shape, 1, (images) => explain(model, images, Int32Array.of(target), options));
  const out: MapExplanation = { method, target, map: a.maps.slice(0, shape.height * shape.width), signed: def.signed };
  const detail = def.summary?.(a, 0);
  if (detail !== undefined) out.detail = detail;
  return out;
}
