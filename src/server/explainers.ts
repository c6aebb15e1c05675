// The one place the server meets the explanation methods (src/explain, `explain(model, images, targets, options)`).
// Everything else in src/server talks to this file's small interface: one image at a time, plain arrays out.
//
// AE (METHOD.md §5): targeted, "encourage", budget mode, ρ = eps, overshoot 5, 35 steps, no momentum, eval mode;
// one per requested class, all from the same image, in one batch. The map methods explain one class (the
// predicted one) and return an H×W map.
import { tensor, tidy, noGrad, type Tensor } from '../engine/index.js';
import type { PreActResNet } from '../nn/index.js';
import { explain, METHODS, type Attribution, type MethodName } from '../explain/index.js';

export type { MethodName };
/** The explanation methods the server offers: all of src/explain's. */
export const METHOD_NAMES: readonly MethodName[] = METHODS;

export interface MethodInfo {
  name: MethodName;
  label: string;
  available: boolean;
  /** Why not, when unavailable. */
  note?: string;
}

const LABELS: Record<MethodName, string> = {
  ae: 'Adversarial explanation', gradcam: 'Grad-CAM', lime: 'LIME', saliency: 'Gradient saliency', smoothgrad: 'SmoothGrad',
  ig: 'Integrated gradients',
};

const IMPLEMENTED: ReadonlySet<MethodName> = new Set(METHOD_NAMES);

export function methodInfo(): MethodInfo[] {
  return METHOD_NAMES.map((name) => IMPLEMENTED.has(name)
    ? { name, label: LABELS[name], available: true }
    : { name, label: LABELS[name], available: false, note: 'not in this build' });
}

export function isAvailable(name: MethodName): boolean { return IMPLEMENTED.has(name); }

export interface ImageShape { channels: number; height: number; width: number }

export interface AeOptions {
  /** ρ: the RMS budget of δ (METHOD §5 default 0.1). */
  rho: number;
  steps: number;
  overshoot: number;
}

export const AE_DEFAULTS: AeOptions = Object.freeze({ rho: 0.1, steps: 35, overshoot: 5 });

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
export function probabilities(model: PreActResNet, x: Float32Array, shape: ImageShape): Float32Array {
  return tidy(() => noGrad(() => model.call(tensor(x, [1, shape.channels, shape.height, shape.width])).softmax(1).data()));
}

/** `count` copies of one CHW image as a batch, the explainers' input. */
function repeated<T>(x: Float32Array, shape: ImageShape, count: number, fn: (images: Tensor) => T): T {
  const { channels: c, height: h, width: w } = shape;
  return tidy(() => fn(tensor(x, [1, c, h, w]).expand([count, c, h, w]).contiguous()));
}

/** One adversarial explanation per target, all from the same image, in one batch. */
export function adversarialExplanations(model: PreActResNet, x: Float32Array, shape: ImageShape, targets: readonly number[], opts: AeOptions): AeTarget[] {
  const k = targets.length;
  if (k === 0) return [];
  const per = shape.channels * shape.height * shape.width;
  const r = repeated(x, shape, k, (images) => explain(model, images, Int32Array.from(targets), { method: 'ae', rho: opts.rho, steps: opts.steps, overshoot: opts.overshoot }));
  const ae = r.ae!;
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
  method: Exclude<MethodName, 'ae'>;
  target: number;
  /** H×W attribution, larger = more important (Grad-CAM ≥ 0; LIME, saliency, IG may be signed). */
  map: Float32Array;
  signed: boolean;
  /** e.g. the Grad-CAM layer, LIME's sample count. */
  detail?: string;
}

export interface MapOptions {
  /** LIME: perturbed samples (SmoothGrad: noisy samples). */
  samples: number;
  /** LIME: seed of the masks. */
  seed: number;
}

function detailOf(a: Attribution, opts: MapOptions): string | undefined {
  switch (a.method) {
    case 'gradcam': return a.gradcam ? `layer ${a.gradcam.layer}, ${a.gradcam.camHeight}×${a.gradcam.camWidth}` : undefined;
    case 'lime': return a.lime ? `${a.lime.counts[0]} superpixels, ${opts.samples} samples, R² ${a.lime.score[0]!.toFixed(2)}` : undefined;
    case 'ig': return a.ig ? `completeness gap ${a.ig.delta[0]!.toExponential(1)}` : undefined;
    default: return undefined;
  }
}

/** A map-producing explanation of `target` for one CHW image. */
export function mapExplanation(method: Exclude<MethodName, 'ae'>, model: PreActResNet, x: Float32Array, shape: ImageShape,
  target: number, opts: MapOptions): MapExplanation {
  if (!isAvailable(method)) throw new Error(`explanation method '${method}' is not available in this build`);
  const t = Int32Array.of(target);
  const a = repeated(x, shape, 1, (images) => {
    switch (method) {
      case 'gradcam': return explain(model, images, t, { method: 'gradcam' });
      case 'lime': return explain(model, images, t, { method: 'lime', samples: opts.samples, seed: opts.seed });
      case 'saliency': return explain(model, images, t, { method: 'saliency' });
      case 'smoothgrad': return explain(model, images, t, { method: 'smoothgrad' });
      case 'ig': return explain(model, images, t, { method: 'ig' });
    }
  });
  const out: MapExplanation = { method, target, map: a.maps.slice(0, shape.height * shape.width), signed: method === 'lime' || method === 'ig' };
  const detail = detailOf(a, opts);
  if (detail !== undefined) out.detail = detail;
  return out;
}
