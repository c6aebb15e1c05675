// The training loop (METHOD.md §3) as named steps (class Trainer, driven by runTraining): setup → resume or begin →
// start → epoch (a step per batch: augmentation → optional noise → optional adversarial batch → cross-entropy or the
// Lipschitz loss with adaptive ψ → SGD; checkpoints between) → finish. Every epoch: validation accuracy, a
// checkpoint, the model file and a JSONL log line. A run resumes bit-identically from its checkpoint, also mid-epoch.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import {
  Tensor, tidy, keep, noGrad, backward, crossEntropy, rand, randn, randperm, getRngState, setRngState, manualSeed, tensor,
} from '../engine/index.js';
import { resolveArchitecture, inEval, ScriptModule, type Module } from '../nn/index.js';
import { splitValidation, type ImageDataset } from '../data/dataset.js';
import { loadDataset } from '../data/load.js';
import { augmentBatch } from '../data/augment.js';
import { saveModel, loadModel, classCount, type LoadedModel, type ModelInput } from '../io/model-file.js';
import { saveScriptModule } from '../io/torchscript.js';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.js';
import { lipschitzLoss, AdaptivePsi } from './lipschitz.js';
import { classCounts, balancedClassWeights, balancedDraw, weightedCrossEntropy } from './balance.js';
import { Sgd } from './sgd.js';
import { learningRate } from './schedule.js';
import { paperTrainingAttack, type AdversarialBatchFn } from './adversarial.js';
import {
  saveCheckpoint, loadCheckpoint, encodeBytes, decodeBytes, STATE_FILE, SPLIT_FILE, NonFiniteCheckpointError,
  type TrainState, type EpochRecord, type EpochAccum, type LoadedCheckpoint,
} from './checkpoint.js';
import { robustAdditions, adversarialTraining, checkOptions, defaultLossTarget, type TrainOptions } from './options.js';
import { acquireRunLock, type RunLock } from './lock.js';
import { GlobalAdaptivePsi, rankSeed, epochPermutation, type DataParallel } from './distributed.js';

export const MODEL_FILE = 'model.safetensors';
/** The trained model of a run that fine-tunes a TorchScript module (with model.json, its sidecar). */
export const SCRIPT_MODEL_FILE = 'model.pt';

/** The model a run fine-tunes (--init): any model file; a traced TorchScript module is refused (its mode is baked in). */
function openInit(file: string): LoadedModel {
  const m = loadModel(file);
  if (m.model instanceof ScriptModule && m.model.traced) {
    const why = m.model.tracedReason;
    m.model.dispose();
    throw new Error(`--init: ${why}`);
  }
  return m;
}

/** The fine-tuned model must fit the data: its class count and channels. */
function checkInitFits(m: LoadedModel, data: PreparedData): void {
  const k = classCount(m, data.train.shape);
  if (k !== data.classNames.length) throw new TrainInputError(`--init ${m.file}: the model has ${k} classes, the data ${data.classNames.length}`);
}
export const LOG_FILE = 'log.jsonl';

/** A run that cannot go on (non-finite loss or weights). Its message is one line; the last checkpoint, finite, is kept. */
export class TrainingError extends Error {
  override name = 'TrainingError';
}

/** Bad input to a run (options, data, run directory, checkpoint): a one-line message naming what is wrong. */
export class TrainInputError extends Error {
  override name = 'TrainInputError';
}

function asInput<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof TrainInputError) throw e;
    throw new TrainInputError((e as Error).message.split('\n')[0]);
  }
}

export interface BatchInfo {
  epoch: number;          // 0-based epoch index
  batch: number;          // 0-based batch index in the epoch
  batches: number;
  batchSize: number;
  /** Images an epoch trains on (a last batch of 1 is dropped). */
  epochImages: number;
  step: number;           // optimizer steps done, this one included
  images: number;         // images in this batch
  loss: number;
  lossCls: number;
  lossAdv: number | null;
  psi: number | null;
  lr: number;
}

export interface RunOptions {
  /** The run directory: state.json, ckpt-*.safetensors, model.safetensors, log.jsonl, split.json. */
  dir: string;
  /** A fresh run's options; ignored when resuming (the checkpoint's options are used). */
  options?: TrainOptions | undefined;
  /** Continue the run in dir from its checkpoint. */
  resume?: boolean;
  /**
   * On resume: train up to this many epochs instead of the stored number; read the data from here; use these
   * lr milestones from now on (a schedule change, e.g. to end a run early with its lr drops); steer ψ to this
   * training cross-entropy from now on (a fine-tune that trades robustness for accuracy, or back).
   */
  overrides?: { epochs?: number | undefined; data?: string | undefined; milestones?: number[] | undefined; lossTarget?: number | undefined } | undefined;
  /** The adversarial-batch routine for adversarial modes (default: the paper's routine, METHOD.md §4). */
  attack?: AdversarialBatchFn;
  /** Threads in use (recorded in the state; resume is bit-identical for the same thread count). */
  threads?: number;
  /** Polled after every batch: true → write a checkpoint now and return with stopped = true. */
  shouldStop?: () => boolean;
  onStart?: (info: { state: TrainState; nTrain: number; nVal: number; batches: number; parameters: number; resumed: boolean }) => void;
  onBatch?: (info: BatchInfo) => void;
  onEpoch?: (rec: EpochRecord, state: TrainState) => void;
  /** Also write a mid-epoch checkpoint when this many seconds passed since the last one (0: epoch ends only). */
  checkpointSeconds?: number;
  /** A JSONL step line every this many steps (0: epoch lines only). Default 50. */
  logEvery?: number;
  /** Hears what setup cleaned up or took over (a stale lock, stale temp files). Default: a process warning. */
  onNote?: (message: string) => void;
  /**
   * Data-parallel training over a process group (train/distributed.ts): rank 0 owns the run folder (lock, state,
   * checkpoints, model, log) and sends the run to the others; every rank trains on its shard of each global batch.
   */
  distributed?: DataParallel | undefined;
}

export interface RunResult { state: TrainState; stopped: boolean; dir: string; /** The model file written. */ modelFile: string }

const yieldToEventLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

function checksum(a: ArrayLike<number>): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < a.length; i++) {
    let v = a[i]!;
    for (let k = 0; k < 4; k++) { h ^= v & 0xff; h = Math.imul(h, 0x01000193) >>> 0; v >>>= 8; }
  }
  return `fnv1a:${h.toString(16).padStart(8, '0')}:${a.length}`;
}

/**
 * The training record a model file carries (metadata `training_options`): the run's options and where it stood
 * (epochs, step, ψ, validation accuracy on how many images). ψ's loss target is the options' or the classes' default.
 */
export function trainingRecord(s: Pick<TrainState, 'options' | 'epoch' | 'step' | 'psiR'>, classes: number, valImages: number, valAcc: number | null): Record<string, unknown> {
  const o = s.options, robust = robustAdditions(o.mode);
  return {
    ...o, robust_additions: robust, adversarial_training: adversarialTraining(o.mode), epochs_done: s.epoch, step: s.step,
    psi: robust ? new AdaptivePsi(s.psiR).psi : null, val_acc: valAcc, val_images: valImages, split_seed: o.seed,
    loss_target: robust ? o.lossTarget ?? defaultLossTarget(classes) : null,
  };
}

/** sha256 of an image set's labels and pixels: a resumed run must see the same data. */
function fingerprint(set: ImageDataset): string {
  const h = createHash('sha256');
  h.update(new Uint8Array(set.labels.buffer, set.labels.byteOffset, set.labels.byteLength));
  h.update(set.pixels);
  return `sha256:${h.digest('hex')}`;
}

function rngNow(): Uint8Array {
  const t = getRngState();
  try { return t.data<Uint8Array>(); } finally { t.dispose(); }
}
function setRng(bytes: Uint8Array): void { tidy(() => setRngState(tensor(bytes))); }

export interface PreparedData { train: ImageDataset; val: ImageDataset | null; split: TrainState['split']; classNames: string[] }

/** The default validation split: 5,000 images, or a tenth of the data when that is fewer. */
export function defaultValCount(n: number): number { return Math.min(5000, Math.floor(n / 10)); }

/** The validation count of a run over n images (the default when o.val is null; 0 with a validation folder). */
export function valCount(o: TrainOptions, n: number): number {
  return o.valData !== null ? 0 : o.val ?? defaultValCount(n);
}

/** Loads the data of a run and draws its seeded validation split, or loads its validation folder. */
export function prepareData(o: TrainOptions, model: ModelInput | null = null): PreparedData {
  // The images are brought to --size, else to the input of the model fine-tuned (--init), else kept at their own size.
  const size: [number, number] | undefined = o.imageSize !== null ? [o.imageSize, o.imageSize] : model?.size ?? undefined;
  const all = loadDataset(o.data, { limit: o.limit ?? undefined, size, channels: model?.channels ?? undefined, resize: o.resize });
  const nVal = valCount(o, all.n);
  if (nVal >= all.n) throw new Error(`--val ${nVal} leaves no training images (${o.data} has ${all.n}): pass a smaller --val`);
  if (all.n - nVal < 2) throw new Error(`${o.data}: ${all.n - nVal} training images after the split; need at least 2`);
  if (o.valData !== null) {
    // The validation folder is brought to the training images' shape (size and channels) and must name the same classes.
    const val = loadDataset(o.valData, { size: [all.height, all.width], channels: all.channels, resize: o.resize });
    if (val.classNames.length !== all.classNames.length || val.classNames.some((c, k) => c !== all.classNames[k])) {
      throw new Error(`${o.valData}: classes ${val.classNames.join(', ')} do not match the training data's (${all.classNames.join(', ')})`);
    }
    return {
      train: all, val,
      split: { n: all.n, val: 0, seed: o.seed, checksum: fingerprint(val), data: fingerprint(all) },
      classNames: all.classNames,
    };
  }
  const s = splitValidation(all.n, nVal, o.seed);
  return {
    train: nVal === 0 ? all : all.subset(s.train, `${all.source} (training split)`),
    val: nVal === 0 ? null : all.subset(s.val, `${all.source} (validation split)`),
    split: { n: all.n, val: nVal, seed: o.seed, checksum: checksum(s.val), data: fingerprint(all) },
    classNames: all.classNames,
  };
}


/**
 * Per-channel mean and standard deviation of a set's pixels in [0, 1] (over all images and positions): the
 * normalisation a new network applies first, so any data is centred as CIFAR-10's published statistics centre it.
 */
export function channelStats(set: ImageDataset): { mean: number[]; std: number[] } {
  const { channels: C } = set, plane = set.height * set.width, per = C * plane;
  const sum = new Float64Array(C), sq = new Float64Array(C);
  const scale = set.pixels instanceof Float32Array ? 1 : 1 / 255;
  for (let i = 0; i < set.n; i++) {
    for (let c = 0; c < C; c++) {
      const base = i * per + c * plane;
      let s1 = 0, s2 = 0;
      for (let p = 0; p < plane; p++) { const v = set.pixels[base + p]! * scale; s1 += v; s2 += v * v; }
      sum[c]! += s1; sq[c]! += s2;
    }
  }
  const count = set.n * plane;
  const mean = Array.from(sum, (s) => s / count);
  // Rounded to 4 places as the published CIFAR-10 values are: a model file then states readable numbers.
  const std = Array.from(sq, (s, c) => Math.sqrt(Math.max(s / count - mean[c]! ** 2, 1e-12)));
  const r4 = (v: number): number => Math.round(v * 1e4) / 1e4;
  return { mean: mean.map(r4), std: std.map((v) => Math.max(r4(v), 1e-4)) };
}

/** Accuracy and mean cross-entropy in eval mode, without autograd. */
export function evaluate(model: Module, data: ImageDataset, batch = 256): { acc: number; loss: number } {
  let correct = 0, lossSum = 0;
  inEval(model, () => {
    noGrad(() => {
      for (let i = 0; i < data.n; i += batch) {
        const e = Math.min(data.n, i + batch);
        tidy(() => {
          const { x, y } = data.range(i, e);
          const z = model.call(x);
          correct += z.argmax(1).eq(y).sum().item();
          lossSum += crossEntropy(z, y, 'sum').item();
        });
      }
    });
  });
  return { acc: data.n === 0 ? 0 : correct / data.n, loss: data.n === 0 ? 0 : lossSum / data.n };
}

/**
 * Batches per epoch: full batches, plus the remainder when it has ≥ 2 images (batch norm needs 2), and with `world`
 * ranks at least one image per rank.
 */
export function batchesPerEpoch(n: number, batch: number, world = 1): number {
  return Math.floor(n / batch) + (n % batch >= Math.max(2, world) ? 1 : 0);
}

/** Keeps log lines up to the checkpoint's step (a resumed run re-does what came after). */
function trimLog(file: string, step: number): void {
  if (!fs.existsSync(file)) return;
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '');
  const kept = lines.filter((l) => {
    try {
      const v = JSON.parse(l) as { step?: unknown; event?: unknown };
      return !(typeof v.step === 'number' && v.step > step) || v.event === 'start';
    } catch {
      return false;
    }
  });
  if (kept.length !== lines.length) fs.writeFileSync(file, kept.map((l) => l + '\n').join(''));
}

/** One batch's outcome (loss non-finite: nothing was stepped). */
export interface StepResult {
  loss: number;
  lossCls: number;
  lossAdv: number | null;
  psi: number | null;
  correct: number;
  images: number;
}

/** Where a checkpoint stands; the non-finite-loss error names the last good one. */
type Position = Pick<TrainState, 'epoch' | 'batchInEpoch' | 'step'>;

const emptyAccum = (): EpochAccum => ({ lossSum: 0, correct: 0, seen: 0, seconds: 0 });

const describePosition = (p: Position): string => `epoch ${p.epoch}${p.batchInEpoch ? ` + ${p.batchInEpoch} batches` : ''}, step ${p.step}`;

/** Temp files of the run's own atomic writes (io/atomic.ts: `.<name>.<pid>.<random>.tmp`). */
const RUN_TEMP = /^\.(state\.json|split\.json|model\.safetensors|ckpt-\d+\.safetensors)\.\d+\.[0-9a-z]*\.tmp$/;

/**
 * Removes temp files that a killed writer of this run left (kill -9 during a checkpoint): only names of the run's
 * own temp files, and only those older than the lock (held now, so nobody else writes this run's files). Returns
 * their names.
 */
function removeStaleTemps(dir: string, before: number): string[] {
  const removed: string[] = [];
  for (const f of fs.readdirSync(dir)) {
    if (!RUN_TEMP.test(f)) continue;
    const file = path.join(dir, f);
    try {
      const st = fs.lstatSync(file);
      if (!st.isFile() || st.mtimeMs > before) continue;
      fs.rmSync(file, { force: true });
      removed.push(f);
    } catch { /* gone meanwhile */ }
  }
  return removed;
}

/** A run's options: a fresh run's, or the checkpoint's with the allowed overrides; checked either way. */
function runOptions(opts: RunOptions): { o: TrainOptions; loaded: LoadedCheckpoint | null } {
  let o: TrainOptions;
  let loaded: LoadedCheckpoint | null = null;
  if (opts.resume) {
    loaded = asInput(() => loadCheckpoint(opts.dir));
    const ov = opts.overrides ?? {};
    o = {
      ...loaded.state.options,
      ...(ov.data ? { data: ov.data } : {}), ...(ov.epochs ? { epochs: ov.epochs } : {}), ...(ov.milestones ? { milestones: ov.milestones } : {}),
      ...(ov.lossTarget !== undefined ? { lossTarget: ov.lossTarget } : {}),
    };
    if (ov.lossTarget !== undefined && !robustAdditions(o.mode)) {
      throw new TrainInputError(`--loss-target: this run's mode is ${o.mode}, which has no ψ to steer (lipschitz or all)`);
    }
  } else {
    if (opts.options === undefined) throw new Error('runTraining: options are required for a fresh run');
    o = opts.options;
    if (fs.existsSync(path.join(opts.dir, STATE_FILE))) throw new TrainInputError(`${opts.dir}: already holds a training run (${STATE_FILE}); use --resume ${opts.dir} or another --out`);
  }
  const problem = checkOptions(o);
  if (problem !== null) throw new TrainInputError(problem);
  return { o, loaded };
}

/** The run's training and validation images, as bytes (a resumed run must see the data it started with). */
function loadRunData(o: TrainOptions, resumed: TrainState | null, model: ModelInput | null): PreparedData {
  const data = asInput(() => prepareData(o, model));
  if (resumed !== null && (data.split.checksum !== resumed.split.checksum || data.split.data !== resumed.split.data)) {
    throw new TrainInputError(`${o.data}: the data differ from the run's (${data.split.n} images ${data.split.data.slice(0, 19)}…, ` +
      `the checkpoint's ${resumed.split.n} images ${String(resumed.split.data).slice(0, 19)}…)`);
  }
  return data;
}

/**
 * One training run in its directory, as the named steps runTraining drives: setup (options, data, model, optimizer,
 * ψ, attack), then resume (a checkpoint) or begin (a fresh run's first checkpoint); start; epoch after epoch, each a
 * step per batch with checkpoints between; finish; dispose.
 */
export class Trainer {
  readonly dir: string;
  readonly options: TrainOptions;
  readonly resumed: boolean;
  readonly model: Module;
  /** Where the trained model is written: model.safetensors, or model.pt for a TorchScript model (--init file.pt). */
  readonly modelFile: string;
  readonly sgd: Sgd;
  /** The adaptive ψ controller (target: options.lossTarget or K's default); fed the global L_cls when distributed; its integrator is what the state stores (psiR). */
  readonly psiControl: AdaptivePsi;
  /** Training images per class (for --balance). */
  readonly classCounts: number[];
  /** --balance weight: the cross-entropy's class weights [K] (float32; kept for the run, freed by dispose). */
  readonly #classWeights: Tensor | null;
  readonly robust: boolean;
  readonly attack: AdversarialBatchFn | null;
  readonly trainSet: ImageDataset;
  readonly valSet: ImageDataset | null;
  get nTrain(): number { return this.trainSet.n; }
  get nVal(): number { return this.valSet?.n ?? 0; }
  readonly batches: number;
  readonly classNames: string[];
  state: TrainState;
  readonly #opts: RunOptions;
  readonly #logFile: string;
  #saved: Position = { epoch: 0, batchInEpoch: 0, step: 0 };
  /** The step the run resumed at (null: a fresh run). */
  readonly #resumedStep: number | null;
  #lastSave = performance.now();
  /** null on ranks other than 0 of a distributed run: rank 0 holds the run folder. */
  readonly #lock: RunLock | null;
  readonly #dp: DataParallel | null;

  /**
   * Setup: everything a run needs, from a fresh run's options or from the checkpoint in opts.dir. The folder is
   * locked first (RunLock, released by dispose()), so the checks of what it holds and everything after happen for
   * one process only; stale temp files of the run are removed under the lock.
   */
  static setup(opts: RunOptions): Trainer {
    const dp = opts.distributed;
    if (dp === undefined) return Trainer.#setupHere(opts);
    if (!dp.isRoot) {
      // The run as rank 0 has it (a fresh run's options or the checkpoint's state), or why rank 0 could not start it.
      const got = dp.fromRoot<{ error: string } | { options: TrainOptions; state: TrainState }>(undefined);
      if ('error' in got) throw new TrainInputError(`rank 0 could not start the run: ${got.error}`);
      const t = new Trainer(opts, got.options, null, null, got.state);
      t.#joinGroup();
      return t;
    }
    let t: Trainer;
    try {
      if (opts.options !== undefined && opts.options.batch < dp.world) throw new TrainInputError(`--batch ${opts.options.batch} is smaller than the ${dp.world} ranks: every rank needs images`);
      t = Trainer.#setupHere(opts);
    } catch (e) {
      dp.fromRoot({ error: (e as Error).message.split('\n')[0] });
      throw e;
    }
    dp.fromRoot({ options: t.options, state: t.state });
    t.#joinGroup();
    return t;
  }

  /** Rank 0's weights, buffers and momentum on every rank. */
  #joinGroup(): void {
    const dp = this.#dp!;
    try {
      dp.broadcastModel(this.model);
      dp.broadcastOptimizer(this.sgd);
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  static #setupHere(opts: RunOptions): Trainer {
    const note = opts.onNote ?? ((m: string) => process.emitWarning(m));
    if (!opts.resume && opts.options !== undefined) {
      // A fresh run's options are checked before the folder is made.
      const problem = checkOptions(opts.options);
      if (problem !== null) throw new TrainInputError(problem);
    }
    const existed = fs.existsSync(opts.dir);
    if (opts.resume && !existed) runOptions(opts); // throws: no state to resume
    asInput(() => fs.mkdirSync(opts.dir, { recursive: true }));
    let lock: RunLock;
    try {
      lock = asInput(() => acquireRunLock(opts.dir, note));
    } catch (e) {
      if (!existed) {
        try { fs.rmdirSync(opts.dir); } catch { /* another run's files are in it: keep it */ }
      }
      throw e;
    }
    try {
      const stale = removeStaleTemps(opts.dir, lock.acquiredAt);
      if (stale.length > 0) note(`${opts.dir}: removed ${stale.length} temp file${stale.length > 1 ? 's' : ''} a killed run left (${stale.slice(0, 3).join(', ')}${stale.length > 3 ? ', …' : ''})`);
      const { o, loaded } = runOptions(opts);
      return new Trainer(opts, o, loaded, lock);
    } catch (e) {
      lock.release();
      if (!existed) {
        try { fs.rmdirSync(opts.dir); } catch { /* not empty: keep it */ }
      }
      throw e;
    }
  }

  private constructor(opts: RunOptions, o: TrainOptions, loaded: LoadedCheckpoint | null, lock: RunLock | null, fromRoot?: TrainState) {
    this.#lock = lock;
    this.#dp = opts.distributed ?? null;
    this.psiControl = this.#dp ? new GlobalAdaptivePsi(this.#dp) : new AdaptivePsi();
    this.#opts = opts;
    this.#resumedStep = loaded?.state.step ?? null;
    this.dir = opts.dir;
    this.#logFile = path.join(opts.dir, LOG_FILE);
    this.options = o;
    this.resumed = loaded !== null;
    const init = o.init === null ? null : asInput(() => openInit(o.init!));
    let data: PreparedData;
    try {
      data = loadRunData(o, loaded?.state ?? fromRoot ?? null, init?.input ?? null);
      if (init !== null) checkInitFits(init, data);
    } catch (e) {
      init?.model.dispose();
      throw e;
    }
    this.trainSet = data.train;
    this.valSet = data.val;
    this.classNames = data.classNames;
    const K = data.classNames.length;
    this.psiControl = new AdaptivePsi(0, undefined, undefined, o.lossTarget ?? defaultLossTarget(K));
    this.classCounts = classCounts(data.train, K);
    this.#classWeights = o.balance === 'weight' ? keep(tensor(Float32Array.from(balancedClassWeights(this.classCounts)))) : null;
    manualSeed(o.seed);
    if (init !== null) {
      this.model = init.model.train();
    } else {
      const { arch, preset } = resolveArchitecture(o.arch);
      const input = { channels: data.train.channels, ...channelStats(data.train) };
      this.model = arch.build(arch.forTraining({ classes: data.classNames.length, input, depth: o.depth, widths: o.widths, activation: o.activation }, preset));
    }
    this.modelFile = path.join(opts.dir, this.model instanceof ScriptModule ? SCRIPT_MODEL_FILE : MODEL_FILE);
    this.sgd = new Sgd(this.model.parameters(), { lr: o.lr, momentum: o.momentum, weightDecay: o.weightDecay });
    this.robust = robustAdditions(o.mode);
    const adversarial = adversarialTraining(o.mode);
    const attack = adversarial ? (opts.attack ?? paperTrainingAttack(o)) : null;
    this.attack = attack;
    this.batches = batchesPerEpoch(this.nTrain, o.batch, this.#dp?.world ?? 1);
    try {
      if (fromRoot !== undefined) this.state = this.#follow(fromRoot);
      else this.state = loaded !== null ? this.#resume(loaded) : this.#begin(data.split);
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  /** Resume: the checkpoint's weights, momentum and ψ integrator; the log cut back to its step. */
  #resume(ck: LoadedCheckpoint): TrainState {
    asInput(() => {
      try {
        this.model.loadStateDict(ck.model as Map<string, { shape: number[]; data: Float32Array }>);
        this.sgd.loadState(this.model.namedParameters().map(([n]) => ck.momentum.get(n) ?? null));
      } catch (e) {
        throw new Error(`${path.join(this.dir, ck.state.weights)}: ${(e as Error).message}`);
      }
    });
    const stateFile = path.join(this.dir, STATE_FILE);
    const rngBytes = rngNow().length;
    for (const k of ['rng', 'rngEpochStart'] as const) {
      const v = ck.state[k];
      if (v !== null && decodeBytes(v).length !== rngBytes) {
        throw new TrainInputError(`${stateFile}: field '${k}': expected a generator state of ${rngBytes} bytes, got ${decodeBytes(v).length}`);
      }
    }
    if (ck.state.batchInEpoch >= this.batches) {
      throw new TrainInputError(`${stateFile}: field 'batchInEpoch': expected fewer than the ${this.batches} batches of an epoch, got ${ck.state.batchInEpoch}`);
    }
    this.psiControl.r = ck.state.psiR;
    this.#saved = { epoch: ck.state.epoch, batchInEpoch: ck.state.batchInEpoch, step: ck.state.step };
    trimLog(this.#logFile, ck.state.step);
    const threads = this.#opts.threads;
    if (threads !== undefined && ck.state.threads !== threads) {
      process.emitWarning(`resuming with ${threads} threads, the run used ${ck.state.threads}: results may differ in the last bits`);
    }
    return { ...ck.state, options: this.options, threads: threads ?? ck.state.threads };
  }

  /** A rank other than 0: rank 0's state (its weights and momentum follow by broadcast); nothing is written. */
  #follow(s: TrainState): TrainState {
    this.psiControl.r = s.psiR;
    this.#saved = { epoch: s.epoch, batchInEpoch: s.batchInEpoch, step: s.step };
    return { ...s, threads: this.#opts.threads ?? s.threads };
  }

  /** A fresh run: its split.json and its checkpoint at step 0 (the generator as the model's init left it). */
  #begin(split: TrainState['split']): TrainState {
    const o = this.options;
    // With --val-data the held-out images are that folder's, all of them: split.json names it (absolute, so eval
    // --split finds it from anywhere) and holds no indices.
    const split_ = o.valData !== null
      ? { data: o.data, limit: o.limit, n: split.n, seed: o.seed, val: [], valData: path.resolve(o.valData) }
      : { data: o.data, limit: o.limit, n: split.n, seed: o.seed, val: Array.from(splitValidation(split.n, split.val, o.seed).val) };
    writeFileAtomic(path.join(this.dir, SPLIT_FILE), JSON.stringify(split_) + '\n');
    return this.#commit({
      epoch: 0, batchInEpoch: 0, step: 0, psiR: this.psiControl.r, rng: encodeBytes(rngNow()), rngEpochStart: null,
      accum: emptyAccum(), options: o, split, classNames: this.classNames,
      threads: this.#opts.threads ?? 0, elapsedSeconds: 0, history: [], finished: false,
    });
  }

  /** Logs the start (or resume), tells onStart, and sets the generator to the state's: the stream continues. */
  start(): void {
    const s = this.state;
    const parameters = this.model.numParameters();
    this.#log({
      event: this.resumed ? 'resume' : 'start', step: s.step, epoch: s.epoch, batchInEpoch: s.batchInEpoch, options: this.options,
      nTrain: this.nTrain, nVal: this.nVal, batches: this.batches, parameters, threads: this.#opts.threads ?? null,
    });
    this.#opts.onStart?.({ state: s, nTrain: this.nTrain, nVal: this.nVal, batches: this.batches, parameters, resumed: this.resumed });
    const dp = this.#dp;
    if (dp === null) setRng(decodeBytes(s.rng));
    // Each rank draws its own stream (augmentation, noise, choices): the checkpoint's for the same number of ranks,
    // else (a fresh run, or another number of ranks) one derived from the seed, the rank and the step.
    else if (s.ranks?.world === dp.world) setRng(decodeBytes(s.ranks.rng[dp.rank]!));
    else manualSeed(rankSeed(this.options.seed, dp.rank, s.step));
    if (dp !== null) {
      // A resumed run keeps its batch-norm choice.
      if (s.ranks?.syncBn !== undefined) dp.syncBatchNorm = s.ranks.syncBn;
      dp.install();
    }
    this.model.train();
  }

  /**
   * Epoch e from its next batch (its first, or where a mid-epoch checkpoint left it) to its end-of-epoch checkpoint.
   * Returns true when shouldStop() ended the run (after a checkpoint). Throws TrainingError on a non-finite loss.
   */
  async epoch(e: number): Promise<boolean> {
    const o = this.options;
    const lr = learningRate(e, o.lr, o.milestones, o.gamma);
    const from = this.state.batchInEpoch;
    const { perm, startRng } = this.#order(from > 0, e);
    if (from === 0) this.state.accum = emptyAccum();
    const accum: EpochAccum = { ...this.state.accum };
    try {
      for (let k = from; k < this.batches; k++) {
        const t0 = performance.now();
        const r = tidy(() => {
          const idx = perm.slice(0, k * o.batch, Math.min(this.nTrain, (k + 1) * o.batch));
          return this.step(this.#dp ? this.#dp.shard(idx) : idx, lr);
        });
        if (!Number.isFinite(r.loss)) this.#diverged(e, k, r);
        this.state.step++;
        accum.lossSum += r.loss * r.images; accum.correct += r.correct; accum.seen += r.images;
        accum.seconds += (performance.now() - t0) / 1000;
        this.#report(e, k, r, lr, accum);
        await yieldToEventLoop();
        if (k === this.batches - 1) break; // the epoch's own checkpoint follows
        let stop = this.#opts.shouldStop?.() === true;
        const checkpointMs = (this.#opts.checkpointSeconds ?? 0) * 1000;
        let due = checkpointMs > 0 && performance.now() - this.#lastSave >= checkpointMs;
        // Ranks stop and checkpoint together: any rank's request (or clock) decides for all.
        if (this.#dp) [stop, due] = this.#dp.any([stop, due]) as [boolean, boolean];
        if (stop || due) {
          this.checkpoint({ epoch: e, batchInEpoch: k + 1, accum: { ...accum }, rngEpochStart: encodeBytes(startRng) }, accum.seconds);
          this.#log({ event: stop ? 'stop' : 'checkpoint', ...(stop ? { reason: 'requested' } : {}), epoch: e, batchInEpoch: k + 1, step: this.state.step });
          if (stop) return true;
        }
      }
    } finally {
      perm.dispose();
    }
    return this.#endEpoch(e, lr, accum);
  }

  /** The epoch's permutation of the training images and the generator state it was drawn from. */
  #order(midEpoch: boolean, e: number): { perm: Tensor; startRng: Uint8Array } {
    // Distributed (or a distributed run resumed in one process): the permutation comes from (seed, epoch), the same
    // on every rank, whether mid-epoch or not.
    if (this.#dp || this.state.ranks !== undefined) return { perm: epochPermutation(this.nTrain, this.options.seed, e), startRng: rngNow() };
    if (!midEpoch) {
      const startRng = rngNow();
      return { perm: keep(this.#draw()), startRng };
    }
    // Re-draw the epoch's permutation from the generator state at its start, then continue the stream.
    if (this.state.rngEpochStart === null) throw new TrainInputError(`${path.join(this.dir, STATE_FILE)}: a mid-epoch state without 'rngEpochStart'`);
    const startRng = decodeBytes(this.state.rngEpochStart);
    setRng(startRng);
    const perm = keep(this.#draw());
    setRng(decodeBytes(this.state.rng));
    return { perm, startRng };
  }

  /** An epoch's image order: a permutation, or with --balance sample a class-balanced draw with replacement. */
  #draw(): Tensor {
    return this.options.balance === 'sample' ? balancedDraw(this.trainSet.labels, this.classCounts) : randperm(this.nTrain);
  }

  /**
   * Step: one optimizer step on the training images idx: augmentation → optional noise → optional adversarial batch →
   * cross-entropy or the Lipschitz loss (ψ stepped first) → SGD at rate lr. Nothing is stepped when the loss is not
   * finite. The counters (state.step) are the epoch's to move.
   */
  step(idx: Tensor, lr: number): StepResult {
    return tidy(() => {
      const { model, sgd, attack, robust } = this;
      const o = this.options;
      const batch = this.trainSet.gather(idx);
      const y = batch.y;
      let x = o.augment ? augmentBatch(batch.x, undefined, o.flip ? 0.5 : 0) : batch.x;
      if (o.noiseStd > 0) x = x.add(randn(x.shape).mul(o.noiseStd));
      const b = x.shape[0]!;
      if (attack !== null) {
        // With the robust additions only a random half is attacked: each sample with probability 1/2, as the
        // reference's half-and-half training draws it; the whole batch goes through the attack (batch norm).
        const affected = robust ? rand([b]).lt(0.5).cast('uint8').data<Uint8Array>() : null;
        x = attack(model, x, y, affected);
      }
      let loss: Tensor, logits: Tensor, lossCls: number, lossAdv: number | null = null, psi: number | null = null;
      if (robust) {
        const out = lipschitzLoss(model, x, y, this.psiControl, undefined, this.#classWeights, { penalty: o.penalty, fdStep: o.fdStep });
        loss = out.loss;
        lossCls = out.lossCls.item();
        lossAdv = out.lossAdv.item();
        psi = out.psi;
        logits = out.logits;
      } else {
        logits = model.call(x);
        loss = this.#classWeights !== null ? weightedCrossEntropy(logits, y, this.#classWeights) : crossEntropy(logits, y);
        lossCls = loss.item();
      }
      const lv = robust ? loss.item() : lossCls;
      const dp = this.#dp;
      if (dp !== null) {
        // The global batch's numbers decide, on every rank alike (a non-finite loss anywhere stops every rank).
        const correct = noGrad(() => logits.detach().argmax(1).eq(y).sum().item());
        const share = dp.share;
        const [gl, gc, ga, gCorrect, gImages] = dp.sum([lv * share, lossCls * share, (lossAdv ?? 0) * share, correct, b]) as [number, number, number, number, number];
        const res = { loss: gl, lossCls: gc, lossAdv: lossAdv === null ? null : ga, psi, correct: gCorrect, images: gImages };
        if (!Number.isFinite(gl)) return { ...res, correct: 0 };
        sgd.zeroGrad();
        sgd.lr = lr;
        backward(loss);
        dp.averageGradients(sgd.params);
        sgd.step();
        sgd.zeroGrad();
        return res;
      }
      if (!Number.isFinite(lv)) return { loss: lv, lossCls, lossAdv, psi, correct: 0, images: b };
      sgd.zeroGrad();
      sgd.lr = lr;
      backward(loss);
      sgd.step();
      sgd.zeroGrad();
      const correct = noGrad(() => logits.detach().argmax(1).eq(y).sum().item());
      return { loss: lv, lossCls, lossAdv, psi, correct, images: b };
    });
  }

  /**
   * Checkpoint at a batch boundary: weights, momentum, the ψ integrator and the generator as they are now, with `at`.
   * epochSeconds: the epoch's training time so far (what the last checkpoint did not count goes into elapsedSeconds).
   */
  checkpoint(at: Pick<TrainState, 'epoch' | 'batchInEpoch' | 'accum' | 'rngEpochStart'> & Partial<Pick<TrainState, 'history' | 'finished'>>, epochSeconds: number): void {
    const s = this.state;
    const dp = this.#dp;
    let ranks: TrainState['ranks'];
    if (dp !== null) {
      // What the checkpoint holds is what every rank holds: rank 0's batch-norm statistics; and every rank's stream.
      dp.broadcastBuffers(this.model);
      ranks = { world: dp.world, rng: dp.gatherRng(rngNow()).map(encodeBytes), syncBn: dp.syncBatchNorm };
    }
    this.state = this.#commit({
      ...s, ...(ranks !== undefined ? { ranks } : {}), epoch: at.epoch, batchInEpoch: at.batchInEpoch, psiR: this.psiControl.r, rng: encodeBytes(rngNow()),
      rngEpochStart: at.rngEpochStart, accum: at.accum, elapsedSeconds: s.elapsedSeconds + epochSeconds - s.accum.seconds,
      ...(at.history !== undefined ? { history: at.history } : {}), ...(at.finished !== undefined ? { finished: at.finished } : {}),
    });
  }

  /** Validation, the end-of-epoch checkpoint, the model file, the log line; true when shouldStop() ends the run here. */
  #endEpoch(e: number, lr: number, accum: EpochAccum): boolean {
    const o = this.options;
    const v = this.valSet ? (this.#dp ? this.#dp.evaluate(this.model, this.valSet, evaluate) : evaluate(this.model, this.valSet)) : null;
    const rec: EpochRecord = {
      epoch: e + 1, step: this.state.step, lr, psi: this.robust ? this.psiControl.psi : null,
      trainLoss: accum.lossSum / Math.max(1, accum.seen), trainAcc: accum.correct / Math.max(1, accum.seen),
      valAcc: v?.acc ?? null, valLoss: v?.loss ?? null, seconds: accum.seconds, imgPerSec: accum.seen / Math.max(accum.seconds, 1e-9),
    };
    this.checkpoint({ epoch: e + 1, batchInEpoch: 0, accum: emptyAccum(), rngEpochStart: null, history: [...this.state.history, rec], finished: e + 1 >= o.epochs }, accum.seconds);
    this.#writeModel();
    this.#log({ event: 'epoch', ...rec });
    this.#opts.onEpoch?.(rec, this.state);
    if (e + 1 < o.epochs && (this.#dp ? this.#dp.any([this.#opts.shouldStop?.() === true])[0] : this.#opts.shouldStop?.())) {
      this.#log({ event: 'stop', reason: 'requested', epoch: e + 1, batchInEpoch: 0, step: this.state.step });
      return true;
    }
    return false;
  }

  /** After the last epoch: the model file if missing (a resumed finished run), the finished flag, the 'done' line. */
  finish(): void {
    if (this.#writes && !fs.existsSync(this.modelFile)) this.#writeModel();
    if (!this.state.finished) this.state = this.#commit({ ...this.state, finished: true });
    this.#log({ event: 'done', epoch: this.state.epoch, step: this.state.step });
  }

  /** Frees the model, the optimizer's buffers and the images, and releases the run folder's lock. */
  dispose(): void {
    try {
      this.sgd.disposeBuffers();
      this.model.dispose();
      this.#classWeights?.dispose();
    } finally {
      this.#dp?.uninstall();
      this.#lock?.release();
    }
  }

  /**
   * Writes s with the current weights and momentum (checkpoint.ts's crash-safe commit). Weights or momentum that
   * became NaN or ±Inf (with finite losses: an overflowing gradient) are not written: the run stops, and the
   * checkpoint on disk stays the last finite one.
   */
  #commit(s: Omit<TrainState, 'weights' | 'format' | 'version'>): TrainState {
    if (!this.#writes) return { ...this.state, ...s };
    let full: TrainState;
    try {
      full = saveCheckpoint(this.dir, this.model, this.sgd, s);
    } catch (e) {
      if (!(e instanceof NonFiniteCheckpointError)) throw e;
      const saved = this.#saved;
      throw new TrainingError(`${e.tensor} became ${e.value} by step ${s.step} though every loss was finite; stopped without writing a checkpoint. ` +
        `The last checkpoint (${describePosition(saved)}, finite) is kept in ${this.dir}; resuming it unchanged repeats the same steps: a lower --lr (now ${this.options.lr}) in a new run usually helps`);
    }
    this.#saved = { epoch: full.epoch, batchInEpoch: full.batchInEpoch, step: full.step };
    this.#lastSave = performance.now();
    return full;
  }

  /** Whether this process writes the run's files: rank 0 of a distributed run, or the only process. */
  get #writes(): boolean { return this.#dp === null || this.#dp.isRoot; }

  #writeModel(): void {
    if (!this.#writes) return;
    const s = this.state;
    const last = s.history[s.history.length - 1];
    if (this.model instanceof ScriptModule) {
      // A TorchScript model is written as TorchScript, its architecture as it came (the sidecar carries the names).
      saveScriptModule(this.modelFile, this.model);
      writeJsonAtomic(this.modelFile.replace(/\.pt$/, '.json'), { classes: this.classNames, size: [this.trainSet.height, this.trainSet.width], channels: this.trainSet.channels,
        ...(this.model.mean !== null ? { mean: this.model.mean, std: this.model.std } : {}) });
      return;
    }
    saveModel(this.modelFile, this.model, {
      training_options: JSON.stringify(trainingRecord(s, this.classNames.length, this.nVal, last?.valAcc ?? null)),
      class_names: JSON.stringify(this.classNames),
      input_size: JSON.stringify([this.trainSet.height, this.trainSet.width]),
    });
  }

  #report(e: number, k: number, r: StepResult, lr: number, accum: EpochAccum): void {
    const o = this.options, step = this.state.step;
    this.#opts.onBatch?.({
      epoch: e, batch: k, batches: this.batches, batchSize: o.batch, epochImages: Math.min(this.nTrain, this.batches * o.batch), step,
      images: r.images, loss: r.loss, lossCls: r.lossCls, lossAdv: r.lossAdv, psi: r.psi, lr,
    });
    const every = this.#opts.logEvery ?? 50;
    if (every > 0 && step % every === 0) {
      this.#log({ event: 'step', epoch: e + 1, batch: k + 1, step, loss: r.loss, lossCls: r.lossCls, lossAdv: r.lossAdv, psi: r.psi, lr, imgPerSec: accum.seen / Math.max(accum.seconds, 1e-9) });
    }
  }

  /**
   * A non-finite loss: nothing was stepped, the checkpoint on disk (finite: #commit writes no other) stays. The
   * message says what resuming it would do: a resumed run repeats the same steps bit for bit, so it diverges again
   * unless something changes, and a run's --lr cannot change on resume.
   */
  #diverged(e: number, k: number, r: StepResult): never {
    const step = this.state.step + 1, saved = this.#saved;
    this.#log({ event: 'diverged', epoch: e, batch: k, step, loss: r.loss, lossCls: r.lossCls });
    const head = `non-finite loss (${r.loss}) at epoch ${e + 1} batch ${k + 1} (step ${step}); stopped. `;
    if (this.#resumedStep !== null && saved.step === this.#resumedStep && step === saved.step + 1) {
      throw new TrainingError(head + `It is the first step from the checkpoint this run resumed (${describePosition(saved)}, kept unchanged in ${this.dir}): ` +
        `its weights are finite, yet it leads straight to a non-finite loss, and resuming it again will too (the run's options, lr ${this.options.lr} among them, cannot change on resume)`);
    }
    throw new TrainingError(head + `The last checkpoint (${describePosition(saved)}, finite weights) is kept in ${this.dir}; ` +
      `resuming it unchanged repeats the same steps: a lower --lr (now ${this.options.lr}) in a new run usually helps`);
  }

  #log(v: Record<string, unknown>): void {
    if (!this.#writes) return;
    fs.appendFileSync(this.#logFile, JSON.stringify({ time: new Date().toISOString(), ...v }) + '\n');
  }
}

/**
 * Trains (or resumes) a run in opts.dir. Returns when all epochs are done, or early with stopped = true when
 * shouldStop() said so (after writing a checkpoint). Throws TrainingError on a non-finite loss (nothing is
 * written for the failing step: the last checkpoint stays the good one) and TrainInputError for bad data/options.
 */
export async function runTraining(opts: RunOptions): Promise<RunResult> {
  const run = Trainer.setup(opts);
  try {
    run.start();
    let stopped = false;
    for (let e = run.state.epoch; e < run.options.epochs && !stopped; e++) stopped = await run.epoch(e);
    if (!stopped) run.finish();
    return { state: run.state, stopped, dir: opts.dir, modelFile: run.modelFile };
  } finally {
    run.dispose();
  }
}
