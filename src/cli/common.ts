// What several subcommands share: finding and loading the model, reading data and image files, thread settings,
// output folders, list flags, and the explainers' flags and options (read from the explainer registry, so a new
// explainer's options appear in every command that explains).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel, type LoadedModel } from '../io/model-file.js';
import { readCifarBatch, CIFAR10_CLASSES, type CifarReadOptions } from '../data/cifar.js';
import type { ImageDataset } from '../data/dataset.js';
import { loadDataset } from '../data/load.js';
import { errnoOf } from '../io/errors.js';
import { decodeImage, readImageFile, resizeToChw } from '../data/images.js';
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

export function openModel(file: string | undefined): LoadedModel {
  const f = file ?? defaultModelPath();
  if (!fs.existsSync(f)) {
    throw new UserError(file === undefined ? `no --model given and the default model ${f} is missing` : `${f}: no such file`);
  }
  try {
    return loadModel(f);
  } catch (e) {
    const msg = (e as Error).message;
    throw new UserError(msg.startsWith(f) ? msg : `${f}: ${msg}`);
  }
}

/** Any data set loadDataset reads (CIFAR batches, tarball, image folder), its errors as one-line UserErrors. */
export function openData(spec: string): ImageDataset {
  return asUserError(() => loadDataset(spec));
}

export function openCifar(file: string, opts: CifarReadOptions = {}): ImageDataset {
  return asUserError(() => readCifarBatch(file, opts));
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

/** A model file's name as tables and panels show it. */
export const shortModelName = (file: string): string => path.basename(file).replace(/\.safetensors$/, '');

/** Class names for a K-class model: the data's when they fit, CIFAR-10's for 10 classes, else "class i". */
export function classNamesFor(k: number, fromData: string[] | null): string[] {
  if (fromData !== null && fromData.length === k) return fromData;
  if (k === CIFAR10_CLASSES.length) return [...CIFAR10_CLASSES];
  return Array.from({ length: k }, (_, i) => `class ${i}`);
}

/** The model input size of the CIFAR networks. */
export const INPUT_SIZE: [number, number] = [32, 32];

export interface InputImages {
  /** n·3·H·W in [0, 1]. */
  images: Float32Array;
  n: number;
  height: number;
  width: number;
  labels: Int32Array | null;
  /** Display name per image (file name or data[index]). */
  names: string[];
  /** Record numbers (with --data) or null. */
  records: number[] | null;
  classNames: string[] | null;
  /** "photo.jpg: 640×480 resized to 32×32" per resized file. */
  notes: string[];
}

/** Image files, or records of a data set: one-line UserErrors naming the file or argument. */
export function loadInputs(files: string[], data: string | undefined, index: string | undefined): InputImages {
  const [height, width] = INPUT_SIZE;
  const per = 3 * height * width;
  if (files.length > 0 && data !== undefined) throw new UserError('give image files or --data, not both');
  if (data !== undefined) {
    if (index === undefined) throw new UserError('--data needs --index I[,J..] (record numbers)');
    const records = index.split(',').map((s) => s.trim()).filter((s) => s !== '').map((s) => {
      const k = Number(s);
      if (!/^\d+$/.test(s) || !Number.isSafeInteger(k)) throw new UserError(`--index: '${s}' is not a record number`);
      return k;
    });
    if (records.length === 0) throw new UserError('--index: empty list');
    const set = asUserError(() => loadDataset(data, { limit: Math.max(...records) + 1, size: INPUT_SIZE }));
    const bad = records.find((r) => r >= set.n);
    if (bad !== undefined) throw new UserError(`--index ${bad}: ${data} has ${set.n} record(s)`);
    if (set.channels !== 3 || set.height !== height || set.width !== width) {
      throw new UserError(`${data}: images are ${set.channels}×${set.height}×${set.width}, the model takes 3×${height}×${width}`);
    }
    const all = set.floats();
    const images = new Float32Array(records.length * per);
    records.forEach((r, i) => images.set(all.subarray(r * per, (r + 1) * per), i * per));
    return {
      images, n: records.length, height, width, labels: Int32Array.from(records, (r) => set.labels[r]!),
      names: records.map((r) => `${path.basename(data)}[${r}]`), records, classNames: set.classNames, notes: [],
    };
  }
  if (files.length === 0) throw new UserError('no input: give IMAGE files or --data PATH --index I');
  const images = new Float32Array(files.length * per);
  const notes: string[] = [];
  files.forEach((f, i) => {
    const img = asUserError(() => decodeImage(readImageFile(f), f));
    if (img.width !== width || img.height !== height) notes.push(`${f}: ${img.width}×${img.height} resized to ${width}×${height}`);
    const chw = resizeToChw(img, height, width);
    for (let j = 0; j < per; j++) images[i * per + j] = chw[j]! / 255;
  });
  return { images, n: files.length, height, width, labels: null, names: files.map((f) => path.basename(f)), records: null, classNames: null, notes };
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
