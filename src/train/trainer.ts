// The training loop (METHOD.md §3): data → augmentation → optional noise → optional adversarial batch →
// cross-entropy or the Lipschitz loss with adaptive ψ → SGD. Every epoch: validation accuracy, a checkpoint,
// the model file and a JSONL log line. A run resumes bit-identically from its checkpoint, also mid-epoch.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import {
  Tensor, tidy, keep, noGrad, backward, crossEntropy, rand, randn, randperm, getRngState, setRngState, manualSeed, tensor,
} from '../engine/index.js';
import { PreActResNet, inEval } from '../nn/index.js';
import { loadDataset, splitValidation, subset, type ByteImageSet } from '../data/dataset.js';
import { TensorImageSet } from '../data/loader.js';
import { augmentBatch } from '../data/augment.js';
import { saveModel } from '../io/model-file.js';
import { writeFileAtomic } from '../io/atomic.js';
import { lipschitzLoss, AdaptivePsi } from './lipschitz.js';
import { Sgd } from './sgd.js';
import { learningRate } from './schedule.js';
import { paperTrainingAttack, type AdversarialBatchFn } from './adversarial.js';
import {
  saveCheckpoint, loadCheckpoint, encodeBytes, decodeBytes, STATE_FILE,
  type TrainState, type EpochRecord, type EpochAccum,
} from './checkpoint.js';
import { robustAdditions, adversarialTraining, checkOptions, type TrainOptions } from './options.js';

export const MODEL_FILE = 'model.safetensors';
export const LOG_FILE = 'log.jsonl';

/** A run that cannot go on (non-finite loss). Its message is one line; the last good checkpoint is kept. */
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
  options?: TrainOptions;
  /** Continue the run in dir from its checkpoint. */
  resume?: boolean;
  /**
   * On resume: train up to this many epochs instead of the stored number; read the data from here; use these
   * lr milestones from now on (a schedule change, e.g. to end a run early with its lr drops).
   */
  overrides?: { epochs?: number; data?: string; milestones?: number[] };
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
}

export interface RunResult { state: TrainState; stopped: boolean; dir: string }

const yieldToEventLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

function checksum(a: ArrayLike<number>): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < a.length; i++) {
    let v = a[i]!;
    for (let k = 0; k < 4; k++) { h ^= v & 0xff; h = Math.imul(h, 0x01000193) >>> 0; v >>>= 8; }
  }
  return `fnv1a:${h.toString(16).padStart(8, '0')}:${a.length}`;
}

/** sha256 of an image set's labels and pixels: a resumed run must see the same data. */
function fingerprint(set: ByteImageSet): string {
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

export interface PreparedData { train: ByteImageSet; val: ByteImageSet | null; split: TrainState['split']; classNames: string[] }

/** Loads the data of a run and draws its seeded validation split. */
export function prepareData(o: TrainOptions): PreparedData {
  const all = loadDataset(o.data, { limit: o.limit ?? undefined, size: [o.imageSize, o.imageSize] });
  if (o.val >= all.n) throw new Error(`--val ${o.val} leaves no training images (${o.data} has ${all.n}): pass a smaller --val`);
  if (all.n - o.val < 2) throw new Error(`${o.data}: ${all.n - o.val} training images after the split; need at least 2`);
  const s = splitValidation(all.n, o.val, o.seed);
  return {
    train: o.val === 0 ? all : subset(all, s.train, `${all.source} (training split)`),
    val: o.val === 0 ? null : subset(all, s.val, `${all.source} (validation split)`),
    split: { n: all.n, val: o.val, seed: o.seed, checksum: checksum(s.val), data: fingerprint(all) },
    classNames: all.classNames,
  };
}

/** Accuracy and mean cross-entropy in eval mode, without autograd. */
export function evaluate(model: PreActResNet, data: TensorImageSet, batch = 256): { acc: number; loss: number } {
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

/** Batches per epoch: full batches, plus the remainder when it has ≥ 2 images (batch norm needs 2). */
export function batchesPerEpoch(n: number, batch: number): number {
  return Math.floor(n / batch) + (n % batch >= 2 ? 1 : 0);
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

/**
 * Trains (or resumes) a run in opts.dir. Returns when all epochs are done, or early with stopped = true when
 * shouldStop() said so (after writing a checkpoint). Throws TrainingError on a non-finite loss (nothing is
 * written for the failing step: the last checkpoint stays the good one) and Error for bad data/options.
 */
export async function runTraining(opts: RunOptions): Promise<RunResult> {
  const dir = opts.dir;
  const logFile = path.join(dir, LOG_FILE);
  const log = (v: Record<string, unknown>): void => fs.appendFileSync(logFile, JSON.stringify({ time: new Date().toISOString(), ...v }) + '\n');

  let o: TrainOptions;
  let loaded: ReturnType<typeof loadCheckpoint> | null = null;
  if (opts.resume) {
    loaded = asInput(() => loadCheckpoint(dir));
    const ov = opts.overrides ?? {};
    o = {
      ...loaded.state.options,
      ...(ov.data ? { data: ov.data } : {}), ...(ov.epochs ? { epochs: ov.epochs } : {}), ...(ov.milestones ? { milestones: ov.milestones } : {}),
    };
  } else {
    if (opts.options === undefined) throw new Error('runTraining: options are required for a fresh run');
    o = opts.options;
    if (fs.existsSync(path.join(dir, STATE_FILE))) throw new TrainInputError(`${dir}: already holds a training run (${STATE_FILE}); use --resume ${dir} or another --out`);
  }
  const problem = checkOptions(o);
  if (problem !== null) throw new TrainInputError(problem);
  asInput(() => fs.mkdirSync(dir, { recursive: true }));

  // The byte arrays are dropped once their tensors exist: only native memory holds the images during training.
  const { split, classNames, nTrain, nVal, trainSet, valSet, model } = (() => {
    const data = asInput(() => prepareData(o));
    if (loaded !== null && (data.split.checksum !== loaded.state.split.checksum || data.split.data !== loaded.state.split.data)) {
      throw new TrainInputError(`${o.data}: the data differ from the run's (${data.split.n} images ${data.split.data.slice(0, 19)}…, ` +
        `the checkpoint's ${loaded.state.split.n} images ${String(loaded.state.split.data).slice(0, 19)}…)`);
    }
    manualSeed(o.seed);
    return {
      split: data.split, classNames: data.classNames, nTrain: data.train.n, nVal: data.val?.n ?? 0,
      model: new PreActResNet({ depth: o.depth, widths: o.widths, activation: o.activation, classes: data.classNames.length, inputChannels: data.train.channels }),
      trainSet: new TensorImageSet(data.train),
      valSet: data.val ? new TensorImageSet(data.val) : null,
    };
  })();
  if (loaded === null) {
    writeFileAtomic(path.join(dir, 'split.json'), JSON.stringify({ data: o.data, limit: o.limit, n: split.n, seed: o.seed, val: Array.from(splitValidation(split.n, o.val, o.seed).val) }) + '\n');
  }
  const params = model.namedParameters();
  const sgd = new Sgd(params.map(([, p]) => p), { lr: o.lr, momentum: o.momentum, weightDecay: o.weightDecay });
  const psiCtl = new AdaptivePsi();
  const robust = robustAdditions(o.mode);
  const adversarial = adversarialTraining(o.mode);
  const attack = adversarial ? (opts.attack ?? paperTrainingAttack(o)) : null;
  const batches = batchesPerEpoch(nTrain, o.batch);
  const logEvery = opts.logEvery ?? 50;

  let state: TrainState;
  let saved = { epoch: 0, batchInEpoch: 0, step: 0 };
  const persist = (s: Omit<TrainState, 'weights' | 'format' | 'version'>): TrainState => {
    const full = saveCheckpoint(dir, model, sgd, s);
    saved = { epoch: full.epoch, batchInEpoch: full.batchInEpoch, step: full.step };
    return full;
  };
  const writeModel = (s: TrainState): void => {
    const last = s.history[s.history.length - 1];
    saveModel(path.join(dir, MODEL_FILE), model, {
      training_options: JSON.stringify({
        ...o, robust_additions: robust, adversarial_training: adversarial, epochs_done: s.epoch, step: s.step,
        psi: robust ? s.psi : null, val_acc: last?.valAcc ?? null, val_images: nVal, split_seed: o.seed,
      }),
      class_names: JSON.stringify(classNames),
    });
  };

  try {
    if (loaded !== null) {
      const ck = loaded;
      asInput(() => {
        try {
          model.loadStateDict(ck.model as Map<string, { shape: number[]; data: Float32Array }>);
          sgd.loadState(params.map(([n]) => ck.momentum.get(n) ?? null));
        } catch (e) {
          throw new Error(`${path.join(dir, ck.state.weights)}: ${(e as Error).message}`);
        }
      });
      psiCtl.r = loaded.state.psiR;
      state = { ...loaded.state, options: o };
      saved = { epoch: state.epoch, batchInEpoch: state.batchInEpoch, step: state.step };
      trimLog(logFile, state.step);
      if (opts.threads !== undefined && state.threads !== opts.threads) {
        process.emitWarning(`resuming with ${opts.threads} threads, the run used ${state.threads}: results may differ in the last bits`);
      }
      state.threads = opts.threads ?? state.threads;
    } else {
      state = persist({
        epoch: 0, batchInEpoch: 0, step: 0, psiR: psiCtl.r, psi: psiCtl.psi, rng: encodeBytes(rngNow()), rngEpochStart: null,
        accum: { lossSum: 0, correct: 0, seen: 0, seconds: 0 }, options: o, split, classNames,
        threads: opts.threads ?? 0, elapsedSeconds: 0, history: [], finished: false,
      });
    }
    const resumed = loaded !== null;
    log({ event: resumed ? 'resume' : 'start', step: state.step, epoch: state.epoch, batchInEpoch: state.batchInEpoch, options: o, nTrain, nVal, batches, parameters: model.numParameters(), threads: opts.threads ?? null });
    opts.onStart?.({ state, nTrain, nVal, batches, parameters: model.numParameters(), resumed });

    const stepBatch = (idx: Tensor, lr: number): { loss: number; lossCls: number; lossAdv: number | null; psi: number | null; correct: number; b: number } => tidy(() => {
      const batch = trainSet.gather(idx);
      const y = batch.y;
      let x = o.augment ? augmentBatch(batch.x) : batch.x;
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
        // ψ is updated from this batch's L_cls before it weighs the penalty: L = L_cls + ψ·mean(G²).
        const out = lipschitzLoss(model, x, y, 1);
        lossCls = out.lossCls.item();
        psi = psiCtl.update(lossCls);
        const weighted = out.lossAdv.mul(psi);
        loss = out.lossCls.add(weighted);
        lossAdv = weighted.item();
        logits = out.logits;
      } else {
        logits = model.call(x);
        loss = crossEntropy(logits, y);
        lossCls = loss.item();
      }
      const lv = robust ? loss.item() : lossCls;
      if (!Number.isFinite(lv)) return { loss: lv, lossCls, lossAdv, psi, correct: 0, b };
      sgd.zeroGrad();
      sgd.lr = lr;
      backward(loss);
      sgd.step();
      sgd.zeroGrad();
      const correct = noGrad(() => logits.detach().argmax(1).eq(y).sum().item());
      return { loss: lv, lossCls, lossAdv, psi, correct, b };
    });

    let stopped = false;
    model.train();
    const firstEpoch = state.epoch;
    const checkpointMs = (opts.checkpointSeconds ?? 0) * 1000;
    let lastSave = performance.now();
    for (let e = firstEpoch; e < o.epochs && !stopped; e++) {
      const lr = learningRate(e, o.lr, o.milestones, o.gamma);
      const midEpoch = e === firstEpoch && state.batchInEpoch > 0;
      let epochStartRng: Uint8Array;
      let perm: Tensor;
      if (midEpoch) {
        // Re-draw the epoch's permutation from the generator state at its start, then continue the stream.
        epochStartRng = decodeBytes(state.rngEpochStart!);
        setRng(epochStartRng);
        perm = keep(randperm(nTrain));
        setRng(decodeBytes(state.rng));
      } else {
        if (e === firstEpoch) setRng(decodeBytes(state.rng));
        epochStartRng = rngNow();
        perm = keep(randperm(nTrain));
        state.accum = { lossSum: 0, correct: 0, seen: 0, seconds: 0 };
      }
      const accum: EpochAccum = { ...state.accum };
      try {
        for (let k = midEpoch ? state.batchInEpoch : 0; k < batches; k++) {
          const t0 = performance.now();
          const end = Math.min(nTrain, (k + 1) * o.batch);
          const r = tidy(() => stepBatch(perm.slice(0, k * o.batch, end), lr));
          if (!Number.isFinite(r.loss)) {
            log({ event: 'diverged', epoch: e, batch: k, step: state.step + 1, loss: r.loss, lossCls: r.lossCls });
            throw new TrainingError(`non-finite loss (${r.loss}) at epoch ${e + 1} batch ${k + 1} (step ${state.step + 1}); stopped. ` +
              `The last good checkpoint (epoch ${saved.epoch}${saved.batchInEpoch ? ` + ${saved.batchInEpoch} batches` : ''}, step ${saved.step}) is kept in ${dir}; try a lower --lr`);
          }
          state.step++;
          accum.lossSum += r.loss * r.b; accum.correct += r.correct; accum.seen += r.b;
          accum.seconds += (performance.now() - t0) / 1000;
          const info: BatchInfo = { epoch: e, batch: k, batches, batchSize: o.batch, epochImages: Math.min(nTrain, batches * o.batch), step: state.step, images: r.b, loss: r.loss, lossCls: r.lossCls, lossAdv: r.lossAdv, psi: r.psi, lr };
          opts.onBatch?.(info);
          if (logEvery > 0 && state.step % logEvery === 0) {
            log({ event: 'step', epoch: e + 1, batch: k + 1, step: state.step, loss: r.loss, lossCls: r.lossCls, lossAdv: r.lossAdv, psi: r.psi, lr, imgPerSec: accum.seen / Math.max(accum.seconds, 1e-9) });
          }
          await yieldToEventLoop();
          const stop = k < batches - 1 && opts.shouldStop?.() === true;
          const periodic = k < batches - 1 && checkpointMs > 0 && performance.now() - lastSave >= checkpointMs;
          if (stop || periodic) {
            state = persist({
              ...state, epoch: e, batchInEpoch: k + 1, psiR: psiCtl.r, psi: psiCtl.psi, rng: encodeBytes(rngNow()),
              rngEpochStart: encodeBytes(epochStartRng), accum: { ...accum }, elapsedSeconds: state.elapsedSeconds + accum.seconds - state.accum.seconds,
            });
            lastSave = performance.now();
            log({ event: stop ? 'stop' : 'checkpoint', ...(stop ? { reason: 'requested' } : {}), epoch: e, batchInEpoch: k + 1, step: state.step });
            if (stop) {
              stopped = true;
              break;
            }
          }
        }
      } finally {
        perm.dispose();
      }
      if (stopped) break;

      const v = valSet ? evaluate(model, valSet) : null;
      const rec: EpochRecord = {
        epoch: e + 1, step: state.step, lr, psi: robust ? psiCtl.psi : null,
        trainLoss: accum.lossSum / Math.max(1, accum.seen), trainAcc: accum.correct / Math.max(1, accum.seen),
        valAcc: v?.acc ?? null, valLoss: v?.loss ?? null, seconds: accum.seconds, imgPerSec: accum.seen / Math.max(accum.seconds, 1e-9),
      };
      state = persist({
        ...state, epoch: e + 1, batchInEpoch: 0, psiR: psiCtl.r, psi: psiCtl.psi, rng: encodeBytes(rngNow()), rngEpochStart: null,
        accum: { lossSum: 0, correct: 0, seen: 0, seconds: 0 }, elapsedSeconds: state.elapsedSeconds + accum.seconds - state.accum.seconds,
        history: [...state.history, rec], finished: e + 1 >= o.epochs,
      });
      lastSave = performance.now();
      writeModel(state);
      log({ event: 'epoch', ...rec });
      opts.onEpoch?.(rec, state);
      if (e + 1 < o.epochs && opts.shouldStop?.()) {
        log({ event: 'stop', reason: 'requested', epoch: e + 1, batchInEpoch: 0, step: state.step });
        stopped = true;
      }
    }
    if (!stopped && state.epoch >= o.epochs) {
      if (!fs.existsSync(path.join(dir, MODEL_FILE))) writeModel(state);
      if (!state.finished) state = persist({ ...state, finished: true });
      log({ event: 'done', epoch: state.epoch, step: state.step });
    }
    return { state, stopped, dir };
  } finally {
    sgd.disposeBuffers();
    trainSet.dispose();
    valSet?.dispose();
    model.dispose();
  }
}
