// The attack families, in the spirit of Foolbox 3. The common base runs one batch (init → steps → finish) with the
// parameters frozen, frees each state a step replaces, hands the steps their context (the input gradient signed
// by the criterion, the norm's projection onto the ε-ball, clipping) and clips the result. Two families own the
// entry points (batching, epsilons, success):
//  - FixedEpsilonAttack: one run per ε; success at ε is the criterion on that run's image.
//  - MinimizationAttack: one run within the attack's own budget that returns, per sample, the smallest
//    perturbation (in its norm) meeting the criterion; success at ε is "found and distance ≤ ε".
// An attack writes only `init` and `step` (and `finish` when its result is not `state.adv`).
import { Tensor, tensor, tidy, noGrad, enableGrad, gradOf, crossEntropy } from '../engine/index.js';
import { frozen, type Module } from '../nn/index.js';
import type { Criterion } from './criteria.js';
import type { Norm } from './norms.js';
import { inputShape, inputBatch, type ImageInput } from '../data/dataset.js';

/** Images as a tensor [N, C, H, W] or a labelled image set. */
export type AttackInput = ImageInput;

/** What an attack step sees: one batch, its classes, the current ε and the model's input gradient. */
export interface AttackContext {
  readonly model: Module;
  /** The clean batch [B, C, H, W]; not to be disposed or kept in the state. */
  readonly x: Tensor;
  /** int64 [B]: the criterion's classes for this batch (labels or targets). */
  readonly classes: Tensor;
  readonly criterion: Criterion;
  /** ε of this run: the fixed budget, or a minimisation attack's own budget. */
  readonly eps: number;
  /** Index of the batch's first sample in the whole input. */
  readonly offset: number;
  /** The batch's sample keys (RunOptions.sampleKeys: e.g. image ids, to seed per-image randomness), or null. */
  readonly keys: readonly number[] | null;
  /** Clip bounds of the attack, or null (no clipping). */
  readonly bounds: readonly [number, number] | null;
  /**
   * Logits of x + δ and the gradient of Σ_b CE(f(x+δ)_b, classes_b) with respect to δ, signed so that following
   * it moves toward the criterion: −∇ for a targeted criterion, +∇ otherwise. Both are detached.
   */
  gradient(delta: Tensor): { logits: Tensor; grad: Tensor };
  /** Logits of an input batch, without autograd. */
  logits(input: Tensor): Tensor;
  /** bool [B]: does the criterion hold for these logits? */
  isAdversarial(logits: Tensor): Tensor;
  /** Clamps to the bounds when the attack clips, else returns the input itself. */
  clip(input: Tensor): Tensor;
  /** The perturbation brought back into this run's ε-ball, in the attack's norm. */
  project(delta: Tensor): Tensor;
}

/** What finish() hands back for one batch. */
export interface BatchOutcome {
  /** The perturbed batch (before the base's final clipping). */
  adv: Tensor;
  /** adv − x as the attack computed it (distances are measured on it when there is no clipping). */
  delta?: Tensor;
  /** bool [B], when the attack already knows which samples succeeded (saves a forward pass). */
  success?: Tensor;
  /** int32/int64 [B]: first step at which each sample was across its boundary, when the attack tracks it. */
  firstCrossing?: Tensor;
}

export interface BatchOptions {
  /** Index of the batch's first sample in the criterion's classes (and in per-sample attack options). */
  offset?: number | undefined;
  /** Called after every step with the batch size: progress in image-steps. */
  onStep?: ((images: number) => void) | undefined;
  /** The whole run's sample keys (RunOptions.sampleKeys), indexed from offset. */
  sampleKeys?: ArrayLike<number> | undefined;
}

/** One batch's result from attackBatch (tensors in the caller's scope). */
export interface BatchAttackResult {
  /** The perturbed batch, clipped when the attack clips. */
  adv: Tensor;
  /** adv − x. */
  delta: Tensor;
  /** bool [B]: the criterion holds for adv (null when computeSuccess was false). */
  success: Tensor | null;
  /** int64 [B]: first step index at which each sample was across its boundary (> steps if never), if tracked. */
  firstCrossing?: Tensor;
}

export interface RunOptions {
  /** Fixed-ε attacks: one run per ε (at least one). Minimisation attacks: the radii at which success is reported. */
  epsilons?: readonly number[] | undefined;
  /** Samples per batch (default 128). */
  batch?: number | undefined;
  /** Keep the perturbed images (default true). */
  keepImages?: boolean | undefined;
  /** Called after every step of every batch with the batch size: progress in image-steps. */
  onStep?: ((images: number) => void) | undefined;
  /** A key per input sample (e.g. its image's index in a whole data set), handed to the steps as ctx.keys. */
  sampleKeys?: ArrayLike<number> | undefined;
}

export interface AttackResult {
  n: number;
  epsilons: number[];
  /** Per ε (same order), per sample: 1 when the criterion holds for the returned image. */
  success: Uint8Array[];
}

export interface FixedEpsilonResult extends AttackResult {
  /** Per ε, the returned images (NCHW, n·C·H·W), when keepImages. */
  images?: Float32Array[];
}

export interface MinimizationResult extends AttackResult {
  /** The smallest perturbation found per sample, in the attack's norm; Infinity where none was found. */
  distances: Float64Array;
  /** First step index at which each sample was across its boundary; -1 if never or not tracked. */
  firstCrossing: Int32Array;
  /** The found images (the attack's own result where none was found), when keepImages. */
  raw?: Float32Array;
  /** The attack's own budget. */
  budget: number;
}

type StateTensors = object;

function tensorsIn(v: unknown, out: Set<Tensor>): void {
  if (v instanceof Tensor) { out.add(v); return; }
  if (v === null || typeof v !== 'object') return;
  for (const e of Array.isArray(v) ? v : Object.values(v)) {
    if (e instanceof Tensor) out.add(e);
    else if (Array.isArray(e)) for (const f of e) if (f instanceof Tensor) out.add(f);
  }
}

/** A run's checked shape and options, and its loop over batches. */
interface RunPlan {
  n: number;
  /** Values per image. */
  per: number;
  epsilons: number[];
  keep: boolean;
  /** fn(x, offset) per batch, each in a scope of its own. */
  each(fn: (x: Tensor, offset: number) => void): void;
}

/**
 * The base of both families. Subclasses implement init/step (and finish when the result is not `state.adv`);
 * the state is a plain object of tensors that the base frees as soon as a step replaces them.
 */
/** An attack option that must be a positive integer (steps, queries, restarts): one-line error naming attack and option. */
export function positiveInteger(attack: string, option: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${attack}: ${option} must be a positive integer, got ${v}`);
  return v;
}

/** An attack option that must be a finite number > 0 (step sizes, budgets, overshoots). */
export function positiveNumber(attack: string, option: string, v: number): number {
  if (!(v > 0) || !Number.isFinite(v)) throw new Error(`${attack}: ${option} must be > 0, got ${v}`);
  return v;
}

export abstract class Attack<S extends StateTensors = StateTensors> {
  /** Short name for reports ("pgd-linf", "paper-minimal", …). */
  abstract readonly name: string;
  /** The norm ε and distances are measured in. */
  abstract readonly norm: Norm;
  /** Clip bounds for the perturbed image, or null (the paper's routine never clamps). */
  readonly bounds: readonly [number, number] | null;

  constructor(bounds: readonly [number, number] | null) {
    if (bounds !== null && !(bounds[0] < bounds[1])) throw new Error(`attack bounds must be [low, high] with low < high, got [${bounds.join(', ')}]`);
    this.bounds = bounds;
  }

  /** Steps per run (for progress). */
  abstract get steps(): number;

  protected abstract init(ctx: AttackContext): S;
  protected abstract step(ctx: AttackContext, state: S, t: number): S;
  /** Turns the final state into the perturbed batch. The default reads `state.adv`. */
  protected finish(ctx: AttackContext, state: S): BatchOutcome {
    const adv = (state as { adv?: Tensor }).adv;
    if (!(adv instanceof Tensor)) throw new Error(`${this.name}: finish() must be overridden when the state has no 'adv'`);
    return { adv };
  }

  /** Checks the options a subclass needs before any work (throws one-line errors). */
  protected validate(_eps: number): void {}

  /** Runs the attack over all inputs in batches; the families define what a run and its success are. */
  abstract run(model: Module, inputs: AttackInput, criterion: Criterion, opts?: RunOptions): AttackResult;

  /**
   * One batch x [B, C, H, W] against the criterion's classes from `offset`, at ε: returns tensors owned by the
   * caller's scope. The model's parameters stop requiring gradients while it runs (restored after).
   */
  protected perturb(model: Module, x: Tensor, criterion: Criterion, eps: number, opts: BatchOptions, computeSuccess: boolean): BatchAttackResult {
    this.validate(eps);
    const B = x.shape[0]!;
    const offset = opts.offset ?? 0;
    if (offset + B > criterion.classes.length) {
      throw new Error(`${this.name}: the criterion has ${criterion.classes.length} classes, samples ${offset}…${offset + B - 1} need one each`);
    }
    return frozen(model, () => tidy(() => {
      const classes = tensor(criterion.classes.subarray(offset, offset + B), [B]).cast('int64');
      const keys = opts.sampleKeys === undefined ? null : Array.from({ length: B }, (_, i) => opts.sampleKeys![offset + i]!);
      const ctx = makeContext(model, x, classes, criterion, eps, offset, keys, this.bounds, this.norm);
      let state = tidy(() => this.init(ctx));
      const T = this.steps;
      for (let t = 0; t < T; t++) {
        const prev = state;
        const next = tidy(() => this.step(ctx, prev, t));
        releaseReplaced(prev, next, ctx);
        state = next;
        opts.onStep?.(B);
      }
      const out = tidy(() => this.finish(ctx, state));
      const adv = this.bounds === null ? out.adv : ctx.clip(out.adv);
      const delta = this.bounds === null && out.delta !== undefined ? out.delta : adv.sub(x);
      const success = out.success ?? (computeSuccess ? noGrad(() => ctx.isAdversarial(ctx.logits(adv))) : null);
      const r: BatchAttackResult = { adv, delta, success };
      if (out.firstCrossing !== undefined) r.firstCrossing = out.firstCrossing;
      return r;
    }));
  }

  /** Checks a run's inputs and options (one-line errors) and returns its shape, epsilons and batch loop. */
  protected plan(inputs: AttackInput, criterion: Criterion, opts: RunOptions, needsEpsilon: boolean): RunPlan {
    const shape = inputShape(inputs);
    const { n } = shape;
    const per = shape.channels * shape.height * shape.width;
    const cls = criterion.classes;
    if (cls.length !== n) throw new Error(`${this.name}: ${cls.length} labels/targets for ${n} images`);
    const batch = opts.batch ?? 128;
    if (!Number.isInteger(batch) || batch < 1) throw new Error(`${this.name}: batch must be a positive integer, got ${batch}`);
    const epsilons = [...(opts.epsilons ?? [])];
    if (needsEpsilon && epsilons.length === 0) throw new Error(`${this.name}: a fixed-ε attack needs at least one epsilon`);
    for (const e of epsilons) if (!(e >= 0) || !Number.isFinite(e)) throw new Error(`${this.name}: epsilons must be finite and ≥ 0, got ${e}`);
    return {
      n, per, epsilons, keep: opts.keepImages ?? true,
      each(fn) {
        for (let i = 0; i < n; i += batch) {
          const b = Math.min(batch, n - i);
          tidy(() => fn(inputBatch(inputs, i, b), i));
        }
      },
    };
  }
}

/** Attacks with a fixed budget ε in their norm: one run per ε. */
export abstract class FixedEpsilonAttack<S extends StateTensors = StateTensors> extends Attack<S> {
  /**
   * Attacks one batch already in tensors: x [B, C, H, W] against the criterion's classes from `opts.offset`
   * (default 0). Returns the perturbed batch (clipped when the attack clips), adv − x, success (bool [B], or null
   * when computeSuccess is false: saves a forward pass) and, when tracked, firstCrossing.
   */
  attackBatch(model: Module, x: Tensor, criterion: Criterion, eps: number, opts: BatchOptions & { computeSuccess?: boolean } = {}): BatchAttackResult {
    return this.perturb(model, x, criterion, eps, opts, opts.computeSuccess ?? true);
  }

  /** One run per ε over all inputs; success and (when kept) the images per ε. */
  run(model: Module, inputs: AttackInput, criterion: Criterion, opts: RunOptions = {}): FixedEpsilonResult {
    const p = this.plan(inputs, criterion, opts, true);
    const success = p.epsilons.map(() => new Uint8Array(p.n));
    const images = p.keep ? p.epsilons.map(() => new Float32Array(p.n * p.per)) : undefined;
    p.each((x, i) => p.epsilons.forEach((e, k) => tidy(() => {
      const r = this.attackBatch(model, x, criterion, e, { offset: i, onStep: opts.onStep, sampleKeys: opts.sampleKeys });
      success[k]!.set(r.success!.cast('uint8').data<Uint8Array>(), i);
      if (images) images[k]!.set(r.adv.contiguous().data(), i * p.per);
    })));
    const result: FixedEpsilonResult = { n: p.n, epsilons: p.epsilons, success };
    if (images) result.images = images;
    return result;
  }
}

/** Attacks that search, within their own budget, the smallest perturbation meeting the criterion. */
export abstract class MinimizationAttack<S extends StateTensors = StateTensors> extends Attack<S> {
  /** The search's own budget in the attack's norm; steps see it as ctx.eps. */
  abstract get budget(): number;

  /**
   * Attacks one batch already in tensors: x [B, C, H, W] against the criterion's classes from `opts.offset`
   * (default 0). Returns the found images (clipped when the attack clips), adv − x, success (bool [B]: found)
   * and, when tracked, firstCrossing.
   */
  attackBatch(model: Module, x: Tensor, criterion: Criterion, opts: BatchOptions = {}): BatchAttackResult & { success: Tensor } {
    return this.perturb(model, x, criterion, this.budget, opts, true) as BatchAttackResult & { success: Tensor };
  }

  /** One run over all inputs; per sample the smallest distance found, and success at each ε: distance ≤ ε. */
  run(model: Module, inputs: AttackInput, criterion: Criterion, opts: RunOptions = {}): MinimizationResult {
    const p = this.plan(inputs, criterion, opts, false);
    const { n, epsilons } = p;
    const success = epsilons.map(() => new Uint8Array(n));
    const distances = new Float64Array(n);
    const firstCrossing = new Int32Array(n).fill(-1);
    const raw = p.keep ? new Float32Array(n * p.per) : undefined;
    p.each((x, i) => {
      const b = x.shape[0]!;
      const r = this.attackBatch(model, x, criterion, { offset: i, onStep: opts.onStep, sampleKeys: opts.sampleKeys });
      const ok = r.success.cast('float32').data();
      const dist = this.norm.distance(r.delta).data();
      for (let j = 0; j < b; j++) distances[i + j] = ok[j]! > 0 ? dist[j]! : Infinity;
      if (r.firstCrossing !== undefined) {
        const fc = r.firstCrossing.cast('int32').data<Int32Array>();
        for (let j = 0; j < b; j++) firstCrossing[i + j] = fc[j]! > this.steps ? -1 : fc[j]!;
      }
      if (raw) raw.set(r.adv.contiguous().data(), i * p.per);
      epsilons.forEach((e, k) => { for (let j = 0; j < b; j++) success[k]![i + j] = distances[i + j]! <= e ? 1 : 0; });
    });
    const result: MinimizationResult = { n, epsilons, success, distances, firstCrossing, budget: this.budget };
    if (raw) result.raw = raw;
    return result;
  }
}

function releaseReplaced(prev: object, next: object, ctx: AttackContext): void {
  const old = new Set<Tensor>();
  const cur = new Set<Tensor>();
  tensorsIn(prev, old);
  tensorsIn(next, cur);
  for (const t of old) if (!cur.has(t) && t !== ctx.x && t !== ctx.classes) t.dispose();
}

function makeContext(model: Module, x: Tensor, classes: Tensor, criterion: Criterion, eps: number,
  offset: number, keys: readonly number[] | null, bounds: readonly [number, number] | null, norm: Norm): AttackContext {
  return {
    model, x, classes, criterion, eps, offset, keys, bounds,
    gradient(delta: Tensor) {
      return tidy(() => enableGrad(() => {
        const d = delta.detach().requiresGrad_(true);
        const logits = model.call(x.add(d));
        const loss = crossEntropy(logits, classes, 'sum');
        const [g] = gradOf(loss, [d]);
        return { logits: logits.detach(), grad: criterion.targeted ? g!.neg() : g! };
      }));
    },
    logits(input: Tensor) { return noGrad(() => model.call(input)); },
    isAdversarial(logits: Tensor) { return criterion.isAdversarial(logits, classes); },
    clip(input: Tensor) { return bounds === null ? input : input.clamp(bounds[0], bounds[1]); },
    project(delta: Tensor) { return norm.project(delta, eps); },
  };
}

