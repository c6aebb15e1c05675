// Model files. Two kinds:
// - safetensors of a built-in architecture (nn/models/registry): advexp writes `__metadata__.advexp_model`, JSON of
//   `{ arch, ...config }` (files without `arch` are the paper's PreActResNet); files converted from PyTorch state
//   dicts carry no config, and the architecture is read off their tensor names;
// - TorchScript (`torch.jit.script(m).save(f)` or `torch.jit.trace(m, x).save(f)`), loaded by libtorch's jit.
// Either may have a sidecar JSON beside it (`model.json` for `model.pt`): class names, input size, channels, and for
// TorchScript the normalisation; command-line flags override it.
import fs from 'node:fs';
import path from 'node:path';
import { badField, posInt } from '../nn/models/registry.js';
import { architecture, architectures, inEval, withoutBatchCounters, type Module, type Architecture, type InputSpec } from '../nn/index.js';
import { tidy, noGrad, zeros } from '../engine/index.js';
import { CIFAR10_CLASSES } from '../data/cifar.js';
import { readSafetensors, writeSafetensors, type StFile, type StTensor, type StDtype, type StData } from './safetensors.js';
import { errnoOf } from './errors.js';
import { regularFile } from './files.js';
import { loadScriptModule, TORCHSCRIPT_EXPORT_HINT } from './torchscript.js';

/** What a consumer needs to feed a model: images [B, C, H, W] in [0, 1]. */
export interface ModelInput {
  /** Channels the model takes; null: unknown (a TorchScript model without metadata takes what it is given). */
  channels: number | null;
  /** [height, width] images are brought to; null: any size (images go in at their own size). */
  size: [number, number] | null;
}

export interface LoadedModel {
  /** Logits [B, K] of images [B, C, H, W] in [0, 1], normalisation inside. */
  model: Module;
  /** The registry's architecture name, or 'torchscript'. */
  arch: string;
  /** The architecture's config as stored (empty for TorchScript). */
  config: Readonly<Record<string, unknown>>;
  input: ModelInput;
  /** Class count when known before running the model (TorchScript without metadata: null, read off the output). */
  classes: number | null;
  /** Class names when the file, its sidecar or the flags give them. */
  classNames: string[] | null;
  /** "PreActResNet-20 16/32/64 half-huber, 10 classes, 3 channels". */
  description: string;
  /** Where the model came from, and its metadata as stored. */
  file: string;
  metadata: Record<string, string>;
  /** Parsed training options of a reference net, or advexp's own training record, if present. */
  trainingOptions: Record<string, unknown> | null;
}

/** What the user may state about a model beside its file (sidecar JSON) or on the command line (flags win). */
export interface ModelOverrides {
  classNames?: string[];
  size?: [number, number];
  channels?: number;
  mean?: number[];
  std?: number[];
}

const MODEL_KEY = 'advexp_model';
const DEFAULT_ARCH = 'preact-resnet';

function parseJson(file: string, key: string, text: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(text);
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch { /* fall through */ }
  throw new Error(`${file}: metadata '${key}' is not a JSON object`);
}

function oneLine(s: string): string { return s.replace(/[\r\n]+/g, ' '); }

const FLOAT_DTYPES: ReadonlySet<StDtype> = new Set(['F32', 'F16', 'BF16', 'F64']);

/** The first NaN or ±Inf in a float array, or null. */
function firstNonFinite(a: StData): { index: number; value: number } | null {
  if (!(a instanceof Float32Array || a instanceof Float64Array)) return null;
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return { index: i, value: a[i]! };
  return null;
}

/**
 * Checks tensors against the state dict a config describes, before any network is built: every name, shape and
 * float dtype, no tensor the config does not have, and (finite: true) no NaN or ±Inf. The expected names are
 * computed from the config one by one and the loop stops at the first missing one, so a config claiming a huge
 * network costs no more than the file's own tensor count. Throws `<file>: <first mismatch>`, one line; `source`
 * says where the config came from.
 */
export function checkTensorsFit(file: string, arch: Architecture, config: object, tensors: ReadonlyMap<string, StTensor>, source: string, finite = true): void {
  const fail = (msg: string): never => { throw new Error(oneLine(`${file}: ${msg}`)); };
  const what = (): string => `${source} (${arch.describe(config)})`;
  const expected = new Set<string>();
  for (const [name, shape] of arch.stateShapes(config)) {
    const t = tensors.get(name);
    if (t === undefined) fail(`no tensor '${name}', which ${what()} needs; the file holds ${tensors.size}`);
    else if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      fail(`tensor '${name}' has shape [${t.shape.join(',')}]; ${what()} needs [${shape.join(',')}]`);
    } else if (!FLOAT_DTYPES.has(t.dtype)) {
      fail(`tensor '${name}' is ${t.dtype}; a model's tensors must be floating point (F32, F16, BF16 or F64)`);
    }
    expected.add(name);
  }
  for (const name of tensors.keys()) if (!expected.has(name)) fail(`tensor '${name}' is not part of ${what()}`);
  if (!finite) return;
  for (const [name, t] of tensors) {
    const bad = firstNonFinite(t.data);
    if (bad !== null) fail(`tensor '${name}' holds ${bad.value} (element ${bad.index}): weights must be finite numbers`);
  }
}

/** The architecture and checked config a model file states, or reads off its tensor names. */
export function fileArchitecture(st: StFile, file: string): { arch: Architecture; config: object; source: string } {
  const text = st.metadata[MODEL_KEY];
  if (text !== undefined) {
    const raw = parseJson(file, MODEL_KEY, text);
    const where = `${file}: metadata '${MODEL_KEY}'`;
    const name = raw.arch ?? DEFAULT_ARCH;
    if (typeof name !== 'string') badField(where, 'arch', 'an architecture name', name);
    const arch = archOrError(name, where);
    return { arch, config: arch.check(raw, where), source: `metadata '${MODEL_KEY}'` };
  }
  const values = (name: string): ArrayLike<number> | null => {
    const t = st.tensors.get(name);
    return t === undefined || !FLOAT_DTYPES.has(t.dtype) ? null : (t.data as ArrayLike<number>);
  };
  for (const arch of architectures()) {
    const raw = arch.infer(st.tensors, values);
    if (raw !== null) {
      return { arch, config: arch.check(raw, `${file}: the architecture read off its tensor names`), source: 'the architecture read off its tensor names' };
    }
  }
  throw new Error(`${file}: no '${MODEL_KEY}' metadata, and its tensor names fit no built-in architecture (${architectures().map((a) => a.name).join(', ')}); ` +
    'a model of another architecture loads as TorchScript (.pt)');
}

function archOrError(name: string, where: string): Architecture {
  try {
    return architecture(name);
  } catch (e) {
    throw new Error(`${where}: ${(e as Error).message}`);
  }
}

const SIDECAR_FIELDS = ['classes', 'size', 'channels', 'mean', 'std'];

/** Reads the sidecar JSON beside a model file (`model.json` for `model.pt` or `model.safetensors`), if there is one. */
export function readSidecar(file: string): ModelOverrides {
  const side = path.join(path.dirname(file), `${path.basename(file, path.extname(file))}.json`);
  let text: string;
  try {
    text = fs.readFileSync(side, 'utf8');
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return {};
    throw new Error(`${side}: cannot read the model's metadata (${errnoOf(e)})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`${side}: not JSON (${oneLine((e as Error).message)})`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${side}: expected a JSON object with ${SIDECAR_FIELDS.join(', ')}`);
  return checkOverrides(raw as Record<string, unknown>, side);
}

/** Checks what a sidecar states: classes (names, or a count), size (N or [H, W]), channels, mean, std. */
export function checkOverrides(r: Record<string, unknown>, where: string): ModelOverrides {
  const out: ModelOverrides = {};
  const unknown = Object.keys(r).filter((k) => !SIDECAR_FIELDS.includes(k));
  if (unknown.length > 0) throw new Error(`${where}: unknown field '${unknown[0]}' (expected ${SIDECAR_FIELDS.join(', ')})`);
  if (r.classes !== undefined) {
    if (posInt(r.classes)) out.classNames = Array.from({ length: r.classes }, (_, i) => `class ${i}`);
    else if (Array.isArray(r.classes) && r.classes.length > 0 && r.classes.every((s) => typeof s === 'string')) out.classNames = [...(r.classes as string[])];
    else badField(where, 'classes', 'a list of class names or a class count', r.classes);
  }
  if (r.size !== undefined) {
    if (posInt(r.size)) out.size = [r.size, r.size];
    else if (Array.isArray(r.size) && r.size.length === 2 && r.size.every(posInt)) out.size = [r.size[0] as number, r.size[1] as number];
    else badField(where, 'size', 'N or [height, width]', r.size);
  }
  if (r.channels !== undefined) {
    if (!posInt(r.channels)) badField(where, 'channels', 'a positive integer', r.channels);
    out.channels = r.channels;
  }
  for (const k of ['mean', 'std'] as const) {
    const v = r[k];
    if (v === undefined) continue;
    if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'number' && Number.isFinite(x) && (k === 'mean' || x > 0))) {
      badField(where, k, k === 'mean' ? 'a list of finite numbers, one a channel' : 'a list of positive numbers, one a channel', v);
    }
    out[k] = [...(v as number[])];
  }
  const ch = out.channels ?? out.mean?.length ?? out.std?.length;
  for (const k of ['mean', 'std'] as const) {
    if (out[k] !== undefined && out[k].length !== ch) badField(where, k, `${ch} value(s), one a channel`, out[k]);
  }
  return out;
}

/**
 * The number of classes: the model's own, else read off its output for one blank image of `shape` (a TorchScript
 * model without metadata), and remembered. Throws when the output is not logits [batch, classes].
 */
export function classCount(m: LoadedModel, shape: { channels: number; height: number; width: number }): number {
  if (m.classes === null) {
    const out = tidy(() => noGrad(() => inEval(m.model, () => m.model.call(zeros([1, shape.channels, shape.height, shape.width])).shape)));
    if (out.length !== 2) throw new Error(`${m.file}: the model returns a [${out.join(', ')}] tensor for one image; advexp needs logits [batch, classes]`);
    m.classes = out[1]!;
  }
  return m.classes;
}

/** Class names for K classes without a model's own: the data's when they fit, CIFAR-10's for 10 classes, else "class i". */
export function defaultClassNames(k: number, fromData: readonly string[] | null): string[] {
  if (fromData !== null && fromData.length === k) return [...fromData];
  if (k === CIFAR10_CLASSES.length) return [...CIFAR10_CLASSES];
  return Array.from({ length: k }, (_, i) => `class ${i}`);
}

/** A model's class names: its own (file, sidecar, flags) when they fit K, else defaultClassNames. */
export function classNamesOf(m: LoadedModel, k: number, fromData: readonly string[] | null): string[] {
  return m.classNames !== null && m.classNames.length === k ? [...m.classNames] : defaultClassNames(k, fromData);
}

/** What the first bytes say a model file is. */
function fileKind(file: string): 'safetensors' | 'zip' | 'pickle' | 'other' {
  regularFile(file, 'file'); // a FIFO would block the read below
  const head = Buffer.alloc(9);
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw new Error(`${file}: cannot open model (${errnoOf(e)})`);
  }
  let got: number;
  try {
    got = fs.readSync(fd, head, 0, 9, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (got >= 4 && head.readUInt32LE(0) === 0x04034b50) return 'zip';
  if (got >= 2 && head[0] === 0x80 && head[1]! >= 2 && head[1]! <= 5) return 'pickle';
  if (got === 9 && head[8] === 0x7b) return 'safetensors';
  return 'other';
}


/**
 * Rebuilds the network a model file describes and loads its weights (strict names and shapes), or loads a
 * TorchScript module. `overrides` (the command line's --classes/--size/--mean/--std) win over the sidecar.
 */
export function loadModel(file: string, overrides: ModelOverrides = {}): LoadedModel {
  const kind = fileKind(file);
  if (kind === 'pickle') throw new Error(`${file}: a pickled PyTorch object (torch.save), not a model advexp can run: ${TORCHSCRIPT_EXPORT_HINT}`);
  if (kind === 'other') throw new Error(`${file}: neither safetensors nor TorchScript (${TORCHSCRIPT_EXPORT_HINT}, or save a state dict as safetensors)`);
  const side = { ...readSidecar(file), ...overrides };
  return kind === 'zip' ? loadScript(file, side) : loadSafetensorsModel(file, side);
}

function loadScript(file: string, side: ModelOverrides): LoadedModel {
  const channels = side.channels ?? side.mean?.length ?? null;
  if ((side.mean === undefined) !== (side.std === undefined)) throw new Error(`${file}: give both mean and std (--mean/--std or the sidecar), or neither`);
  const model = loadScriptModule(file, {
    ...(side.mean !== undefined ? { mean: side.mean } : {}), ...(side.std !== undefined ? { std: side.std } : {}),
    ...(side.size !== undefined ? { inputShape: [channels ?? 3, ...side.size] } : {}),
  });
  return {
    model, arch: 'torchscript', config: {}, input: { channels, size: side.size ?? null },
    classes: side.classNames?.length ?? null, classNames: side.classNames ?? null,
    description: `TorchScript ${model.typeName}${model.traced ? ' (traced)' : ''}`, file: path.resolve(file), metadata: {}, trainingOptions: null,
  };
}

function loadSafetensorsModel(file: string, side: ModelOverrides): LoadedModel {
  const read = readSafetensors(file);
  // PyTorch's batch-norm counters (num_batches_tracked, int64) are not part of advexp's networks.
  const st: StFile = { ...read, tensors: withoutBatchCounters(read.tensors) };
  const meta = st.metadata;
  const trainingOptions = meta.training_options !== undefined ? parseJson(file, 'training_options', meta.training_options) : null;
  const { arch, config, source } = fileArchitecture(st, file);
  // Names, shapes, dtypes and finite values before anything is built: a config claiming a huge network fails here,
  // in the time it takes to compare the file's own tensors; NaN or ±Inf weights are refused.
  checkTensorsFit(file, arch, config, st.tensors, source);
  if (side.mean !== undefined || side.std !== undefined) throw new Error(`${file}: the file states its normalisation; --mean/--std are for TorchScript models`);
  const input: InputSpec = arch.input(config);
  if (side.channels !== undefined && side.channels !== input.channels) throw new Error(`${file}: the model takes ${input.channels} channel(s), not ${side.channels}`);
  const stated = storedInput(file, meta, arch);
  const classes = (config as { classes?: number }).classes ?? null;
  const classNames = side.classNames ?? stated.classNames;
  if (classNames !== null && classes !== null && classNames.length !== classes) {
    throw new Error(`${file}: ${classNames.length} class name(s) given for a model with ${classes} classes`);
  }
  const model = arch.build(config);
  try {
    model.loadStateDict(st.tensors as Map<string, StTensor>);
  } catch (e) {
    model.dispose();
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  return {
    model: model.eval(), arch: arch.name, config: config as Record<string, unknown>,
    input: { channels: input.channels, size: side.size ?? stated.size }, classes, classNames,
    description: arch.describe(config), file: path.resolve(file), metadata: meta, trainingOptions,
  };
}

/** The input size and class names a file's metadata states (`input_size`, `class_names`), else the architecture's size. */
function storedInput(file: string, meta: Record<string, string>, arch: Architecture): { size: [number, number] | null; classNames: string[] | null } {
  let size = arch.defaultInputSize;
  if (meta.input_size !== undefined) {
    const v: unknown = JSON.parse(meta.input_size.trim().startsWith('[') ? meta.input_size : 'null');
    if (!Array.isArray(v) || v.length !== 2 || !v.every(posInt)) throw new Error(`${file}: metadata 'input_size' must be [height, width], got ${oneLine(meta.input_size.slice(0, 40))}`);
    size = [v[0] as number, v[1] as number];
  }
  let classNames: string[] | null = null;
  if (meta.class_names !== undefined) {
    try {
      const v: unknown = JSON.parse(meta.class_names);
      if (Array.isArray(v) && v.every((s) => typeof s === 'string')) classNames = v as string[];
    } catch { /* names are a nicety: a bad list falls back to the data's */ }
  }
  return { size: size === null ? null : [...size], classNames };
}

/**
 * Writes weights, architecture and config atomically (temp file + rename); the trainer adds `input_size` and
 * `class_names` (what the model was trained on) as extra metadata.
 */
export function saveModel(file: string, model: Module, extraMetadata: Record<string, string> = {}): void {
  const a = model.architecture();
  if (a === null) throw new Error(`${file}: only networks of a built-in architecture are saved as safetensors`);
  const tensors = new Map<string, StTensor>();
  for (const [name, t] of model.stateDict()) tensors.set(name, { dtype: 'F32', shape: [...t.shape], data: t.data<Float32Array>() });
  writeSafetensors(file, tensors, { ...extraMetadata, [MODEL_KEY]: JSON.stringify({ arch: a.name, ...a.config }) });
}
