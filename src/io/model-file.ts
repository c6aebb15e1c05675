// Model files: safetensors weights whose metadata says how to rebuild the network.
// advexp writes `__metadata__.advexp_model` (JSON of the PreActResNet config); the paper's published
// nets carry `training_options` instead, and their architecture is read off the tensor names.
import path from 'node:path';
import { PreActResNet, resnetStateShapes, CIFAR_INPUT_OFFSET, type PreActResNetConfig, type Activation } from '../nn/index.js';
import { readSafetensors, writeSafetensors, type StFile, type StTensor, type StDtype, type StData } from './safetensors.js';

export interface LoadedModel {
  model: PreActResNet;
  /** Where the model came from, and its metadata as stored. */
  file: string;
  metadata: Record<string, string>;
  /** Parsed training options of a reference net, or advexp's own training record, if present. */
  trainingOptions: Record<string, unknown> | null;
}

const MODEL_KEY = 'advexp_model';

function parseJson(file: string, key: string, text: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(text);
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch { /* fall through */ }
  throw new Error(`${file}: metadata '${key}' is not a JSON object`);
}

function shapeOf(st: StFile, file: string, name: string, rank = 4): number[] {
  const t = st.tensors.get(name);
  if (t === undefined) throw new Error(`${file}: not a pre-activation ResNet (no tensor '${name}')`);
  if (t.shape.length !== rank) throw new Error(`${file}: tensor '${name}' has shape [${t.shape.join(',')}], expected ${rank} dimensions`);
  return t.shape;
}

/** A value for a one-line message: JSON, cut short. */
function shown(v: unknown): string {
  const s = v === undefined ? 'nothing' : JSON.stringify(v) ?? String(v);
  return oneLine(s.length > 60 ? `${s.slice(0, 57)}...` : s);
}

function oneLine(s: string): string { return s.replace(/[\r\n]+/g, ' '); }

const posInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 1;

/**
 * Checks an architecture config as a file states it (JSON: any value may be of any type) and returns it with
 * resnetConfig's defaults for what it leaves out (activation relu, 3 input channels, CIFAR-10's input offset).
 * Throws `<where>: <field>: expected …, got …`, one line.
 */
export function checkArchitecture(raw: unknown, where: string): PreActResNetConfig {
  const bad = (field: string, expected: string, got: unknown): never => {
    throw new Error(oneLine(`${where}: ${field}: expected ${expected}, got ${shown(got)}`));
  };
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) bad('config', 'a JSON object', raw);
  const c = raw as Record<string, unknown>;
  const { depth, widths, classes } = c;
  if (!posInt(depth) || depth < 8 || (depth - 2) % 6 !== 0) bad('depth', '6n+2 ≥ 8 (8, 14, 20, …, 44)', depth);
  if (!Array.isArray(widths) || widths.length !== 3 || !widths.every(posInt)) bad('widths', 'three positive integers', widths);
  if (!posInt(classes)) bad('classes', 'a positive integer', classes);
  const activation = c.activation ?? 'relu';
  if (activation !== 'relu' && activation !== 'half-huber') bad('activation', 'relu or half-huber', activation);
  const inputChannels = c.inputChannels ?? 3;
  if (!posInt(inputChannels)) bad('inputChannels', 'a positive integer', inputChannels);
  const ch = inputChannels as number;
  const inputOffset = c.inputOffset ?? (ch === 3 ? CIFAR_INPUT_OFFSET : undefined);
  const row = (r: unknown, positive: boolean): boolean => Array.isArray(r) && r.length === ch &&
    r.every((v) => typeof v === 'number' && Number.isFinite(v) && (!positive || v > 0));
  if (!Array.isArray(inputOffset) || inputOffset.length !== 2 || !row(inputOffset[0], false) || !row(inputOffset[1], true)) {
    bad('inputOffset', `[means, stds]: two lists of ${ch} finite numbers, the stds > 0`, inputOffset);
  }
  return {
    depth: depth as number, widths: [...(widths as number[])] as [number, number, number], classes: classes as number,
    activation: activation as Activation, inputChannels: ch, inputOffset: inputOffset as [number[], number[]],
  };
}

const FLOAT_DTYPES: ReadonlySet<StDtype> = new Set(['F32', 'F16', 'BF16', 'F64']);

function describe(c: PreActResNetConfig): string {
  const n = (c.depth - 2) / 6, hh = c.activation === 'half-huber' ? 1 : 0;
  const tensors = 10 + hh + 3 * n * (10 + 2 * hh);
  return `PreActResNet-${c.depth} ${c.widths.join('/')} ${c.activation}, ${c.classes} classes, ${c.inputChannels} channels: ` +
    `${tensors.toLocaleString('en-US')} tensors`;
}

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
export function checkTensorsFit(file: string, config: PreActResNetConfig, tensors: ReadonlyMap<string, StTensor>, source: string, finite = true): void {
  const fail = (msg: string): never => { throw new Error(oneLine(`${file}: ${msg}`)); };
  const what = (): string => `${source} (${describe(config)})`;
  const expected = new Set<string>();
  for (const [name, shape] of resnetStateShapes(config)) {
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

/** Reads the architecture of a reference-style file from its tensor names and shapes. */
export function inferConfig(st: StFile, file: string, trainingOptions: Record<string, unknown> | null): PreActResNetConfig {
  const stem = shapeOf(st, file, 'pipe.0.weight');
  const head = shapeOf(st, file, 'pipe.7.weight');
  let blocks = 0;
  while (st.tensors.has(`pipe.1.${blocks}.main.0.weight`)) blocks++;
  if (blocks === 0) throw new Error(`${file}: not a pre-activation ResNet (no tensor 'pipe.1.0.main.0.weight')`);
  const widths = [1, 2, 3].map((s) => shapeOf(st, file, `pipe.${s}.0.main.0.weight`)[0]!) as [number, number, number];
  const hasD = [...st.tensors.keys()].some((k) => k.endsWith('.d'));
  const robust = trainingOptions?.robust_additions;
  const activation: Activation = (typeof robust === 'boolean' ? robust : hasD) ? 'half-huber' : 'relu';
  const off = st.tensors.get('input_offset');
  if (off === undefined || off.shape.length !== 2 || off.shape[0] !== 2) throw new Error(`${file}: tensor 'input_offset' must have shape [2, C]`);
  if (!FLOAT_DTYPES.has(off.dtype)) throw new Error(`${file}: tensor 'input_offset' is ${off.dtype}; a model's tensors must be floating point (F32, F16, BF16 or F64)`);
  const v = Array.from(off.data as Float32Array, Number);
  const c = off.shape[1]!;
  return checkArchitecture({
    depth: 6 * blocks + 2, widths, classes: head[0]!, activation, inputChannels: stem[1]!,
    inputOffset: [v.slice(0, c), v.slice(c, 2 * c)],
  }, `${file}: the architecture read off its tensor names`);
}

function configFromMetadata(file: string, meta: Record<string, string>): PreActResNetConfig | null {
  const text = meta[MODEL_KEY];
  if (text === undefined) return null;
  return checkArchitecture(parseJson(file, MODEL_KEY, text), `${file}: metadata '${MODEL_KEY}'`);
}

/** Rebuilds the network a model file describes and loads its weights (strict names and shapes). */
export function loadModel(file: string): LoadedModel {
  const st = readSafetensors(file);
  const meta = st.metadata;
  const trainingOptions = meta.training_options !== undefined ? parseJson(file, 'training_options', meta.training_options) : null;
  const stated = configFromMetadata(file, meta);
  const config = stated ?? inferConfig(st, file, trainingOptions);
  // Names, shapes, dtypes and finite values before anything is built: a config claiming a huge network fails here,
  // in the time it takes to compare the file's own tensors; NaN or ±Inf weights are refused.
  checkTensorsFit(file, config, st.tensors, stated !== null ? `metadata '${MODEL_KEY}'` : 'the architecture read off its tensor names');
  const model = new PreActResNet(config);
  try {
    model.loadStateDict(st.tensors as Map<string, StTensor>);
  } catch (e) {
    model.dispose();
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  return { model: model.eval(), file: path.resolve(file), metadata: meta, trainingOptions };
}

/** Writes weights and config atomically (temp file + rename). */
export function saveModel(file: string, model: PreActResNet, extraMetadata: Record<string, string> = {}): void {
  const tensors = new Map<string, StTensor>();
  for (const [name, t] of model.stateDict()) {
    tensors.set(name, { dtype: 'F32', shape: [...t.shape], data: t.data<Float32Array>() });
  }
  writeSafetensors(file, tensors, { ...extraMetadata, [MODEL_KEY]: JSON.stringify(model.config) });
}
