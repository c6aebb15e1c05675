// Labelled image sets for training and evaluation, kept as bytes (NCHW uint8, a quarter of float32's memory):
// CIFAR-10 binary batches (one file, a comma-separated list, a directory of them, or the official
// `cifar-10-binary.tar.gz` read directly) and image folders (one sub-folder per class, PNG/JPEG, resized).
// Also: subsets, the seeded validation split, and conversion to float images for metrics.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CIFAR10_CLASSES, CIFAR_PIXELS, CIFAR_RECORD_BYTES, parseCifarClassNames, readCifarClassNames } from './cifar.js';
import { readTarArchive, tarEntries } from './tar.js';
import { loadImageFolder } from './images.js';
import { seededRandom } from '../engine/index.js';

export interface ByteImageSet {
  /** n·C·H·W bytes, NCHW; pixel value = byte / 255. */
  pixels: Uint8Array;
  labels: Int32Array;
  n: number;
  channels: number;
  height: number;
  width: number;
  classNames: string[];
  /** Where the images came from, for messages and records. */
  source: string;
}

export interface LoadOptions {
  /** CIFAR-10: 'train' reads data_batch_*.bin, 'test' reads test_batch.bin (directories and tarballs). Default train. */
  split?: 'train' | 'test';
  /** Keep only the first `limit` images (only the bytes needed are read from plain files). */
  limit?: number;
  /** Image folders: resize every image to [height, width] (default [32, 32]). */
  size?: [number, number];
}

function errno(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
}

/** One CIFAR batch to read: a file on disk, or bytes already in memory (a tar member). */
type CifarPart = { source: string; file: string; records: number } | { source: string; bytes: Uint8Array; records: number };

function cifarRecordsOf(source: string, size: number): number {
  if (size === 0) throw new Error(`${source}: empty file, expected ${CIFAR_RECORD_BYTES}-byte CIFAR-10 records`);
  if (size % CIFAR_RECORD_BYTES !== 0) {
    throw new Error(`${source}: size ${size} is not a multiple of the ${CIFAR_RECORD_BYTES}-byte CIFAR-10 record`);
  }
  return size / CIFAR_RECORD_BYTES;
}

function filePart(file: string): CifarPart {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    throw new Error(`${file}: cannot open CIFAR batch (${errno(e)})`);
  }
  if (!st.isFile()) throw new Error(`${file}: not a regular file`);
  return { source: file, file, records: cifarRecordsOf(file, st.size) };
}

/** Reads the first `count` records of a file part into a buffer. */
function partBytes(p: CifarPart, count: number): Uint8Array {
  if ('bytes' in p) return p.bytes.subarray(0, count * CIFAR_RECORD_BYTES);
  const want = count * CIFAR_RECORD_BYTES;
  const buf = Buffer.allocUnsafe(want);
  let fd: number;
  try {
    fd = fs.openSync(p.file, 'r');
  } catch (e) {
    throw new Error(`${p.file}: cannot open CIFAR batch (${errno(e)})`);
  }
  try {
    let got = 0;
    while (got < want) {
      let r: number;
      try {
        r = fs.readSync(fd, buf, got, want - got, got);
      } catch (e) {
        throw new Error(`${p.file}: cannot read CIFAR batch (${errno(e)})`);
      }
      if (r === 0) throw new Error(`${p.file}: unexpected end of file at byte ${got}`);
      got += r;
    }
  } finally {
    fs.closeSync(fd);
  }
  return buf;
}

/** Concatenates CIFAR parts (up to limit records) into one byte set; label bytes are checked. */
function assembleCifar(parts: CifarPart[], classNames: string[], source: string, limit?: number): ByteImageSet {
  const total = parts.reduce((s, p) => s + p.records, 0);
  const n = Math.min(total, limit ?? total);
  const pixels = new Uint8Array(n * CIFAR_PIXELS);
  const labels = new Int32Array(n);
  let at = 0;
  for (const p of parts) {
    if (at >= n) break;
    const count = Math.min(p.records, n - at);
    const bytes = partBytes(p, count);
    for (let r = 0; r < count; r++) {
      const rec = r * CIFAR_RECORD_BYTES;
      const label = bytes[rec]!;
      if (label > 9) throw new Error(`${p.source}: record ${r} has label byte ${label}, expected 0..9`);
      labels[at + r] = label;
      pixels.set(bytes.subarray(rec + 1, rec + CIFAR_RECORD_BYTES), (at + r) * CIFAR_PIXELS);
    }
    at += count;
  }
  return { pixels, labels, n, channels: 3, height: 32, width: 32, classNames, source };
}

const TRAIN_BATCH = /^data_batch_(\d+)\.bin$/;
const TEST_BATCH = /^test_batch\.bin$/;

function batchOrder(a: string, b: string): number {
  const na = Number(TRAIN_BATCH.exec(path.basename(a))?.[1] ?? 0), nb = Number(TRAIN_BATCH.exec(path.basename(b))?.[1] ?? 0);
  return na - nb || (a < b ? -1 : a > b ? 1 : 0);
}

function isArchive(file: string): boolean { return /\.(tar\.gz|tgz|tar)$/i.test(file); }

/** CIFAR-10 from the official tarball (or any tar holding data_batch_*.bin / test_batch.bin). */
export function loadCifarArchive(file: string, opts: LoadOptions = {}): ByteImageSet {
  const entries = tarEntries(readTarArchive(file), file).filter((e) => e.type === '0');
  const want = (opts.split ?? 'train') === 'train' ? TRAIN_BATCH : TEST_BATCH;
  const batches = entries.filter((e) => want.test(path.posix.basename(e.name))).sort((a, b) => batchOrder(a.name, b.name));
  if (batches.length === 0) {
    throw new Error(`${file}: no ${(opts.split ?? 'train') === 'train' ? 'data_batch_*.bin' : 'test_batch.bin'} in the archive`);
  }
  const meta = entries.find((e) => path.posix.basename(e.name) === 'batches.meta.txt');
  const classNames = meta
    ? parseCifarClassNames(Buffer.from(meta.data.buffer, meta.data.byteOffset, meta.data.length).toString('utf8'), `${file}:${meta.name}`)
    : [...CIFAR10_CLASSES];
  const parts: CifarPart[] = batches.map((e) => {
    const source = `${file}:${e.name}`;
    return { source, bytes: e.data, records: cifarRecordsOf(source, e.data.length) };
  });
  return assembleCifar(parts, classNames, `${file} (${opts.split ?? 'train'})`, opts.limit);
}

/** CIFAR-10 binary batch files, in the order given; class names from batches.meta.txt beside the first. */
export function loadCifarFiles(files: string[], opts: LoadOptions = {}): ByteImageSet {
  if (files.length === 0) throw new Error('no CIFAR-10 batch files given');
  const parts = files.map(filePart);
  const dir = path.dirname(files[0]!);
  const classNames = fs.existsSync(path.join(dir, 'batches.meta.txt')) ? readCifarClassNames(dir) : [...CIFAR10_CLASSES];
  return assembleCifar(parts, classNames, files.join(','), opts.limit);
}

function listDir(dir: string): fs.Dirent[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    throw new Error(`${dir}: cannot read directory (${errno(e)})`);
  }
}

/**
 * Loads a labelled image set from `spec`:
 * - a CIFAR-10 binary batch file, or several joined with commas;
 * - a `.tar.gz`/`.tgz`/`.tar` archive holding the batches (the official `cifar-10-binary.tar.gz`);
 * - a directory holding `data_batch_*.bin` (split 'train', in batch order) or `test_batch.bin` (split 'test'),
 *   or the official archive, or its extracted `cifar-10-batches-bin/` folder;
 * - an image folder: one sub-folder per class (sorted names = class names), PNG/JPEG files of any size.
 * Errors are one line and start with the offending path.
 */
export function loadDataset(spec: string, opts: LoadOptions = {}): ByteImageSet {
  if (opts.limit !== undefined && (!Number.isSafeInteger(opts.limit) || opts.limit < 0)) {
    throw new Error(`limit ${opts.limit} is not a non-negative integer`);
  }
  if (spec.includes(',')) return loadCifarFiles(spec.split(',').filter((s) => s !== ''), opts);
  let st: fs.Stats;
  try {
    st = fs.statSync(spec);
  } catch (e) {
    throw new Error(`${spec}: cannot open data (${errno(e)})`);
  }
  if (st.isFile()) return isArchive(spec) ? loadCifarArchive(spec, opts) : loadCifarFiles([spec], opts);
  if (!st.isDirectory()) throw new Error(`${spec}: not a file or directory`);

  const entries = listDir(spec);
  const files = entries.filter((e) => e.isFile()).map((e) => e.name);
  const split = opts.split ?? 'train';
  const batches = files.filter((f) => (split === 'train' ? TRAIN_BATCH : TEST_BATCH).test(f)).sort(batchOrder);
  if (batches.length > 0) return loadCifarFiles(batches.map((f) => path.join(spec, f)), opts);
  if (files.some((f) => TRAIN_BATCH.test(f) || TEST_BATCH.test(f))) {
    throw new Error(`${spec}: no ${split === 'train' ? 'data_batch_*.bin' : 'test_batch.bin'} here (split '${split}')`);
  }
  const archive = files.find((f) => f === 'cifar-10-binary.tar.gz');
  if (archive !== undefined) return loadCifarArchive(path.join(spec, archive), opts);
  const extracted = entries.find((e) => e.isDirectory() && e.name === 'cifar-10-batches-bin');
  if (extracted !== undefined) return loadDataset(path.join(spec, extracted.name), opts);
  if (entries.some((e) => e.isDirectory() && !e.name.startsWith('.'))) return loadImageFolder(spec, opts);
  throw new Error(`${spec}: no CIFAR-10 batches (data_batch_*.bin, test_batch.bin, cifar-10-binary.tar.gz) and no class sub-folders`);
}

/** The images at `indices` (in that order), copied. */
export function subset(set: ByteImageSet, indices: ArrayLike<number>, source?: string): ByteImageSet {
  const per = set.channels * set.height * set.width;
  const pixels = new Uint8Array(indices.length * per);
  const labels = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i]!;
    if (!Number.isInteger(j) || j < 0 || j >= set.n) throw new Error(`subset: index ${j} outside 0..${set.n - 1}`);
    pixels.set(set.pixels.subarray(j * per, (j + 1) * per), i * per);
    labels[i] = set.labels[j]!;
  }
  return { ...set, pixels, labels, n: indices.length, source: source ?? `${set.source} (subset of ${indices.length})` };
}

export interface Split { train: Int32Array; val: Int32Array }

/**
 * Seeded validation split of n items: `val` of them, drawn by a Fisher–Yates shuffle from `seed`, go to
 * validation; the rest to training. Both index lists are ascending. Same (n, val, seed) → same split.
 */
export function splitValidation(n: number, val: number, seed: number): Split {
  if (!Number.isSafeInteger(val) || val < 0 || (val > 0 && val >= n)) {
    throw new Error(`validation size ${val} must be an integer in 0..${n - 1} (the data has ${n} images)`);
  }
  const idx = new Int32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  const rnd = seededRandom(seed);
  // Partial Fisher–Yates: the first `val` slots are a uniform random sample.
  for (let i = 0; i < val; i++) {
    const j = i + Math.floor(rnd() * (n - i));
    const t = idx[i]!; idx[i] = idx[j]!; idx[j] = t;
  }
  const v = idx.slice(0, val).sort();
  const isVal = new Uint8Array(n);
  for (const i of v) isVal[i] = 1;
  const train = new Int32Array(n - val);
  let k = 0;
  for (let i = 0; i < n; i++) if (!isVal[i]) train[k++] = i;
  return { train, val: v };
}

/** Float images (byte/255, exactly as readCifarBatch computes them) for predict()/metrics. */
export function toFloatImages(set: ByteImageSet): Float32Array {
  const lut = new Float32Array(256);
  for (let b = 0; b < 256; b++) lut[b] = b / 255;
  const out = new Float32Array(set.pixels.length);
  for (let i = 0; i < out.length; i++) out[i] = lut[set.pixels[i]!]!;
  return out;
}
