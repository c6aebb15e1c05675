// CIFAR-10 binary batches (data_batch_N.bin / test_batch.bin): 3073-byte records, 1 label byte (0..9) then the
// 32x32 red, green and blue planes, row-major. That byte order is already CHW, so a record maps straight to NCHW.
// One reader serves single files (with a record range), lists of files and the official tarball.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { errnoOf } from '../io/errors.js';
import { regularFile } from '../io/files.js';
import { ImageDataset, type ImageShape } from './dataset.js';
import { readTarArchive, tarEntries } from './tar.js';

export const CIFAR_SHAPE: ImageShape = Object.freeze({ channels: 3, height: 32, width: 32 });
const CIFAR_PIXELS = CIFAR_SHAPE.channels * CIFAR_SHAPE.height * CIFAR_SHAPE.width; // 3072
export const CIFAR_RECORD_BYTES = 1 + CIFAR_PIXELS; // 3073

/** The standard CIFAR-10 label names, label i at index i (same as batches.meta.txt). */
export const CIFAR10_CLASSES: readonly string[] = Object.freeze([
  'airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck',
]);

export interface CifarReadOptions {
  /** First record to read (default 0). */
  offset?: number | undefined;
  /** Maximum number of records to read (default: all from offset on). */
  limit?: number | undefined;
}

/** Records per read: a bounded buffer (~3 MB) however many records are asked for. */
const CHUNK_RECORDS = 1024;

/** One batch to read: a file on disk, or bytes already in memory (a tar member). `source` names it in errors. */
type CifarPart = { source: string; file: string; records: number } | { source: string; bytes: Uint8Array; records: number };

function recordsOf(source: string, size: number): number {
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
    throw new Error(`${file}: cannot open CIFAR batch (${errnoOf(e)})`);
  }
  if (!st.isFile()) throw new Error(`${file}: cannot read CIFAR batch (not a regular file)`);
  return { source: file, file, records: recordsOf(file, st.size) };
}

/**
 * Copies records [offset, offset + count) of a part into pixels/labels at record `at`, checking every label byte.
 * Plain files are read in bounded chunks, only the bytes needed.
 */
function readRecords(p: CifarPart, offset: number, count: number, pixels: Uint8Array, labels: Int32Array, at: number): void {
  const copy = (bytes: Uint8Array, first: number, k: number): void => {
    for (let r = 0; r < k; r++) {
      const rec = r * CIFAR_RECORD_BYTES;
      const label = bytes[rec]!;
      if (label > 9) throw new Error(`${p.source}: record ${offset + first + r} has label byte ${label}, expected 0..9`);
      labels[at + first + r] = label;
      pixels.set(bytes.subarray(rec + 1, rec + CIFAR_RECORD_BYTES), (at + first + r) * CIFAR_PIXELS);
    }
  };
  if ('bytes' in p) {
    copy(p.bytes.subarray(offset * CIFAR_RECORD_BYTES, (offset + count) * CIFAR_RECORD_BYTES), 0, count);
    return;
  }
  let fd: number;
  try {
    fd = fs.openSync(p.file, 'r');
  } catch (e) {
    throw new Error(`${p.file}: cannot open CIFAR batch (${errnoOf(e)})`);
  }
  try {
    const chunk = Buffer.allocUnsafe(Math.min(count, CHUNK_RECORDS) * CIFAR_RECORD_BYTES);
    for (let first = 0; first < count; first += CHUNK_RECORDS) {
      const k = Math.min(CHUNK_RECORDS, count - first);
      const want = k * CIFAR_RECORD_BYTES;
      const filePos = (offset + first) * CIFAR_RECORD_BYTES;
      let got = 0;
      while (got < want) {
        let r: number;
        try {
          r = fs.readSync(fd, chunk, got, want - got, filePos + got);
        } catch (e) {
          throw new Error(`${p.file}: cannot read CIFAR batch (${errnoOf(e)})`);
        }
        // The file shrank after stat: report it rather than return zeros.
        if (r === 0) throw new Error(`${p.file}: unexpected end of file at byte ${filePos + got}`);
        got += r;
      }
      copy(chunk, first, k);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Concatenates records [offset, offset + limit) of the parts taken as one sequence into one data set. */
function assemble(parts: CifarPart[], classNames: string[], source: (n: number, total: number, offset: number) => string, opts: CifarReadOptions, what: string): ImageDataset {
  const offset = opts.offset ?? 0;
  if (!Number.isSafeInteger(offset) || offset < 0) throw new Error(`${what}: offset ${offset} is not a non-negative integer`);
  if (opts.limit !== undefined && (!Number.isSafeInteger(opts.limit) || opts.limit < 0)) {
    throw new Error(`${what}: limit ${opts.limit} is not a non-negative integer`);
  }
  const total = parts.reduce((s, p) => s + p.records, 0);
  if (offset > total) throw new Error(`${what}: offset ${offset} is past the last of ${total} records`);
  const n = Math.min(opts.limit ?? total, total - offset);
  const pixels = new Uint8Array(n * CIFAR_PIXELS);
  const labels = new Int32Array(n);
  let skip = offset, at = 0;
  for (const p of parts) {
    if (at >= n) break;
    if (skip >= p.records) { skip -= p.records; continue; }
    const count = Math.min(p.records - skip, n - at);
    readRecords(p, skip, count, pixels, labels, at);
    at += count;
    skip = 0;
  }
  return new ImageDataset({ pixels, labels, shape: CIFAR_SHAPE, classNames, source: source(n, total, offset) });
}

/**
 * Reads records [offset, offset+limit) of a CIFAR-10 binary batch. Only those bytes are read from disk, so a small
 * limit is cheap. Throws a one-line Error naming the file for a missing/unreadable file, a size that is 0 or not a
 * multiple of 3073, an out-of-range offset, or a label byte > 9 (naming the record).
 */
export function readCifarBatch(file: string, opts: CifarReadOptions = {}): ImageDataset {
  return assemble([filePart(file)], classNamesBeside(file),
    (n, total, off) => (n === total ? file : `${file}[${off}:${off + n}]`), opts, file);
}

/** CIFAR-10 binary batch files, in the order given, as one set; class names from batches.meta.txt beside the first. */
export function loadCifarFiles(files: string[], opts: { limit?: number | undefined } = {}): ImageDataset {
  if (files.length === 0) throw new Error('no CIFAR-10 batch files given');
  return assemble(files.map(filePart), classNamesBeside(files[0]!), () => files.join(','), { limit: opts.limit }, files.join(','));
}

export const TRAIN_BATCH = /^data_batch_(\d+)\.bin$/;
export const TEST_BATCH = /^test_batch\.bin$/;

/** Training batches in number order (data_batch_1 … data_batch_5), others by name. */
export function batchOrder(a: string, b: string): number {
  const na = Number(TRAIN_BATCH.exec(path.basename(a))?.[1] ?? 0), nb = Number(TRAIN_BATCH.exec(path.basename(b))?.[1] ?? 0);
  return na - nb || (a < b ? -1 : a > b ? 1 : 0);
}

/** CIFAR-10 from the official tarball (or any tar holding data_batch_*.bin / test_batch.bin). */
export function loadCifarArchive(file: string, opts: { split?: 'train' | 'test'; limit?: number | undefined } = {}): ImageDataset {
  const split = opts.split ?? 'train';
  const entries = tarEntries(readTarArchive(file), file).filter((e) => e.type === '0');
  const want = split === 'train' ? TRAIN_BATCH : TEST_BATCH;
  const batches = entries.filter((e) => want.test(path.posix.basename(e.name))).sort((a, b) => batchOrder(a.name, b.name));
  if (batches.length === 0) throw new Error(`${file}: no ${split === 'train' ? 'data_batch_*.bin' : 'test_batch.bin'} in the archive`);
  const meta = entries.find((e) => path.posix.basename(e.name) === 'batches.meta.txt');
  const classNames = meta
    ? parseCifarClassNames(Buffer.from(meta.data.buffer, meta.data.byteOffset, meta.data.length).toString('utf8'), `${file}:${meta.name}`)
    : [...CIFAR10_CLASSES];
  const parts: CifarPart[] = batches.map((e) => {
    const source = `${file}:${e.name}`;
    return { source, bytes: e.data, records: recordsOf(source, e.data.length) };
  });
  return assemble(parts, classNames, () => `${file} (${split})`, { limit: opts.limit }, file);
}

/** Names from batches.meta.txt next to the batch if there is one, else the standard names (same meaning). */
function classNamesBeside(file: string): string[] {
  const dir = path.dirname(file);
  return fs.existsSync(path.join(dir, 'batches.meta.txt')) ? readCifarClassNames(dir) : [...CIFAR10_CLASSES];
}

/**
 * Reads `dir/batches.meta.txt`: one class name per line, label i on line i+1. Trailing whitespace (including
 * Windows CRs) and trailing blank lines are ignored. Exactly 10 names are required, as labels are 0..9.
 */
export function readCifarClassNames(dir: string): string[] {
  const file = path.join(dir, 'batches.meta.txt');
  regularFile(file, 'class names');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`${file}: cannot read class names (${errnoOf(e)})`);
  }
  return parseCifarClassNames(text, file);
}

/** Parses the text of a batches.meta.txt (see readCifarClassNames); errors start with `file`. */
export function parseCifarClassNames(text: string, file: string): string[] {
  const lines = text.split('\n').map((l) => l.trimEnd());
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const blank = lines.indexOf('');
  if (blank >= 0) throw new Error(`${file}: line ${blank + 1} is blank`);
  if (lines.length !== CIFAR10_CLASSES.length) {
    throw new Error(`${file}: ${lines.length} class names, expected ${CIFAR10_CLASSES.length}`);
  }
  return lines;
}
