// The attack base, in the spirit of Foolbox 3: it owns batching, the criterion (untargeted, targeted, BTR), the
// loop over an array of epsilons, optional clipping, the success check, the input gradient and the memory scopes.
// An attack writes only `init` and `step` (and, if it must, `finish`).
//
// Two families share the base:
//  - fixed-ε attacks (PGD, FGSM, the paper's routine in budget mode) run once per ε and report success per ε;
//  - minimising attacks (the paper's routine in misclassify / BTR mode) run once with their own budget, find the
//    smallest perturbation (in the attack's norm) that meets the criterion, and report success at ε as
//    "found and distance ≤ ε".
import {
  Tensor, tensor, tidy, noGrad, enableGrad, gradOf, crossEntropy, dispose,
} from '../engine/index.js';
import { frozen, type Module } from '../nn/index.js';

/** What counts as adversarial. */
export type Criterion =
  /** argmax ≠ label (untargeted; the attack ascends the label's cross-entropy). */
  | { kind: 'misclassification'; labels: Int32Array }
  /** argmax = target (targeted; the attack descends the target's cross-entropy). */
  | { kind: 'targeted'; targets: Int32Array }
  /** softmax[label] ≤ 1/K: the label is no better than a random guess (the paper's BTR boundary). */
  | { kind: 'btr'; labels: Int32Array };

export const misclassification = (labels: Int32Array): Criterion => ({ kind: 'misclassification', labels });
export const targeted = (targets: Int32Array): Criterion => ({ kind: 'targeted', targets });
export const btr = (labels: Int32Array): Criterion => ({ kind: 'btr', labels });

/** The class each sample's loss is taken against: the label, or the target when targeted. */
export function criterionClasses(c: Criterion): Int32Array {
  return c.kind === 'targeted' ? c.targets : c.labels;
}

/** How a perturbation is measured. rms = sqrt(mean δ²) over all C·H·W elements (the paper's distance). */
export type Norm = 'rms' | 'l2' | 'linf';

/** Per-sample norm of a batch of perturbations [B, ...] → [B]. */
export function perSampleNorm(delta: Tensor, norm: Norm): Tensor {
  const dims = delta.shape.slice(1).map((_, i) => i + 1);
  switch (norm) {
    case 'rms': return delta.square().mean(dims).sqrt();
    case 'l2': return delta.square().sum(dims).sqrt();
    case 'linf': return delta.abs().amax(dims);
  }
}

/** Images as a tensor [N, C, H, W] or a flat NCHW Float32Array with its shape (e.g. an ImageSet). */
export type AttackInput = Tensor | { images: Float32Array; n: number; channels: number; height: number; width: number };

/** What an attack step sees: one batch, its classes, the current ε and the model's input gradient. */
export interface AttackContext {
  readonly model: Module;
  /** The clean batch [B, C, H, W]; not to be disposed or kept in the state. */
  readonly x: Tensor;
  /** int64 [B]: the label (misclassification, btr) or the target (targeted). */
  readonly classes: Tensor;
  readonly criterion: Criterion['kind'];
  /** ε of this run: the fixed budget, or a minimising attack's own maximum budget. */
  readonly eps: number;
  /** Index of the batch's first sample in the whole input. */
  readonly offset: number;
  /** Clip bounds of the attack, or null (no clipping). */
  readonly bounds: readonly [number, number] | null;
  /**
   * Logits of x + δ and the gradient of Σ_b CE(f(x+δ)_b, classes_b) with respect to δ, signed so that following
   * it moves toward the criterion: +∇ when untargeted or BTR, −∇ when targeted. Both are detached.
   */
  gradient(delta: Tensor): { logits: Tensor; grad: Tensor };
  /** Logits of an input batch, without autograd. */
  logits(input: Tensor): Tensor;
  /** bool [B]: does the criterion hold for these logits? */
  isAdversarial(logits: Tensor): Tensor;
  /** Clamps to the bounds when the attack clips, else returns the input itself. */
  clip(input: Tensor): Tensor;
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
  /** Fixed-ε attacks: one run per ε. Minimising attacks: the radii at which success is reported. */
  epsilons?: readonly number[];
  /** Samples per batch (default 128). */
  batch?: number;
  /** Keep the perturbed images (default true). */
  keepImages?: boolean;
  /** Called after every step of every batch with the batch size: progress in image-steps. */
  onStep?: (images: number) => void;
}

export interface AttackResult {
  n: number;
  epsilons: number[];
  /** Per ε (same order), per sample: 1 when the criterion holds for the returned image. */
  success: Uint8Array[];
  /** Per ε, the returned images (NCHW, n·C·H·W), when keepImages. Minimising attacks: one array (see raw). */
  images?: Float32Array[];
  /** Minimising attacks only. */
  minimal?: {
    /** The smallest perturbation found per sample, in the attack's norm; Infinity where none was found. */
    distances: Float64Array;
    /** The found images (the clean image where none was found), when keepImages. */
    raw?: Float32Array;
    /** First step index at which each sample was across its boundary; -1 if never. */
    firstCrossing: Int32Array;
    /** The attack's own budget. */
    eps: number;
  };
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

/**
 * The base of every attack. Subclasses implement init/step (and finish when the result is not `state.adv`);
 * the state is a plain object of tensors that the base frees as soon as a step replaces them.
 */
export abstract class Attack<S extends StateTensors = StateTensors> {
  /** Short name for reports ("pgd-linf", "paper-misclassify", …). */
  abstract readonly name: string;
  /** The norm ε and distances are measured in. */
  abstract readonly norm: Norm;
  /** True for attacks that minimise the perturbation rather than use a fixed ε. */
  abstract readonly minimizing: boolean;
  /** Clip bounds for the perturbed image, or null (the paper's routine never clamps). */
  readonly bounds: readonly [number, number] | null;

  constructor(bounds: readonly [number, number] | null) {
    if (bounds !== null && !(bounds[0] < bounds[1])) throw new Error(`attack bounds must be [low, high] with low < high, got [${bounds.join(', ')}]`);
    this.bounds = bounds;
  }

  /** Steps per run (for progress). */
  abstract get steps(): number;
  /** Budget of a minimising attack (ignored by fixed-ε attacks). */
  get ownEps(): number { return NaN; }

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

  /**
   * Attacks one batch already in tensors: x [B, C, H, W], classes int64 [B]. Returns tensors owned by the
   * caller's scope: the perturbed batch (clipped when the attack clips), success (bool [B]) and, when tracked,
   * firstCrossing. The model's parameters stop requiring gradients while it runs (restored after).
   */
  attackBatch(model: Module, x: Tensor, classes: Tensor, criterion: Criterion['kind'], eps: number,
    opts: { offset?: number; onStep?: (images: number) => void; computeSuccess?: boolean } = {}): BatchAttackResult {
    this.validate(eps);
    return frozen(model, () => {
      return tidy(() => {
        const ctx = makeContext(model, x, classes, criterion, eps, opts.offset ?? 0, this.bounds);
        let state = tidy(() => this.init(ctx));
        const T = this.steps;
        const B = x.shape[0]!;
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
        const success = out.success ?? (opts.computeSuccess === false ? null : noGrad(() => ctx.isAdversarial(ctx.logits(adv))));
        const r: BatchAttackResult = { adv, delta, success };
        if (out.firstCrossing !== undefined) r.firstCrossing = out.firstCrossing;
        return r;
      });
    });
  }

  /**
   * Runs the attack over all inputs in batches. Fixed-ε attacks run once per ε; minimising attacks run once and
   * report, per ε, whether the smallest perturbation found is within ε.
   */
  run(model: Module, inputs: AttackInput, criterion: Criterion, opts: RunOptions = {}): AttackResult {
    const shape = inputShape(inputs);
    const [n] = shape;
    const per = shape[1] * shape[2] * shape[3];
    const cls = criterionClasses(criterion);
    if (cls.length !== n) throw new Error(`${this.name}: ${cls.length} labels/targets for ${n} images`);
    const batch = opts.batch ?? 128;
    if (!Number.isInteger(batch) || batch < 1) throw new Error(`${this.name}: batch must be a positive integer, got ${batch}`);
    const epsilons = [...(opts.epsilons ?? [])];
    if (!this.minimizing && epsilons.length === 0) throw new Error(`${this.name}: a fixed-ε attack needs at least one epsilon`);
    for (const e of epsilons) if (!(e >= 0) || !Number.isFinite(e)) throw new Error(`${this.name}: epsilons must be finite and ≥ 0, got ${e}`);
    const keep = opts.keepImages ?? true;

    const success = epsilons.map(() => new Uint8Array(n));
    const images = keep && !this.minimizing ? epsilons.map(() => new Float32Array(n * per)) : undefined;
    const distances = new Float64Array(n);
    const firstCrossing = new Int32Array(n).fill(-1);
    const raw = keep && this.minimizing ? new Float32Array(n * per) : undefined;

    for (let i = 0; i < n; i += batch) {
      const b = Math.min(batch, n - i);
      tidy(() => {
        const x = sliceInput(inputs, i, b, shape);
        const classes = tensor(cls.subarray(i, i + b), [b]).cast('int64');
        if (this.minimizing) {
          const r = this.attackBatch(model, x, classes, criterion.kind, this.ownEps, { offset: i, onStep: opts.onStep });
          const ok = r.success!.cast('float32').data();
          const dist = perSampleNorm(r.delta, this.norm).data();
          for (let j = 0; j < b; j++) distances[i + j] = ok[j]! > 0 ? dist[j]! : Infinity;
          if (r.firstCrossing !== undefined) {
            const fc = r.firstCrossing.cast('int32').data<Int32Array>();
            for (let j = 0; j < b; j++) firstCrossing[i + j] = fc[j]! > this.steps ? -1 : fc[j]!;
          }
          if (raw) raw.set(r.adv.contiguous().data(), i * per);
          epsilons.forEach((e, k) => { for (let j = 0; j < b; j++) success[k]![i + j] = distances[i + j]! <= e ? 1 : 0; });
        } else {
          epsilons.forEach((e, k) => tidy(() => {
            const r = this.attackBatch(model, x, classes, criterion.kind, e, { offset: i, onStep: opts.onStep });
            success[k]!.set(r.success!.cast('uint8').data<Uint8Array>(), i);
            if (images) images[k]!.set(r.adv.contiguous().data(), i * per);
          }));
        }
      });
    }
    const result: AttackResult = { n, epsilons, success };
    if (images) result.images = images;
    if (this.minimizing) {
      result.minimal = { distances, firstCrossing, eps: this.ownEps };
      if (raw) result.minimal.raw = raw;
    }
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

function makeContext(model: Module, x: Tensor, classes: Tensor, criterion: Criterion['kind'], eps: number,
  offset: number, bounds: readonly [number, number] | null): AttackContext {
  const sign = criterion === 'targeted' ? -1 : 1;
  return {
    model, x, classes, criterion, eps, offset, bounds,
    gradient(delta: Tensor) {
      return tidy(() => enableGrad(() => {
        const d = delta.detach().requiresGrad_(true);
        const logits = model.call(x.add(d));
        const loss = crossEntropy(logits, classes, 'sum');
        const [g] = gradOf(loss, [d]);
        return { logits: logits.detach(), grad: sign < 0 ? g!.neg() : g! };
      }));
    },
    logits(input: Tensor) { return noGrad(() => model.call(input)); },
    isAdversarial(logits: Tensor) { return isAdversarial(logits, classes, criterion); },
    clip(input: Tensor) { return bounds === null ? input : input.clamp(bounds[0], bounds[1]); },
  };
}

/** bool [B]: the criterion evaluated on logits [B, K] against classes int64 [B]. */
export function isAdversarial(logits: Tensor, classes: Tensor, criterion: Criterion['kind']): Tensor {
  return tidy(() => {
    switch (criterion) {
      case 'misclassification': return logits.argmax(1).ne(classes);
      case 'targeted': return logits.argmax(1).eq(classes);
      case 'btr': {
        const k = logits.shape[1]!;
        return logits.softmax(1).gather(1, classes.reshape([-1, 1])).squeeze(1).le(1 / k);
      }
    }
  });
}

function inputShape(inputs: AttackInput): [number, number, number, number] {
  if (inputs instanceof Tensor) {
    if (inputs.rank !== 4) throw new Error(`attack inputs must be [N, C, H, W], got [${inputs.shape.join(', ')}]`);
    return inputs.shape as unknown as [number, number, number, number];
  }
  const s: [number, number, number, number] = [inputs.n, inputs.channels, inputs.height, inputs.width];
  if (inputs.images.length !== s[0] * s[1] * s[2] * s[3]) {
    throw new Error(`attack inputs: ${inputs.images.length} values for ${s.join('×')} images`);
  }
  return s;
}

function sliceInput(inputs: AttackInput, start: number, count: number, shape: readonly number[]): Tensor {
  if (inputs instanceof Tensor) return inputs.slice(0, start, start + count).detach();
  const per = shape[1]! * shape[2]! * shape[3]!;
  return tensor(inputs.images.subarray(start * per, (start + count) * per), [count, shape[1]!, shape[2]!, shape[3]!]);
}

/** Frees every tensor of an attack state (for code that drives init/step itself). */
export function disposeState(state: object): void { dispose(state); }
