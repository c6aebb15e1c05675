// What several subcommands share: finding and loading the model, reading data and image files, thread settings,
// output folders, list flags, and the explainers' flags and options (read from the explainer registry, so a new
// explainer's options appear in every command that explains).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel, checkOverrides, classCount as modelClassCount, type LoadedModel, type ModelOverrides } from '../io/model-file.js';
import type { ImageDataset, ImageShape } from '../data/dataset.js';
import { loadDataset, type LoadOptions } from '../data/load.js';
import { decodeFilesSync } from '../data/decode-sync.js';
import { errnoOf } from '../io/errors.js';
import { fitImage, fitNote, isGray, RESIZE_POLICIES, type FitShape, type ResizePolicy } from '../data/images.js';
import { setNumThreads } from '../engine/index.js';
import { explainers, explainerFor, type AnyExplainOptions, type MethodName, type OptionsOf } from '../explain/index.js';
import { intArg, numArg, type Value } from './args.js';
import { UserError, asUserError } from './errors.js';

/** The package root (where package.json and models/ live). */
export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('advexp: package root not found');
    dir = up;
  }
  return dir;
}

/** The shipped default model, used when --model is not given. */
export function defaultModelPath(): string { return path.join(packageRoot(), 'models', 'default.safetensors'); }

export function openModel(file: string | undefined, overrides: ModelOverrides = {}): LoadedModel {
  const f = file ?? defaultModelPath();
  if (!fs.existsSync(f)) {
    throw new UserError(file === undefined ? `no --model given and the default model ${f} is missing` : `${f}: no such file`);
  }
  try {
    return loadModel(f, overrides);
  } catch (e) {
    const msg = (e as Error).message;
    throw new UserError(msg.startsWith(f) ? msg : `${f}: ${msg}`);
  }
}

/** Any data set loadDataset reads (CIFAR batches, tarball, image folder), its errors as one-line UserErrors. */
export function openData(spec: string, opts: LoadOptions = {}): ImageDataset {
  return asUserError(() => loadDataset(spec, opts));
}

/** --threads (default: every core, as PyTorch does). */
export function applyThreads(v: string | undefined): number {
  // os.availableParallelism, not navigator.hardwareConcurrency: Node 20 has no global navigator (it came in 21),
  // which silently made the default 1 thread.
  const n = v === undefined ? Math.max(1, os.availableParallelism()) : Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UserError(`--threads: expected a positive integer, got '${v}'`);
  setNumThreads(n);
  return n;
}

/** A comma list of allowed values, deduplicated in the order given; `none` (with opts.none) is the empty list. */
export function listArg<T extends string>(v: string | undefined, flag: string, allowed: readonly T[], dflt: readonly T[], opts: { none?: boolean } = {}): T[] {
  if (v === undefined) return [...dflt];
  if (opts.none === true && v === 'none') return [];
  const items = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new UserError(`--${flag}: empty list`);
  const isAllowed = (s: string): s is T => (allowed as readonly string[]).includes(s);
  const out: T[] = [];
  for (const it of items) {
    if (!isAllowed(it)) throw new UserError(`--${flag}: unknown value '${it}' (expected ${allowed.join(', ')}${opts.none === true ? ' or none' : ''})`);
    if (!out.includes(it)) out.push(it);
  }
  return out;
}

/** --out DIR: created if missing; a one-line UserError when it cannot be. */
export function prepareOutDir(dir: string): void {
  if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) throw new UserError(`--out ${dir}: exists and is not a directory`);
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new UserError(`--out ${dir}: cannot create (${errnoOf(e)})`);
  }
}

/**
 * Creates --out DIR (checked before the work by checkOutput) and runs `write`, which fills it; when `write` fails,
 * folders this call created are removed again if still empty.
 */
export function writeIntoOutDir(dir: string, write: () => void): void {
  const top = firstMissingDir(dir);
  prepareOutDir(dir);
  try {
    write();
  } catch (e) {
    removeCreatedDirs(dir, top);
    throw e;
  }
}

/** `--json -`: the JSON goes to stdout (and the command's other output to stderr). */
export const STDOUT = '-';

/** stat, or null when the path (or a folder on the way to it) does not exist. */
function statOrNull(p: string, flag: string, target: string): fs.Stats | null {
  try {
    return fs.statSync(p);
  } catch (e) {
    const code = errnoOf(e);
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw new UserError(`--${flag} ${target}: cannot check ${p} (${code})`);
  }
}

/**
 * Checks an output path before the long job, so a bad one fails at once (UserError, exit 2) instead of after the
 * work: a 'file' (--json, --plot, --md) must not be a directory or a special file, and its folder must exist and be
 * writable; a 'dir' (--out) must be a writable directory, or be creatable (its nearest existing parent is a writable
 * directory). Messages name the flag and the path. Does not create anything.
 */
export function checkOutput(target: string, flag: string, kind: 'file' | 'dir'): void {
  if (target === '') throw new UserError(`--${flag}: expected a path`);
  const abs = path.resolve(target);
  const st = statOrNull(abs, flag, target);
  if (st !== null) {
    if (kind === 'dir' && !st.isDirectory()) throw new UserError(`--${flag} ${target}: exists and is not a directory`);
    if (kind === 'file' && st.isDirectory()) throw new UserError(`--${flag} ${target}: is a directory`);
    if (kind === 'file' && !st.isFile()) throw new UserError(`--${flag} ${target}: exists and is not a regular file`);
  }
  // The folder written into: the file's folder; the directory itself, or the nearest existing folder above it.
  let folder = kind === 'dir' && st !== null ? abs : path.dirname(abs);
  let fst = statOrNull(folder, flag, target);
  if (kind === 'dir') {
    while (fst === null && path.dirname(folder) !== folder) {
      folder = path.dirname(folder);
      fst = statOrNull(folder, flag, target);
    }
  }
  if (fst === null) throw new UserError(`--${flag} ${target}: directory ${folder} does not exist`);
  if (!fst.isDirectory()) throw new UserError(`--${flag} ${target}: ${folder} is not a directory`);
  try {
    fs.accessSync(folder, fs.constants.W_OK | fs.constants.X_OK);
  } catch (e) {
    throw new UserError(`--${flag} ${target}: directory ${folder} is not writable (${errnoOf(e)})`);
  }
}

/** The first folder `mkdir -p dir` would create (the topmost missing one), or null when dir exists. */
export function firstMissingDir(dir: string): string | null {
  let p = path.resolve(dir);
  let top: string | null = null;
  while (!fs.existsSync(p)) {
    top = p;
    const up = path.dirname(p);
    if (up === p) break;
    p = up;
  }
  return top;
}

/**
 * After a failed run: removes what `mkdir -p dir` created (firstMissingDir's answer, taken before the run), folder
 * by folder upwards, as long as each is empty. Anything the run wrote is kept.
 */
export function removeCreatedDirs(dir: string, top: string | null): void {
  if (top === null) return;
  let p = path.resolve(dir);
  for (;;) {
    try {
      fs.rmdirSync(p);
    } catch (e) {
      // Gone already (the trainer removes a run folder it made): go on upwards; not empty: keep it and what is above.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return;
    }
    const up = path.dirname(p);
    if (p === top || up === p) return;
    p = up;
  }
}

/** Short names for model files as tables, legends and panels show them: the file name without `.safetensors`;
 * where two share it (runs/a/model, runs/b/model), parent folders are added until each is unique. */
export function modelLabels(files: readonly string[]): string[] {
  const parts = files.map((f) => path.resolve(f).replace(/\.safetensors$/, '').split(path.sep).filter((s) => s !== ''));
  const depth = files.map(() => 1);
  const label = (i: number): string => parts[i]!.slice(-depth[i]!).join('/');
  for (;;) {
    const byLabel = new Map<string, number[]>();
    files.forEach((_, i) => { const l = label(i); byLabel.set(l, [...(byLabel.get(l) ?? []), i]); });
    const grow = [...byLabel.values()].filter((same) => same.length > 1).flat().filter((i) => depth[i]! < parts[i]!.length);
    if (grow.length === 0) return files.map((_, i) => label(i));
    for (const i of grow) depth[i]!++;
  }
}

/** Class names for a K-class model: the data's when they fit, CIFAR-10's for 10 classes, else "class i". */

// ---- what a user states about a model, and how images fit it ----

/** Flags every command that runs a model takes: metadata a model file may lack (sidecar JSON otherwise) and the resize policy. */
export const MODEL_FLAGS = {
  classes: { type: 'string' }, size: { type: 'string' }, mean: { type: 'string' }, std: { type: 'string' }, resize: { type: 'string' },
} as const;

export const MODEL_FLAG_HELP = `  --classes NAMES|K     class names (a,b,c) or count, for a model file without them (or a sidecar model.json)
  --size N|HxW          input size the model takes, where its file does not say (TorchScript)
  --mean M,M,M --std S,S,S  per-channel normalisation a TorchScript model expects outside (none: it normalises inside)
  --resize POLICY       crop (default: centre region of the input's shape, then resize; torchvision's eval
                        transform) or stretch (resize the whole picture)`;

export interface ModelChoices { overrides: ModelOverrides; resize: ResizePolicy }

function numberList(v: string, flag: string): number[] {
  const out = v.split(',').map((s) => Number(s.trim()));
  if (out.length === 0 || out.some((x) => !Number.isFinite(x))) throw new UserError(`--${flag}: expected numbers separated by commas, got '${v}'`);
  return out;
}

/** Parses MODEL_FLAGS; the checks of a sidecar JSON apply (one-line UserErrors naming the flag). */
export function modelChoices(values: { readonly [flag: string]: Value }): ModelChoices {
  const str = (k: string): string | undefined => (typeof values[k] === 'string' ? values[k] : undefined);
  const raw: Record<string, unknown> = {};
  const classes = str('classes');
  if (classes !== undefined) raw.classes = /^\d+$/.test(classes) ? Number(classes) : classes.split(',').map((c) => c.trim());
  const size = str('size');
  if (size !== undefined) {
    const m = /^(\d+)(?:x(\d+))?$/i.exec(size);
    if (m === null) throw new UserError(`--size: expected N or HxW, got '${size}'`);
    raw.size = [Number(m[1]), Number(m[2] ?? m[1])];
  }
  for (const k of ['mean', 'std'] as const) {
    const v = str(k);
    if (v !== undefined) raw[k] = numberList(v, k);
  }
  const overrides = asUserError(() => checkOverrides(raw, 'the command line'));
  const resize = str('resize') ?? 'crop';
  if (!RESIZE_POLICIES.includes(resize as ResizePolicy)) throw new UserError(`--resize: expected ${RESIZE_POLICIES.join(' or ')}, got '${resize}'`);
  return { overrides, resize: resize as ResizePolicy };
}

/** What loadDataset needs to bring a data set to a model's input (what the model leaves open stays as stored). */
export function dataOptions(m: LoadedModel, resize: ResizePolicy): LoadOptions {
  return { size: m.input.size ?? undefined, channels: m.input.channels ?? undefined, resize };
}

/** The number of classes (io/model-file classCount), its errors as one-line UserErrors. */
export function classCount(m: LoadedModel, shape: ImageShape): number {
  return asUserError(() => modelClassCount(m, shape));
}


export interface InputImages {
  /** n·C·H·W in [0, 1]. */
  images: Float32Array;
  n: number;
  channels: number;
  height: number;
  width: number;
  labels: Int32Array | null;
  /** Display name per image (file name or data[index]). */
  names: string[];
  /** Record numbers (with --data) or null. */
  records: number[] | null;
  classNames: string[] | null;
  /** "photo.jpg: 640×480 cropped to 480×480, resized to 32×32" per fitted file. */
  notes: string[];
}

/** Record numbers of --index: a comma list. */
function recordList(index: string): number[] {
  const records = index.split(',').map((s) => s.trim()).filter((s) => s !== '').map((s) => {
    const k = Number(s);
    if (!/^\d+$/.test(s) || !Number.isSafeInteger(k)) throw new UserError(`--index: '${s}' is not a record number`);
    return k;
  });
  if (records.length === 0) throw new UserError('--index: empty list');
  return records;
}

/**
 * Image files, or records of a data set, brought to the model's input (channels and size; where the model leaves
 * them open, the pictures' own: image files must then share one size). One-line UserErrors naming the file or argument.
 */
export function loadInputs(files: string[], data: string | undefined, index: string | undefined, m: LoadedModel, resize: ResizePolicy): InputImages {
  if (files.length > 0 && data !== undefined) throw new UserError('give image files or --data, not both');
  if (data !== undefined) {
    if (index === undefined) throw new UserError('--data needs --index I[,J..] (record numbers)');
    const records = recordList(index);
    const set = asUserError(() => loadDataset(data, { ...dataOptions(m, resize), limit: Math.max(...records) + 1 }));
    const bad = records.find((r) => r >= set.n);
    if (bad !== undefined) throw new UserError(`--index ${bad}: ${data} has ${set.n} record(s)`);
    const sub = set.subset(records, data);
    return {
      images: sub.floats(), n: records.length, channels: sub.channels, height: sub.height, width: sub.width,
      labels: Int32Array.from(sub.labels), names: records.map((r) => `${path.basename(data)}[${r}]`), records, classNames: set.classNames, notes: [],
    };
  }
  if (files.length === 0) throw new UserError('no input: give IMAGE files or --data PATH --index I');
  const decoded = asUserError(() => decodeFilesSync(files));
  let size = m.input.size;
  if (size === null) {
    const first = decoded[0]!;
    const other = decoded.findIndex((d) => d.width !== first.width || d.height !== first.height);
    if (other >= 0) throw new UserError(`${files[other]}: ${decoded[other]!.width}×${decoded[other]!.height}, but ${files[0]} is ${first.width}×${first.height}; the model does not state its input size: give --size`);
    size = [first.height, first.width];
  }
  const shape: FitShape = { channels: m.input.channels ?? (decoded.every(isGray) ? 1 : 3), height: size[0], width: size[1] };
  const per = shape.channels * shape.height * shape.width;
  const images = new Float32Array(files.length * per);
  const notes: string[] = [];
  decoded.forEach((img, i) => {
    const note = fitNote(img, shape, resize);
    if (note !== null) notes.push(`${files[i]}: ${note}`);
    const chw = asUserError(() => fitImage(img, shape, resize, files[i]));
    for (let j = 0; j < per; j++) images[i * per + j] = chw[j]! / 255;
  });
  return {
    images, n: files.length, ...shape, labels: null, names: files.map((f) => path.basename(f)), records: null, classNames: null, notes,
  };
}

/** Several models side by side see the same images, fitted to the first: the others must take that shape. */
export function checkSameInput(inputs: InputImages, m: LoadedModel): void {
  const { channels, size } = m.input;
  if ((channels !== null && channels !== inputs.channels) || (size !== null && (size[0] !== inputs.height || size[1] !== inputs.width))) {
    throw new UserError(`${m.file} takes ${channels ?? 'any'}×${size?.join('×') ?? 'any size'}, the first model ${inputs.channels}×${inputs.height}×${inputs.width}: compare models of one input shape`);
  }
}

// ---- the explainers' flags ----

/** parseArgs entries for every registered explainer's flags (strings; methodOptions checks them). */
export function explainerFlags(): Record<string, { type: 'string' }> {
  return Object.fromEntries(explainers().flatMap((d) => d.options.map((o) => [o.flag, { type: 'string' as const }])));
}

/** Help lines for those flags: `  --rho R   AE budget … (default 0.1)`. */
export function explainerFlagHelp(): string {
  return explainers().flatMap((d) => d.options.map((o) => {
    const dflt = o.default === undefined ? '' : ` (default ${o.default})`;
    return `  ${`--${o.flag} ${o.metavar}`.padEnd(21)} ${o.help}${dflt}`;
  })).join('\n');
}

/** The options of `method` from the flags given, defaults where absent; one-line UserErrors name the flag. */
export function methodOptions<M extends MethodName>(method: M, flags: { readonly [flag: string]: Value }): OptionsOf<M>;
export function methodOptions(method: string, flags: { readonly [flag: string]: Value }): AnyExplainOptions;
export function methodOptions(method: string, flags: { readonly [flag: string]: Value }): { readonly method: string } {
  const out: Record<string, unknown> = { method };
  for (const o of explainerFor(method).options) {
    const given = flags[o.flag];
    const raw = typeof given === 'string' ? given : undefined;
    if (o.kind === 'int') {
      out[o.name] = intArg(raw, o.flag, o.default, o.min);
    } else if (o.kind === 'number') {
      const v = numArg(raw, o.flag, o.default);
      if (o.above !== undefined && !(v > o.above)) throw new UserError(`--${o.flag}: must be > ${o.above}, got '${raw}'`);
      out[o.name] = v;
    } else {
      const v = raw ?? o.default;
      if (v !== undefined) out[o.name] = v;
    }
  }
  // Checked against the method's own option table above: the registry is what ties the name to the options type.
  return out as { readonly method: string };
}

/** What a report lists of a method's options: the values set, without the method name and callbacks. */
export function optionSettings(o: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([k, v]) => k !== 'method' && typeof v !== 'function'));
}

/** Runs fn, turning library errors about a user's choice of layer into one-line UserErrors naming --layer. */
export function withLayerErrors<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    const msg = (e as Error).message;
    if (/^layer '/.test(msg) || /no default layer/.test(msg)) throw new UserError(`--layer: ${msg}`);
    throw e;
  }
}
