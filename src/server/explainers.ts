// The one place the server meets the explanation methods. Everything else in src/server talks to this file's
// small interface, so when src/explain (issue 5: `explain(model, images, targets, options)`) lands, switching to it
// is a change here only.
//
// Until then the adversarial explanation is computed right here with the paper's routine (METHOD.md §5: targeted,
// "encourage", budget mode, ρ = eps, overshoot 5, 35 steps, no momentum, eval mode), and the map methods report
// themselves unavailable.
import { tensor, tidy, noGrad } from '../engine/index.js';
import type { PreActResNet } from '../nn/index.js';
import { paperRoutine } from '../attack/paper.js';

export type MethodName = 'ae' | 'gradcam' | 'lime' | 'saliency' | 'ig';
export const METHOD_NAMES: readonly MethodName[] = ['ae', 'gradcam', 'lime', 'saliency', 'ig'];

export interface MethodInfo {
  name: MethodName;
  label: string;
  available: boolean;
  /** Why not, when unavailable. */
  note?: string;
}

const LABELS: Record<MethodName, string> = {
  ae: 'Adversarial explanation', gradcam: 'Grad-CAM', lime: 'LIME', saliency: 'Gradient saliency', ig: 'Integrated gradients',
};

const IMPLEMENTED: ReadonlySet<MethodName> = new Set(['ae']);

export function methodInfo(): MethodInfo[] {
  return METHOD_NAMES.map((name) => IMPLEMENTED.has(name)
    ? { name, label: LABELS[name], available: true }
    : { name, label: LABELS[name], available: false, note: 'not in this build yet (src/explain, issue 5)' });
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

/** One adversarial explanation per target, all from the same image, in one batch. */
export function adversarialExplanations(model: PreActResNet, x: Float32Array, shape: ImageShape, targets: readonly number[], opts: AeOptions): AeTarget[] {
  const { channels: c, height: h, width: w } = shape;
  const per = c * h * w;
  const k = targets.length;
  if (k === 0) return [];
  return tidy(() => {
    const x1 = tensor(x, [1, c, h, w]);
    const xb = x1.expand([k, c, h, w]).contiguous();
    const t = tensor(Int32Array.from(targets), [k]).cast('int64');
    const before = noGrad(() => model.call(x1).softmax(1)).data();
    const { adv, delta } = paperRoutine(model, xb, t, {
      mode: 'budget', eps: opts.rho, steps: opts.steps, overshoot: opts.overshoot, momentum: 0, encourage: true, guard: false,
    });
    const after = noGrad(() => model.call(adv).softmax(1));
    const pAfter = after.data();
    const argAfter = after.argmax(1).cast('int32').data<Int32Array>();
    const rms = delta.square().mean([1, 2, 3]).sqrt().data();
    const advData = adv.contiguous().data();
    const deltaData = delta.contiguous().data();
    const classes = before.length;
    return targets.map((target, i) => ({
      target,
      pBefore: before[target]!,
      pAfter: pAfter[i * classes + target]!,
      predictedAfter: argAfter[i]!,
      rms: rms[i]!,
      image: advData.slice(i * per, (i + 1) * per),
      delta: deltaData.slice(i * per, (i + 1) * per),
    }));
  });
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
  /** LIME: perturbed samples. */
  samples: number;
  /** LIME: seed of the masks. */
  seed: number;
}

/** A map-producing explanation of `target` for one CHW image. Throws for a method that is not available. */
export function mapExplanation(method: Exclude<MethodName, 'ae'>, _model: PreActResNet, _x: Float32Array, _shape: ImageShape,
  _target: number, _opts: MapOptions): MapExplanation {
  throw new Error(`explanation method '${method}' is not available in this build`);
}
