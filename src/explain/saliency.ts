// Gradient attributions of the target's logit z_t with respect to the input pixels:
//  - vanilla saliency (Simonyan et al. 2014): map = max over channels of |∂z_t/∂x|;
//  - SmoothGrad (Smilkov et al. 2017): the gradient averaged over n copies of x + N(0, σ²) (σ = 0.15 of the [0, 1]
//    range by default), then the same map; the noise comes from a seeded generator, so runs repeat exactly;
//  - integrated gradients (Sundararajan et al. 2017): (x − x') · mean of ∂z_t/∂x at x' + α_k (x − x'),
//    α_k = (k + ½)/m (midpoint Riemann sum), baseline x' = 0 (black) by default; map = Σ over channels (signed).
import { tensor, tidy, noGrad, enableGrad, gradOf, full, cat, seededRandom, type Tensor } from '../engine/index.js';
import { frozen, inEval, type Module } from '../nn/index.js';
import { type Explainer, type MethodExplanation, checkInputs, checkTargets, chunks, copyInto, probabilities, targetTensor } from './types.js';
import { registerExplainer } from './registry.js';

export const SMOOTHGRAD_DEFAULTS = Object.freeze({ samples: 25, sigma: 0.15, seed: 0, batch: 64 });
export const IG_DEFAULTS = Object.freeze({ steps: 32, baseline: 0, batch: 64 });

/** Integrated gradients: signed per-element attributions and the completeness gap. */
export interface IgDetails {
  /** (x − x') · mean gradient along the path, n·C·H·W. */
  attributions: Float32Array;
  /** Σ attributions − (z_t(x) − z_t(x')) per pair: the Riemann-sum error (Captum's "convergence delta"). */
  delta: Float32Array;
}

declare module './types.js' {
  interface ExplainerTypes {
    saliency: { options: { batch?: number }; details: null };
    smoothgrad: { options: SmoothGradOptions; details: null };
    ig: { options: IgOptions; details: IgDetails };
  }
}

/**
 * ∂(Σ_b z_b[t_b])/∂x for a batch x [B, C, H, W] and int64 targets [B]: each sample's gradient of its own target
 * logit. Returns the gradient and the logits (detached).
 */
export function targetGradient(model: Module, x: Tensor, t: Tensor): { grad: Tensor; logits: Tensor } {
  return tidy(() => enableGrad(() => {
    const xi = x.detach().requiresGrad_(true);
    const logits = model.call(xi);
    const [g] = gradOf(logits.gather(1, t.reshape([-1, 1])).sum(), [xi]);
    return { grad: g!, logits: logits.detach() };
  }));
}

/**
 * Shared by the gradient methods: the loop over chunks, frozen parameters, eval mode, pBefore. A method that reports
 * details beyond the map keeps them in a per-call record C (made by `begin`), never on the instance, so one explainer
 * may serve several calls at once.
 */
abstract class GradientExplainer<M extends string, D, C = null> implements Explainer<M, D> {
  abstract readonly name: M;
  readonly batch: number;
  constructor(batch: number | undefined) { this.batch = batch ?? 64; }

  /** One chunk: the map [b, H, W], given x [b, C, H, W] and targets [b]; extras go into `call`. */
  protected abstract chunk(model: Module, x: Tensor, t: Tensor, start: number, call: C): Tensor;
  /** The per-call record for n pairs of `per` values each. */
  protected abstract begin(n: number, per: number): C;
  protected abstract details(call: C): D;

  attribute(model: Module, images: Tensor, targets: Int32Array): MethodExplanation<M, D> {
    const [n, c, h, w] = checkInputs(this.name, images, targets);
    const maps = new Float32Array(n * h * w);
    const pBefore = new Float32Array(n);
    const call = this.begin(n, c * h * w);
    frozen(model, () => {
      inEval(model, () => chunks(n, this.batch, (s, b) => tidy(() => {
        const x = images.slice(0, s, s + b).detach();
        const t = targetTensor(targets, s, b);
        const probs = probabilities(model, x);
        checkTargets(this.name, targets.subarray(s, s + b), probs.shape[1]!);
        pBefore.set(probs.gather(1, t.reshape([-1, 1])).squeeze(1).data(), s);
        copyInto(maps, this.chunk(model, x, t, s, call), s);
      })));
    });
    return { method: this.name, n, channels: c, height: h, width: w, targets: Int32Array.from(targets), maps, pBefore, details: this.details(call) };
  }
}

/** For the methods whose only result is the map. */
abstract class MapOnlyExplainer<M extends string> extends GradientExplainer<M, null> {
  protected begin(): null { return null; }
  protected details(): null { return null; }
}

/** max over channels of |g|: [B, C, H, W] → [B, H, W]. */
const channelMaxAbs = (g: Tensor): Tensor => g.abs().amax(1);

export class Saliency extends MapOnlyExplainer<'saliency'> {
  readonly name = 'saliency' as const;
  constructor(opts: { batch?: number } = {}) { super(opts.batch); }
  protected chunk(model: Module, x: Tensor, t: Tensor): Tensor {
    return channelMaxAbs(targetGradient(model, x, t).grad);
  }
}

export interface SmoothGradOptions {
  /** Noisy copies per image (default 25). */
  samples?: number;
  /** Noise standard deviation in pixel units (default 0.15, i.e. 15% of the [0, 1] range). */
  sigma?: number;
  /** Seed of the noise (default 0); image i draws from (seed, firstImage + i). */
  seed?: number;
  /** Index of the batch's first image in a larger set (default 0), so a set explained in parts draws as it does whole. */
  firstImage?: number;
  /** Gradient evaluations per batch (default 64). */
  batch?: number;
}

export class SmoothGrad extends MapOnlyExplainer<'smoothgrad'> {
  readonly name = 'smoothgrad' as const;
  readonly samples: number;
  readonly sigma: number;
  readonly seed: number;
  readonly firstImage: number;
  constructor(opts: SmoothGradOptions = {}) {
    super(1);
    this.samples = opts.samples ?? SMOOTHGRAD_DEFAULTS.samples;
    this.sigma = opts.sigma ?? SMOOTHGRAD_DEFAULTS.sigma;
    this.seed = opts.seed ?? SMOOTHGRAD_DEFAULTS.seed;
    this.firstImage = opts.firstImage ?? 0;
    this.evalBatch = opts.batch ?? SMOOTHGRAD_DEFAULTS.batch;
    if (!Number.isInteger(this.samples) || this.samples < 1) throw new Error(`smoothgrad: samples must be a positive integer, got ${this.samples}`);
    if (!(this.sigma >= 0) || !Number.isFinite(this.sigma)) throw new Error(`smoothgrad: sigma must be ≥ 0, got ${this.sigma}`);
  }
  readonly evalBatch: number;

  /** One image at a time (the chunk size is 1): its noisy copies are the batch. */
  protected chunk(model: Module, x: Tensor, t: Tensor, start: number): Tensor {
    const per = x.size;
    const rnd = seededRandom(this.seed * 1_000_003 + this.firstImage + start);
    let sum: Tensor | null = null;
    chunks(this.samples, this.evalBatch, (_s, b) => {
      const noise = gaussian(rnd, b * per, this.sigma);
      const next = tidy(() => {
        const xs = x.expand([b, ...x.shape.slice(1)]).add(tensor(noise, [b, ...x.shape.slice(1)]).cast(x.dtype));
        const g = targetGradient(model, xs, t.expand([b])).grad.sum(0, true);
        return sum === null ? g : sum.add(g);
      });
      sum?.dispose();
      sum = next;
    });
    return channelMaxAbs(sum!.div(this.samples));
  }
}

/** n samples of N(0, σ²) by Box–Muller from a uniform generator. */
function gaussian(rnd: () => number, n: number, sigma: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = 1 - rnd(), v = rnd();
    const r = sigma * Math.sqrt(-2 * Math.log(u));
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

export interface IgOptions {
  /** Riemann steps m (default 32). */
  steps?: number;
  /** Baseline x': a constant pixel value (default 0, black). */
  baseline?: number;
  /** Gradient evaluations per batch (default 64). */
  batch?: number;
}

/** IG's per-call record: attributions and completeness gaps, filled chunk by chunk. */
interface IgCall { attributions: Float32Array; delta: Float32Array }

export class IntegratedGradients extends GradientExplainer<'ig', IgDetails, IgCall> {
  readonly name = 'ig' as const;
  readonly steps: number;
  readonly baseline: number;
  readonly evalBatch: number;
  constructor(opts: IgOptions = {}) {
    super(1);
    this.steps = opts.steps ?? IG_DEFAULTS.steps;
    this.baseline = opts.baseline ?? IG_DEFAULTS.baseline;
    this.evalBatch = opts.batch ?? IG_DEFAULTS.batch;
    if (!Number.isInteger(this.steps) || this.steps < 1) throw new Error(`ig: steps must be a positive integer, got ${this.steps}`);
    if (!Number.isFinite(this.baseline)) throw new Error(`ig: baseline must be a number, got ${this.baseline}`);
  }
  protected begin(n: number, per: number): IgCall {
    return { attributions: new Float32Array(n * per), delta: new Float32Array(n) };
  }
  protected details(call: IgCall): IgDetails { return call; }

  /** One image at a time: the m path points are the batch. */
  protected chunk(model: Module, x: Tensor, t: Tensor, start: number, call: IgCall): Tensor {
    const m = this.steps;
    const base = full(x.shape, this.baseline, { dtype: x.dtype });
    const diff = x.sub(base);
    let sum: Tensor | null = null;
    chunks(m, this.evalBatch, (s, b) => {
      const alphas = Float32Array.from({ length: b }, (_, i) => (s + i + 0.5) / m);
      const next = tidy(() => {
        const path = base.add(diff.mul(tensor(alphas, [b, 1, 1, 1]).cast(x.dtype)));
        const g = targetGradient(model, path, t.expand([b])).grad.sum(0, true);
        return sum === null ? g : sum.add(g);
      });
      sum?.dispose();
      sum = next;
    });
    const attr = diff.mul(sum!.div(m));
    const z = noGrad(() => model.call(cat([x, base]))).gather(1, t.expand([2]).reshape([-1, 1])).toArray();
    call.delta[start] = attr.sum().item() - (z[0]! - z[1]!);
    copyInto(call.attributions, attr, start);
    return attr.sum(1);
  }
}

registerExplainer<'saliency', { batch?: number }, null>({
  name: 'saliency', label: 'Gradient saliency', short: 'saliency', signed: false, overlay: false, options: [],
  create: (o) => new Saliency(o),
});

registerExplainer<'smoothgrad', SmoothGradOptions, null>({
  name: 'smoothgrad', label: 'SmoothGrad', short: 'SmoothGrad', signed: false, overlay: false,
  options: [{ name: 'samples', flag: 'smoothgrad-samples', metavar: 'N', kind: 'int', default: SMOOTHGRAD_DEFAULTS.samples, min: 1, help: 'SmoothGrad noisy copies per image' }],
  create: (o) => new SmoothGrad(o),
});

registerExplainer<'ig', IgOptions, IgDetails>({
  name: 'ig', label: 'Integrated gradients', short: 'IG', signed: true, overlay: false,
  options: [{ name: 'steps', flag: 'ig-steps', metavar: 'M', kind: 'int', default: IG_DEFAULTS.steps, min: 1, help: 'integrated gradients: Riemann steps' }],
  create: (o) => new IntegratedGradients(o),
  summary: (r, i) => `completeness gap ${r.details.delta[i]!.toExponential(1)}`,
  record: (r, i) => ({ completeness_gap: r.details.delta[i]! }),
});
