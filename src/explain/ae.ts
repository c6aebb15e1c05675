// Adversarial explanation (METHOD.md §5): the paper's attack routine (§4, src/attack/paper.ts) run targeted, in
// "encourage" mode (descending the target's cross-entropy), budget mode with ρ = eps, overshoot 5, 35 steps, no
// momentum, model in eval mode. The explanation is x + δ itself: what the image would have to look like to be
// the target class. The map for metrics is |δ| summed over channels.
import { tidy } from '../engine/index.js';
import type { Tensor } from '../engine/index.js';
import { inEval, type Module } from '../nn/index.js';
import { PaperBudgetAttack, TargetedMisclassification } from '../attack/index.js';
import { type Explainer, type MethodExplanation, checkInputs, checkTargets, chunks, copyInto, probabilities, targetTensor } from './types.js';
import { registerExplainer } from './registry.js';

/** The paper's settings (METHOD.md §5), the one place they live: the CLI and the server take them from here. */
export const AE_DEFAULTS = Object.freeze({ rho: 0.1, steps: 35, overshoot: 5, batch: 64 });

export interface AeOptions {
  /** ρ, the RMS budget (default 0.1; the paper's COCO figure uses 0.075). */
  rho?: number;
  /** Gradient steps (default 35). */
  steps?: number;
  /** Σ step sizes = ρ·overshoot (default 5). */
  overshoot?: number;
  /** Pairs per batch (default 64). */
  batch?: number;
  /** Progress, in image-steps. */
  onStep?: (images: number) => void;
}

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

declare module './types.js' {
  interface ExplainerTypes { ae: { options: AeOptions; details: AeDetails } }
}

export class AdversarialExplanation implements Explainer<'ae', AeDetails> {
  readonly name = 'ae' as const;
  readonly rho: number;
  readonly steps: number;
  readonly overshoot: number;
  readonly batch: number;
  readonly #onStep: ((images: number) => void) | undefined;

  constructor(opts: AeOptions = {}) {
    this.rho = opts.rho ?? AE_DEFAULTS.rho;
    this.steps = opts.steps ?? AE_DEFAULTS.steps;
    this.overshoot = opts.overshoot ?? AE_DEFAULTS.overshoot;
    this.batch = opts.batch ?? AE_DEFAULTS.batch;
    this.#onStep = opts.onStep;
    if (!(this.rho > 0) || !Number.isFinite(this.rho)) throw new Error(`ae: rho must be > 0, got ${this.rho}`);
    if (!Number.isInteger(this.steps) || this.steps < 1) throw new Error(`ae: steps must be a positive integer, got ${this.steps}`);
    if (!(this.overshoot > 0) || !Number.isFinite(this.overshoot)) throw new Error(`ae: overshoot must be > 0, got ${this.overshoot}`);
  }

  attribute(model: Module, images: Tensor, targets: Int32Array): MethodExplanation<'ae', AeDetails> {
    const [n, c, h, w] = checkInputs('ae', images, targets);
    const per = c * h * w;
    const out: AeDetails = {
      images: new Float32Array(n * per), deltas: new Float32Array(n * per), rms: new Float32Array(n),
      pAfter: new Float32Array(n), classAfter: new Int32Array(n),
    };
    const maps = new Float32Array(n * h * w);
    const pBefore = new Float32Array(n);
    // The reference's "increase eps or steps" rule is off: a target the image already is (p ≈ 1) has a zero
    // gradient, so δ may legitimately stay 0.
    const attack = new PaperBudgetAttack({ steps: this.steps, overshoot: this.overshoot, momentum: 0, guard: false });
    const criterion = new TargetedMisclassification(targets);
    inEval(model, () => chunks(n, this.batch, (s, b) => tidy(() => {
      const x = images.slice(0, s, s + b).detach();
      const t = targetTensor(targets, s, b);
      const idx = t.reshape([-1, 1]);
      const before = probabilities(model, x);
      checkTargets('ae', targets.subarray(s, s + b), before.shape[1]!);
      pBefore.set(before.gather(1, idx).squeeze(1).data(), s);
      const r = attack.attackBatch(model, x, criterion, this.rho, { offset: s, computeSuccess: false, onStep: this.#onStep });
      const after = probabilities(model, r.adv);
      out.pAfter.set(after.gather(1, idx).squeeze(1).data(), s);
      out.classAfter.set(after.argmax(1).cast('int32').data<Int32Array>(), s);
      out.rms.set(r.delta.square().mean([1, 2, 3]).sqrt().data(), s);
      copyInto(out.images, r.adv, s);
      copyInto(out.deltas, r.delta, s);
      copyInto(maps, r.delta.abs().sum(1), s);
    })));
    return { method: 'ae', n, channels: c, height: h, width: w, targets: Int32Array.from(targets), maps, pBefore, details: out };
  }
}

registerExplainer<'ae', AeOptions, AeDetails>({
  name: 'ae', label: 'Adversarial explanation', short: 'AE', signed: false, overlay: false,
  options: [
    { name: 'rho', flag: 'rho', metavar: 'R', kind: 'number', default: AE_DEFAULTS.rho, above: 0, help: 'AE budget, RMS of δ in [0, 1] pixels' },
    { name: 'steps', flag: 'steps', metavar: 'T', kind: 'int', default: AE_DEFAULTS.steps, min: 1, help: 'AE steps' },
    { name: 'overshoot', flag: 'overshoot', metavar: 'O', kind: 'number', default: AE_DEFAULTS.overshoot, above: 0, help: 'AE overshoot: Σ step sizes = ρ·O' },
  ],
  create: (o) => new AdversarialExplanation(o),
});
