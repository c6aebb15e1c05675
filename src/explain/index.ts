// Explanations behind one call: explain(model, images, targets, { method, ...options }), or an Explainer object
// (new GradCAM({ layer }).attribute(model, images, targets)). See types.ts for the result.
import type { Tensor } from '../engine/index.js';
import type { Module } from '../nn/index.js';
import type { Attribution, Explainer, MethodName } from './types.js';
import { AdversarialExplanation, type AeOptions } from './ae.js';
import { GradCAM, type CamOptions } from './gradcam.js';
import { Lime, type LimeOptions } from './lime.js';
import { Saliency, SmoothGrad, IntegratedGradients, type SmoothGradOptions, type IgOptions } from './saliency.js';

export {
  METHODS, probabilities,
  type Attribution, type Explainer, type MethodName, type AeDetails, type CamDetails, type LimeDetails, type IgDetails,
} from './types.js';
export { AdversarialExplanation, type AeOptions } from './ae.js';
export { CamExplainer, GradCAM, findLayer, defaultCamLayer, forwardWithActivation, type CamOptions } from './gradcam.js';
export { Lime, ridge, limeMasks, limeKernel, type LimeOptions, type RidgeFit } from './lime.js';
export { Saliency, SmoothGrad, IntegratedGradients, targetGradient, type SmoothGradOptions, type IgOptions } from './saliency.js';
export { slic, rgbToLab, enforceConnectivity, type SlicOptions, type Segmentation } from './segmentation.js';
export { expandTargets, parseTargetSpecs, argmaxExcept, type TargetSpec, type TargetPair } from './targets.js';

export type ExplainOptions =
  | ({ method: 'ae' } & AeOptions)
  | ({ method: 'gradcam' } & CamOptions)
  | ({ method: 'lime' } & LimeOptions)
  | ({ method: 'saliency'; batch?: number })
  | ({ method: 'smoothgrad' } & SmoothGradOptions)
  | ({ method: 'ig' } & IgOptions);

/** The explainer for a method name and its options. */
export function makeExplainer(opts: ExplainOptions): Explainer {
  switch (opts.method) {
    case 'ae': return new AdversarialExplanation(opts);
    case 'gradcam': return new GradCAM(opts);
    case 'lime': return new Lime(opts);
    case 'saliency': return new Saliency(opts);
    case 'smoothgrad': return new SmoothGrad(opts);
    case 'ig': return new IntegratedGradients(opts);
    default: throw new Error(`unknown explanation method '${String((opts as { method: unknown }).method)}'`);
  }
}

/** Explains targets[i] for images[i] ([N, C, H, W] in [0, 1]) with one method. */
export function explain(model: Module, images: Tensor, targets: Int32Array, opts: ExplainOptions): Attribution {
  return makeExplainer(opts).attribute(model, images, targets);
}

export { camPreservingAttack, type CamAttackOptions, type CamAttackResult } from './cam-attack.js';
