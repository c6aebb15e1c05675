// An attack on the decision that tries to leave the Grad-CAM map where it was (the paper's Fig. 1 argument): from
// x with class `from`, find δ with RMS(δ) ≤ ρ such that the network says `to`, while Grad-CAM of `to` on x + δ
// matches Grad-CAM of `from` on x. Loss per sample: CE(f(x + δ), to) + λ · Σ_cells (ĉ(x + δ) − ĉ₀)², ĉ the CAM at
// the layer's resolution divided by its maximum. The gradient of the CAM term goes through ∂z/∂A (double backprop).
// A fixed-ε attack (RMS ρ, targeted criterion `to`) whose steps are the paper's (METHOD.md §4): direction
// normalised by its RMS, linear ramp-down step sizes with Σ ss_t = ρ·overshoot, no momentum; here δ is then
// projected onto the RMS ball, and the iterate kept is, among δ₀…δ_T classified `to`, the one with the smallest
// CAM term (else the last).
import { tensor, tidy, enableGrad, gradOf, crossEntropy, zerosLike, where, type Tensor } from '../engine/index.js';
import { frozen, inEval, type Module } from '../nn/index.js';
import { FixedEpsilonAttack, RMS, TargetedMisclassification, rampStepSize, type AttackContext, type BatchOutcome } from '../attack/index.js';
import { CamExplainer, GradCAM, defaultCamLayer, findLayer, forwardWithActivation } from './gradcam.js';
import { targetTensor } from './types.js';

export interface CamAttackOptions {
  /** RMS budget ρ (default 0.01). */
  rho?: number;
  /** Steps (default 100). */
  steps?: number;
  /** Σ step sizes = ρ·overshoot (default 5). */
  overshoot?: number;
  /** Weight λ of the map term (default 10; 0 = a plain targeted attack). */
  lambda?: number;
  /** Grad-CAM layer (default: the last stage). */
  layer?: string;
  /** The CAM variant (default Grad-CAM). */
  cam?: CamExplainer;
}

export interface CamAttackResult {
  /** x + δ, n·C·H·W. */
  adv: Float32Array;
  rms: Float32Array;
  /** Predicted class of x + δ. */
  classAfter: Int32Array;
  /** 1 where x + δ is classified `to`. */
  success: Uint8Array;
  /** The map term Σ (ĉ − ĉ₀)² of the returned iterate. */
  camLoss: Float32Array;
}

/** ĉ: the CAM [B, h, w] of targets at the layer, divided by its per-sample maximum (differentiable in A). */
function normalisedCam(cam: CamExplainer, model: Module, layer: Module, name: string, x: Tensor, t: Tensor,
  mode: 'leaf' | 'connected' | 'differentiable'): { camN: Tensor; logits: Tensor } {
  // leaf: A cut from the input (maps only); connected: logits differentiable in the input; differentiable: the map too.
  const { logits, activation } = forwardWithActivation(model, layer, name, x, mode === 'leaf');
  const createGraph = mode === 'differentiable';
  try {
    const [g] = gradOf(logits.gather(1, t.reshape([-1, 1])).sum(), [activation], { createGraph, retainGraph: true });
    const c = cam.camFrom(activation, g!).squeeze(1);
    return { camN: c.div(c.amax([1, 2], true).add(1e-6)), logits };
  } finally {
    activation.dispose();
  }
}

interface CamState {
  delta: Tensor;
  /** The best iterate classified `to` so far (0 until one is) and its CAM term (Infinity until then). */
  best: Tensor;
  bestLoss: Tensor;
}

interface CamSetup { cam: CamExplainer; layer: Module; name: string; cam0: Tensor; steps: number; overshoot: number; lambda: number }

class CamPreservingAttack extends FixedEpsilonAttack<CamState> {
  readonly name = 'cam-preserving';
  readonly norm = RMS;
  constructor(readonly o: CamSetup) { super(null); }

  get steps(): number { return this.o.steps; }

  protected init(ctx: AttackContext): CamState {
    const B = ctx.x.shape[0]!;
    return { delta: zerosLike(ctx.x), best: zerosLike(ctx.x), bestLoss: tensor(new Float32Array(B).fill(Infinity)) };
  }

  /** Loss terms at δ (differentiable in the returned leaf d) and the bookkeeping of the best iterate. */
  #evaluate(ctx: AttackContext, s: CamState): { d: Tensor; logits: Tensor; camLoss: Tensor; best: Tensor; bestLoss: Tensor } {
    const { cam, layer, name, lambda } = this.o;
    const d = s.delta.detach().requiresGrad_(true);
    const { camN, logits } = normalisedCam(cam, ctx.model, layer, name, ctx.x.add(d), ctx.classes, lambda > 0 ? 'differentiable' : 'connected');
    const cam0 = this.o.cam0.slice(0, ctx.offset, ctx.offset + ctx.x.shape[0]!);
    const camLoss = camN.sub(cam0).square().sum([1, 2]);
    const better = ctx.isAdversarial(logits.detach()).logicalAnd(camLoss.detach().lt(s.bestLoss));
    const best = where(better.reshape([-1, 1, 1, 1]), s.delta, s.best);
    const bestLoss = where(better, camLoss.detach(), s.bestLoss);
    return { d, logits, camLoss, best, bestLoss };
  }

  protected step(ctx: AttackContext, s: CamState, t: number): CamState {
    return enableGrad(() => {
      const { d, logits, camLoss, best, bestLoss } = this.#evaluate(ctx, s);
      const loss = crossEntropy(logits, ctx.classes, 'sum').add(camLoss.sum().mul(this.o.lambda));
      const [g] = gradOf(loss, [d]);
      const dir = RMS.normalise(g!.neg());
      const delta = ctx.project(s.delta.add(dir.mul(rampStepSize(ctx.eps, this.o.overshoot, this.o.steps, t))));
      return { delta, best, bestLoss };
    });
  }

  protected override finish(ctx: AttackContext, s: CamState): BatchOutcome {
    // δ_T is evaluated too: it may be the best iterate.
    const { best, bestLoss } = enableGrad(() => this.#evaluate(ctx, s));
    const delta = where(bestLoss.lt(Infinity).reshape([-1, 1, 1, 1]), best, s.delta);
    return { adv: ctx.x.add(delta), delta };
  }
}

export function camPreservingAttack(model: Module, images: Tensor, from: Int32Array, to: Int32Array, opts: CamAttackOptions = {}): CamAttackResult {
  const rho = opts.rho ?? 0.01, T = opts.steps ?? 100, overshoot = opts.overshoot ?? 5, lambda = opts.lambda ?? 10;
  if (!(rho > 0)) throw new Error(`cam attack: rho must be > 0, got ${rho}`);
  if (!Number.isInteger(T) || T < 1) throw new Error(`cam attack: steps must be a positive integer, got ${T}`);
  if (!(lambda >= 0)) throw new Error(`cam attack: lambda must be ≥ 0, got ${lambda}`);
  const n = images.shape[0]!;
  if (from.length !== n || to.length !== n) throw new Error(`cam attack: ${from.length}/${to.length} classes for ${n} images`);
  const name = opts.layer ?? defaultCamLayer(model);
  const layer = findLayer(model, name);
  const cam = opts.cam ?? new GradCAM();
  return frozen(model, () => inEval(model, () => tidy(() => {
    const x = images.detach();
    const tFrom = targetTensor(from), tTo = targetTensor(to);
    const cam0 = enableGrad(() => normalisedCam(cam, model, layer, name, x, tFrom, 'leaf').camN.detach());
    const attack = new CamPreservingAttack({ cam, layer, name, cam0, steps: T, overshoot, lambda });
    const { adv, delta } = attack.attackBatch(model, x, new TargetedMisclassification(to), rho, { computeSuccess: false });
    const { camN, logits } = enableGrad(() => normalisedCam(cam, model, layer, name, adv, tTo, 'leaf'));
    const cls = logits.detach().argmax(1);
    return {
      adv: adv.contiguous().data(),
      rms: RMS.distance(delta).data(),
      classAfter: cls.cast('int32').data<Int32Array>(),
      success: cls.eq(tTo).cast('uint8').data<Uint8Array>(),
      camLoss: camN.detach().sub(cam0).square().sum([1, 2]).data(),
    };
  })));
}
