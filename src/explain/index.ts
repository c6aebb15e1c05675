// Explanations behind one call: explain(model, images, targets, { method, ...options }), or an Explainer object
// (new GradCAM({ layer }).attribute(model, images, targets)). See types.ts for the result, registry.ts for how
// methods plug in. Importing this module registers the built-in methods, in the order below.
import type { Tensor } from '../engine/index.js';
import type { Module } from '../nn/index.js';
import type { AnyExplainOptions, AnyExplanation, DetailsOf, Explainer, Explanation, MethodName, OptionsOf } from './types.js';
import { explainerFor } from './registry.js';

// The built-in methods (each registers itself).
export { AdversarialExplanation, AE_DEFAULTS, type AeOptions, type AeDetails } from './ae.js';
export { CamExplainer, GradCAM, findLayer, defaultCamLayer, forwardWithActivation, type CamOptions, type CamDetails } from './gradcam.js';
export { Lime, LIME_DEFAULTS, ridge, limeMasks, limeKernel, type LimeOptions, type LimeDetails, type RidgeFit } from './lime.js';
export {
  Saliency, SmoothGrad, IntegratedGradients, targetGradient, SMOOTHGRAD_DEFAULTS, IG_DEFAULTS,
  type SmoothGradOptions, type IgOptions, type IgDetails,
} from './saliency.js';

export {
  probabilities,
  type Explanation, type AnyExplanation, type ExplanationBase, type MethodExplanation, type Explainer, type ExplainerTypes,
  type MethodName, type OptionsOf, type DetailsOf, type ExplainOptions, type AnyExplainOptions,
} from './types.js';
export {
  registerExplainer, explainers, explainerNames, explainerFor,
  type ExplainerDefinition, type OptionSpec, type Regions, type ReportValue,
} from './registry.js';
export { slic, rgbToLab, enforceConnectivity, SLIC_DEFAULTS, type SlicOptions, type Segmentation } from './segmentation.js';
export { expandTargets, parseTargetSpecs, argmaxExcept, type TargetSpec, type TargetPair } from './targets.js';

/** The explainer for a method name and its options. */
export function makeExplainer<M extends MethodName>(options: OptionsOf<M>): Explainer<M, DetailsOf<M>>;
/** … for a method named at run time (any registered one). */
export function makeExplainer(options: AnyExplainOptions): Explainer;
export function makeExplainer(options: { readonly method: string }): Explainer {
  const { method, ...rest } = options;
  return explainerFor(method).create(rest);
}

/** Explains targets[i] for images[i] ([N, C, H, W] in [0, 1]) with one method. */
export function explain<M extends MethodName>(model: Module, images: Tensor, targets: Int32Array, options: OptionsOf<M>): Explanation<M>;
/** … with a method named at run time: the result's details are the method's own, unknown to the type checker. */
export function explain(model: Module, images: Tensor, targets: Int32Array, options: AnyExplainOptions): AnyExplanation;
export function explain(model: Module, images: Tensor, targets: Int32Array, options: { readonly method: string }): AnyExplanation {
  return makeExplainer(options).attribute(model, images, targets);
}

export { camPreservingAttack, type CamAttackOptions, type CamAttackResult } from './cam-attack.js';
