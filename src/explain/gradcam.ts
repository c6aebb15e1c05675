// Class activation maps (METHOD.md §7). The base class does the hooking, batching, upsampling and normalising, in
// the manner of pytorch-grad-cam; a variant overrides one step, `weights(A, G)`. Grad-CAM: α_k = mean over space of
// ∂z_c/∂A_k, map = ReLU(Σ_k α_k A_k), bilinearly upsampled to the input size and scaled to [0, 1] per image.
//
// The activation A is read with a forward hook on the named layer (default: the last stage of a PreActResNet,
// 'pipe.3', 64×8×8 for ResNet-44). The hook swaps in a detached copy of A that requires grad, so the backward pass
// stops at the layer: only the head after it is differentiated.
import { tidy, keep, enableGrad, gradOf, interpolate, type Tensor } from '../engine/index.js';
import { frozen, inEval, type Module } from '../nn/index.js';
import { type Explainer, type MethodExplanation, checkInputs, checkTargets, chunks, copyInto, targetTensor } from './types.js';
import { registerExplainer } from './registry.js';

export interface CamOptions {
  /** Dotted path of the layer whose output is A (default: the model's last stage, 'pipe.3' for a PreActResNet). */
  layer?: string;
  /** Images per batch (default 64). */
  batch?: number;
}

/** Grad-CAM: the class activation map before upsampling. */
export interface CamDetails {
  layer: string;
  /** ReLU(Σ_k α_k A_k) at the layer's resolution, n·h·w (not normalised). */
  cam: Float32Array;
  camHeight: number;
  camWidth: number;
}

declare module './types.js' {
  interface ExplainerTypes { gradcam: { options: CamOptions; details: CamDetails } }
}

/** The module at a dotted path of child names ('pipe.3', 'pipe.3.6.main'). Errors list the children there. */
export function findLayer(model: Module, name: string): Module {
  let m = model;
  let at = '';
  for (const part of name.split('.')) {
    const kids = m.children();
    const next = kids.find(([n]) => n === part);
    if (next === undefined) {
      const names = kids.map(([n]) => (at ? `${at}.${n}` : n));
      throw new Error(`layer '${name}': ${at ? `'${at}'` : 'the model'} has no child '${part}'`
        + (names.length ? ` (children: ${names.slice(0, 12).join(', ')}${names.length > 12 ? ', …' : ''})` : ' (it has no children)'));
    }
    m = next[1];
    at = at ? `${at}.${part}` : part;
  }
  return m;
}

/** The default CAM layer: the last convolutional stage. */
export function defaultCamLayer(model: Module): string {
  const layer = model.camLayer();
  if (layer !== null) return layer;
  throw new Error('gradcam: this model has no default layer; name one (layer option / --layer)');
}

/**
 * Runs the model on x and captures the output A of `layer`; returns the logits (in the caller's scope) and A, which
 * is kept out of every scope: the caller disposes it. detach (default true): A is a leaf copy that requires grad,
 * so gradients with respect to A stop at the layer (Grad-CAM); false: A stays connected to the input (attacks on
 * the map differentiate through it).
 */
export function forwardWithActivation(model: Module, layer: Module, name: string, x: Tensor, detach = true): { logits: Tensor; activation: Tensor } {
  let a: Tensor | null = null;
  layer.forwardHook = (out) => {
    if (a !== null) throw new Error(`layer '${name}' runs more than once in a forward pass`);
    a = keep(detach ? out.detach().requiresGrad_(true) : out);
    // A Sequential parent disposes what the hook returns: hand it a view, keep A itself.
    return a.reshape(a.shape);
  };
  let logits: Tensor;
  try {
    logits = enableGrad(() => model.call(x));
  } catch (e) {
    (a as Tensor | null)?.dispose();
    throw e;
  } finally {
    layer.forwardHook = null;
  }
  if (a === null) throw new Error(`layer '${name}' is not used by the model's forward pass`);
  return { logits, activation: a };
}

export abstract class CamExplainer implements Explainer<'gradcam', CamDetails> {
  readonly name = 'gradcam' as const;
  readonly layer: string | undefined;
  readonly batch: number;
  constructor(opts: CamOptions = {}) {
    this.layer = opts.layer;
    this.batch = opts.batch ?? 64;
  }

  /** The one step a variant changes: channel weights [B, K] from activations and gradients [B, K, h, w]. */
  protected abstract weights(activations: Tensor, gradients: Tensor): Tensor;

  /** ReLU(Σ_k w_k A_k): [B, 1, h, w] from activations and gradients [B, K, h, w] (differentiable). */
  camFrom(activations: Tensor, gradients: Tensor): Tensor {
    const [b, k] = activations.shape as [number, number];
    return activations.mul(this.weights(activations, gradients).reshape([b, k, 1, 1])).sum(1, true).relu();
  }

  attribute(model: Module, images: Tensor, targets: Int32Array): MethodExplanation<'gradcam', CamDetails> {
    const [n, c, h, w] = checkInputs('gradcam', images, targets);
    const name = this.layer ?? defaultCamLayer(model);
    const layer = findLayer(model, name);
    const maps = new Float32Array(n * h * w);
    const pBefore = new Float32Array(n);
    let cam = new Float32Array(0);
    let camHeight = 0, camWidth = 0;
    frozen(model, () => {
      inEval(model, () => chunks(n, this.batch, (s, b) => tidy(() => {
        const x = images.slice(0, s, s + b).detach();
        const { logits, activation } = forwardWithActivation(model, layer, name, x);
        try {
          checkTargets('gradcam', targets.subarray(s, s + b), logits.shape[1]!);
          const idx = targetTensor(targets, s, b).reshape([-1, 1]);
          const [g] = gradOf(logits.gather(1, idx).sum(), [activation]);
          const a = activation.detach();
          if (a.rank !== 4) throw new Error(`layer '${name}' gives [${a.shape.join(', ')}], Grad-CAM needs a [B, K, h, w] feature map`);
          const [, , ch, cw] = a.shape as [number, number, number, number];
          if (s === 0) { camHeight = ch; camWidth = cw; cam = new Float32Array(n * ch * cw); }
          const raw = this.camFrom(a, g!.detach());
          copyInto(cam, raw, s);
          copyInto(maps, normalise(interpolate(raw, [h, w], 'bilinear')), s);
          pBefore.set(logits.detach().softmax(1).gather(1, idx).squeeze(1).data(), s);
        } finally {
          activation.dispose();
        }
      })));
    });
    return {
      method: 'gradcam', n, channels: c, height: h, width: w, targets: Int32Array.from(targets), maps, pBefore,
      details: { layer: name, cam, camHeight, camWidth },
    };
  }
}

/** Per sample of [B, 1, H, W]: (m − min) / (max − min), 0 where the map is constant. */
function normalise(m: Tensor): Tensor {
  const lo = m.amin([1, 2, 3], true);
  const span = m.amax([1, 2, 3], true).sub(lo);
  return m.sub(lo).div(span.add(1e-12));
}

/** Grad-CAM (Selvaraju et al. 2017): α_k = spatial mean of ∂z_c/∂A_k. */
export class GradCAM extends CamExplainer {
  protected weights(_a: Tensor, g: Tensor): Tensor { return g.mean([2, 3]); }
}

registerExplainer<'gradcam', CamOptions, CamDetails>({
  name: 'gradcam', label: 'Grad-CAM', short: 'Grad-CAM', signed: false, overlay: true,
  options: [{ name: 'layer', flag: 'layer', metavar: 'NAME', kind: 'text', help: 'Grad-CAM layer (default: the last stage, pipe.3)' }],
  create: (o) => new GradCAM(o),
  summary: (r) => `layer ${r.details.layer}, ${r.details.camHeight}×${r.details.camWidth}`,
  record: (r, i) => {
    const { cam, camHeight: ch, camWidth: cw, layer } = r.details;
    return { layer, cam: cam.subarray(i * ch * cw, (i + 1) * ch * cw), cam_shape: [ch, cw] };
  },
});
