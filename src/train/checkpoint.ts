// Training checkpoints: a safetensors file of the weights (model state dict) and the optimizer's momentum
// buffers, and a JSON state (epoch, step, ψ integrator, RNG state, options, history) that names it.
//
// Commit protocol (crash-safe at every point): write ckpt-<step>.safetensors (temp + fsync + rename), then
// state.json (temp + rename) — the commit point — then delete older ckpt-*.safetensors. A reader trusts only
// what state.json names, so a crash leaves either the old or the new checkpoint, never a mix.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { errnoOf } from '../io/errors.js';
import { readSafetensors, writeSafetensors, type StTensor } from '../io/safetensors.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { checkTensorsFit, fileArchitecture } from '../io/model-file.js';
import { resolveArchitecture, type Architecture, type Module } from '../nn/index.js';
import type { Sgd } from './sgd.js';
import { optionProblem, OPTIONS_ADDED_LATER, type TrainOptions } from './options.js';

export const STATE_FILE = 'state.json';
/** A run's held-out split (data/select.ts reads it): the validation indices, or the folder it validated on. */
export const SPLIT_FILE = 'split.json';
/** The architecture a checkpoint of a TorchScript model states. */
const SCRIPT_ARCH = 'torchscript';
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
  /** A distributed run: its number of ranks and each rank's generator state (base64), for an exact resume. */
  ranks?: { world: number; rng: string[]; syncBn?: boolean } | undefined;
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
export const CHECKPOINT_PATTERN = /^ckpt-\d+\.safetensors$/;

/** A checkpoint whose weights or momentum hold NaN or ±Inf: not written (the last one written stays). */
export class NonFiniteCheckpointError extends Error {
  override name = 'NonFiniteCheckpointError';
  constructor(readonly tensor: string, readonly value: number) {
    super(`tensor '${tensor}' holds ${value}`);
  }
}

function firstNonFinite(a: Float32Array): number | null {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return a[i]!;
  return null;
}

/** Writes a checkpoint into dir (see the commit protocol above). */
export function saveCheckpoint(dir: string, model: Module, sgd: Sgd, state: Omit<TrainState, 'weights' | 'format' | 'version'>): TrainState {
  const tensors = new Map<string, StTensor>();
  // Float tensors as F32; a TorchScript model's integer buffers (batch norm's num_batches_tracked) as I64.
  for (const [name, t] of model.stateDict()) {
    tensors.set(name, t.dtype === 'int64' ? { dtype: 'I64', shape: [...t.shape], data: t.data<BigInt64Array>() } : { dtype: 'F32', shape: [...t.shape], data: t.data() });
  }
  const names = model.namedParameters().map(([n]) => n);
  sgd.state().forEach((buf, i) => {
    if (buf !== null) tensors.set(MOMENTUM_PREFIX + names[i]!, { dtype: 'F32', shape: [...sgd.params[i]!.shape], data: buf });
  });
  // Only finite checkpoints are written, so the one state.json names is always one a run can go on from.
  for (const [name, t] of tensors) {
    if (t.dtype !== 'F32') continue;
    const bad = firstNonFinite(t.data as Float32Array);
    if (bad !== null) throw new NonFiniteCheckpointError(name, bad);
  }
  const weights = checkpointName(state.step);
  // A TorchScript model (fine-tuned with --init) has no registered architecture: the run rebuilds it from its --init
  // file and these tensors are matched to it by name on resume.
  const a = model.architecture() ?? { name: SCRIPT_ARCH, config: {} };
  writeSafetensors(path.join(dir, weights), tensors, { advexp_model: JSON.stringify({ arch: a.name, ...a.config }), advexp_checkpoint: 'weights+momentum' });
  const full: TrainState = { format: STATE_FORMAT, version: 1, ...state, weights };
  writeJsonAtomic(path.join(dir, STATE_FILE), full);
  for (const f of fs.readdirSync(dir)) {
    if (CHECKPOINT_PATTERN.test(f) && f !== weights) fs.rmSync(path.join(dir, f), { force: true });
  }
  return full;
}

export interface LoadedCheckpoint {
  state: TrainState;
  /** Model tensors by state-dict name. */
  model: Map<string, StTensor>;
  /** Momentum buffers by parameter name. */
  momentum: Map<string, Float32Array>;
  /** The built-in architecture and config the weights state; null for a TorchScript model's checkpoint. */
  architecture: { arch: Architecture; config: object } | null;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

function shown(v: unknown): string {
  const s = v === undefined ? 'nothing' : JSON.stringify(v) ?? String(v);
  return (s.length > 60 ? `${s.slice(0, 57)}...` : s).replace(/[\r\n]+/g, ' ');
}

/**
 * Checks a parsed state.json field by field (a file may hold any JSON): the first problem as
 * `field 'x': expected …, got …`, or null.
 */
function stateProblem(s: Record<string, unknown>): string | null {
  const bad = (field: string, expected: string, got: unknown): string => `field '${field}': expected ${expected}, got ${shown(got)}`;
  const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  const count = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  const num = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v);
  for (const k of ['epoch', 'batchInEpoch', 'step', 'threads'] as const) if (!count(s[k])) return bad(k, 'an integer ≥ 0', s[k]);
  if (!num(s.psiR)) return bad('psiR', 'a number', s.psiR);
  if (typeof s.rng !== 'string' || !BASE64.test(s.rng)) return bad('rng', 'the generator state in base64', s.rng);
  if (s.rngEpochStart !== null && (typeof s.rngEpochStart !== 'string' || !BASE64.test(s.rngEpochStart))) {
    return bad('rngEpochStart', 'null or the generator state in base64', s.rngEpochStart);
  }
  if ((s.batchInEpoch as number) > 0 && s.rngEpochStart === null) return bad('rngEpochStart', `the epoch's generator state (batchInEpoch is ${String(s.batchInEpoch)})`, null);
  if (s.ranks !== undefined) {
    const r = s.ranks;
    if (!isObj(r) || !count(r.world) || (r.world as number) < 1) return bad('ranks', 'an object with world ≥ 1 and one generator state per rank', r);
    if (!Array.isArray(r.rng) || r.rng.length !== r.world || !r.rng.every((x) => typeof x === 'string' && BASE64.test(x))) {
      return bad('ranks.rng', `${String(r.world)} generator states in base64`, r.rng);
    }
    if (r.syncBn !== undefined && typeof r.syncBn !== 'boolean') return bad('ranks.syncBn', 'true or false', r.syncBn);
  }
  const a = s.accum;
  if (!isObj(a)) return bad('accum', 'an object', a);
  if (!num(a.lossSum)) return bad('accum.lossSum', 'a number', a.lossSum);
  for (const k of ['correct', 'seen'] as const) if (!count(a[k])) return bad(`accum.${k}`, 'an integer ≥ 0', a[k]);
  if (!num(a.seconds) || (a.seconds as number) < 0) return bad('accum.seconds', 'a number ≥ 0', a.seconds);
  if (typeof s.weights !== 'string' || !CHECKPOINT_PATTERN.test(s.weights)) return bad('weights', 'a file name ckpt-<step>.safetensors', s.weights);
  const sp = s.split;
  if (!isObj(sp)) return bad('split', 'an object', sp);
  for (const k of ['n', 'val', 'seed'] as const) if (!count(sp[k])) return bad(`split.${k}`, 'an integer ≥ 0', sp[k]);
  for (const k of ['checksum', 'data'] as const) if (typeof sp[k] !== 'string') return bad(`split.${k}`, 'a string', sp[k]);
  const names = s.classNames;
  if (!Array.isArray(names) || names.length === 0 || !names.every((n) => typeof n === 'string')) return bad('classNames', 'a list of class names', names);
  if (!num(s.elapsedSeconds) || (s.elapsedSeconds as number) < 0) return bad('elapsedSeconds', 'a number ≥ 0', s.elapsedSeconds);
  if (typeof s.finished !== 'boolean') return bad('finished', 'true or false', s.finished);
  if (!Array.isArray(s.history)) return bad('history', 'a list of epoch records', s.history);
  for (const [i, r] of s.history.entries()) {
    if (!isObj(r)) return bad(`history[${i}]`, 'an epoch record', r);
    for (const k of ['epoch', 'step'] as const) if (!count(r[k])) return bad(`history[${i}].${k}`, 'an integer ≥ 0', r[k]);
    for (const k of ['lr', 'trainLoss', 'trainAcc', 'seconds', 'imgPerSec'] as const) if (!num(r[k])) return bad(`history[${i}].${k}`, 'a number', r[k]);
    for (const k of ['psi', 'valAcc', 'valLoss'] as const) if (r[k] !== null && !num(r[k])) return bad(`history[${i}].${k}`, 'a number or null', r[k]);
  }
  if (!isObj(s.options)) return bad('options', 'an object', s.options);
  const q = optionProblem(s.options);
  if (q !== null) return `field 'options.${q.key}': ${q.message}`;
  return null;
}

/**
 * Reads dir/state.json and the weights it names. Errors are one line naming the file: every field of the state is
 * checked, and the checkpoint's tensors against the network its options describe (names, shapes, float dtypes,
 * finite values; momentum likewise against the parameters) before anything is built.
 */
export function loadCheckpoint(dir: string): LoadedCheckpoint {
  const file = path.join(dir, STATE_FILE);
  let text: string;
  try {
    if (!fs.statSync(file).isFile()) throw new Error('not a regular file'); // a FIFO would block the read
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`${file}: cannot read training state (${errnoOf(e)}); is ${dir} a training directory?`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  const raw = parsed as Record<string, unknown> | null;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw) || raw.format !== STATE_FORMAT || raw.version !== 1) {
    throw new Error(`${file}: not an advexp training state (format ${STATE_FORMAT} version 1)`);
  }
  if (raw.options !== null && typeof raw.options === 'object' && !Array.isArray(raw.options)) {
    raw.options = { ...OPTIONS_ADDED_LATER, ...(raw.options as Record<string, unknown>) };
  }
  const problem = stateProblem(raw);
  if (problem !== null) throw new Error(`${file}: ${problem}`);
  const state = raw as unknown as TrainState & { psi?: unknown };
  // Older files also hold `psi`; dropped, so a resumed run does not carry a stale copy of what psiR determines.
  delete state.psi;
  const weightsFile = path.join(dir, state.weights);
  const st = readSafetensors(weightsFile);
  const model = new Map<string, StTensor>();
  const momentumTensors = new Map<string, StTensor>();
  for (const [name, t] of st.tensors) {
    if (name.startsWith(MOMENTUM_PREFIX)) momentumTensors.set(name.slice(MOMENTUM_PREFIX.length), t);
    else model.set(name, t);
  }
  // The architecture the checkpoint states; the trainer rebuilds it from the options and loads these tensors by name
  // (a TorchScript model's names and shapes are checked then, against the module its --init file gives).
  let shapes: Map<string, readonly number[]>;
  let architecture: LoadedCheckpoint['architecture'] = null;
  if (st.metadata.advexp_model === JSON.stringify({ arch: SCRIPT_ARCH })) {
    shapes = new Map([...model].map(([n, t]) => [n, t.shape]));
  } else {
    const { arch, config, source } = fileArchitecture({ ...st, tensors: model }, weightsFile);
    // The run rebuilds its network from the options (no --init): those must describe these tensors, checked before
    // anything is built (the data-derived fields, classes and input, come from the checkpoint's own config).
    const o = state.options;
    if (o.init === null) {
      const { arch: built, preset } = resolveArchitecture(o.arch);
      const classes = (config as { classes?: number }).classes ?? state.classNames.length;
      const expected = built.forTraining({ classes, input: arch.input(config), depth: o.depth, widths: o.widths, activation: o.activation }, preset);
      checkTensorsFit(weightsFile, built, expected, model, `the options in ${file}`);
    }
    checkTensorsFit(weightsFile, arch, config, model, source);
    shapes = new Map(arch.stateShapes(config));
    architecture = { arch, config };
  }
  // Momentum: F32, finite, one buffer at most per parameter, of its shape (the step-0 checkpoint has none).
  const momentum = new Map<string, Float32Array>();
  for (const [name, t] of momentumTensors) {
    const want = shapes.get(name);
    const what = `${weightsFile}: momentum '${MOMENTUM_PREFIX}${name}'`;
    if (want === undefined || !name.endsWith('weight') && !name.endsWith('bias')) throw new Error(`${what} belongs to no parameter`);
    if (t.dtype !== 'F32') throw new Error(`${what} is ${t.dtype}, expected F32`);
    if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) throw new Error(`${what} has shape [${t.shape.join(',')}], its parameter [${want.join(',')}]`);
    const v = firstNonFinite(t.data as Float32Array);
    if (v !== null) throw new Error(`${what} holds ${v}: the checkpoint cannot be resumed`);
    momentum.set(name, t.data as Float32Array);
  }
  return { state, model, momentum, architecture };
}

export function encodeBytes(b: Uint8Array): string { return Buffer.from(b.buffer, b.byteOffset, b.length).toString('base64'); }
export function decodeBytes(s: string): Uint8Array { return new Uint8Array(Buffer.from(s, 'base64')); }
