// Training checkpoints: a safetensors file of the weights (model state dict) and the optimizer's momentum
// buffers, and a JSON state (epoch, step, ψ integrator, RNG state, options, history) that names it.
//
// Commit protocol (crash-safe at every point): write ckpt-<step>.safetensors (temp + fsync + rename), then
// state.json (temp + rename) — the commit point — then delete older ckpt-*.safetensors. A reader trusts only
// what state.json names, so a crash leaves either the old or the new checkpoint, never a mix.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readSafetensors, writeSafetensors, type StTensor } from '../io/safetensors.js';
import { writeJsonAtomic } from '../io/atomic.js';
import type { PreActResNet } from '../nn/index.js';
import type { Sgd } from './sgd.js';
import type { TrainOptions } from './options.js';

export const STATE_FILE = 'state.json';
export const MOMENTUM_PREFIX = 'optimizer.momentum.';
const STATE_FORMAT = 'advexp-train-state';

export interface EpochRecord {
  epoch: number;          // 1-based: the number of epochs completed
  step: number;
  lr: number;
  psi: number | null;
  trainLoss: number;
  trainAcc: number;
  valAcc: number | null;
  valLoss: number | null;
  seconds: number;
  imgPerSec: number;
}

/** Running sums of the epoch in progress (so a mid-epoch resume reports the same epoch numbers). */
export interface EpochAccum { lossSum: number; correct: number; seen: number; seconds: number }

export interface TrainState {
  format: typeof STATE_FORMAT;
  version: 1;
  /** Epochs completed; the next batch belongs to epoch index `epoch` (0-based). */
  epoch: number;
  /** Batches done in the epoch in progress (0 at an epoch boundary). */
  batchInEpoch: number;
  /** Optimizer steps taken in total. */
  step: number;
  /** Adaptive ψ integrator r (METHOD.md §3); ψ follows from it (AdaptivePsi), so it is not stored. */
  psiR: number;
  /** libtorch CPU generator state now, and at the start of the epoch in progress (mid-epoch only), base64. */
  rng: string;
  rngEpochStart: string | null;
  accum: EpochAccum;
  options: TrainOptions;
  /** The weights + momentum file this state belongs to (in the same directory). */
  weights: string;
  /** The validation split as drawn: sizes, a checksum of the held-out indices, a hash of the data. */
  split: { n: number; val: number; seed: number; checksum: string; data: string };
  classNames: string[];
  threads: number;
  elapsedSeconds: number;
  history: EpochRecord[];
  finished: boolean;
}

export function checkpointName(step: number): string { return `ckpt-${String(step).padStart(9, '0')}.safetensors`; }

/** Writes a checkpoint into dir (see the commit protocol above). */
export function saveCheckpoint(dir: string, model: PreActResNet, sgd: Sgd, state: Omit<TrainState, 'weights' | 'format' | 'version'>): TrainState {
  const tensors = new Map<string, StTensor>();
  for (const [name, t] of model.stateDict()) tensors.set(name, { dtype: 'F32', shape: [...t.shape], data: t.data() });
  const names = model.namedParameters().map(([n]) => n);
  sgd.state().forEach((buf, i) => {
    if (buf !== null) tensors.set(MOMENTUM_PREFIX + names[i]!, { dtype: 'F32', shape: [...sgd.params[i]!.shape], data: buf });
  });
  const weights = checkpointName(state.step);
  writeSafetensors(path.join(dir, weights), tensors, { advexp_model: JSON.stringify(model.config), advexp_checkpoint: 'weights+momentum' });
  const full: TrainState = { format: STATE_FORMAT, version: 1, ...state, weights };
  writeJsonAtomic(path.join(dir, STATE_FILE), full);
  for (const f of fs.readdirSync(dir)) {
    if (/^ckpt-\d+\.safetensors$/.test(f) && f !== weights) fs.rmSync(path.join(dir, f), { force: true });
  }
  return full;
}

export interface LoadedCheckpoint {
  state: TrainState;
  /** Model tensors by state-dict name. */
  model: Map<string, StTensor>;
  /** Momentum buffers by parameter name. */
  momentum: Map<string, Float32Array>;
}

/** Reads dir/state.json and the weights it names. Errors are one line naming the file. */
export function loadCheckpoint(dir: string): LoadedCheckpoint {
  const file = path.join(dir, STATE_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`${file}: cannot read training state (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); is ${dir} a training directory?`);
  }
  let state: TrainState & { psi?: unknown };
  try {
    state = JSON.parse(text) as TrainState;
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (state === null || typeof state !== 'object' || state.format !== STATE_FORMAT || state.version !== 1) {
    throw new Error(`${file}: not an advexp training state (format ${STATE_FORMAT} version 1)`);
  }
  for (const k of ['epoch', 'batchInEpoch', 'step', 'psiR'] as const) {
    if (typeof state[k] !== 'number' || !Number.isFinite(state[k])) throw new Error(`${file}: field '${k}' is missing or not a number`);
  }
  if (typeof state.rng !== 'string' || typeof state.weights !== 'string' || state.options === undefined) {
    throw new Error(`${file}: fields 'rng', 'weights' and 'options' are required`);
  }
  // Older files also hold `psi`; dropped, so a resumed run does not carry a stale copy of what psiR determines.
  delete state.psi;
  const st = readSafetensors(path.join(dir, path.basename(state.weights)));
  const model = new Map<string, StTensor>();
  const momentum = new Map<string, Float32Array>();
  for (const [name, t] of st.tensors) {
    if (name.startsWith(MOMENTUM_PREFIX)) momentum.set(name.slice(MOMENTUM_PREFIX.length), t.data as Float32Array);
    else model.set(name, t);
  }
  return { state, model, momentum };
}

export function encodeBytes(b: Uint8Array): string { return Buffer.from(b.buffer, b.byteOffset, b.length).toString('base64'); }
export function decodeBytes(s: string): Uint8Array { return new Uint8Array(Buffer.from(s, 'base64')); }
