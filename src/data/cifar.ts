// CIFAR-10 binary batches (data_batch_N.bin / test_batch.bin): 3073-byte records, 1 label byte (0..9) then the
// 32x32 red, green and blue planes, row-major. That byte order is already CHW, so a record maps straight to NCHW.

import * as fs from 'node:fs';
import * as path from 'node:path';

export const CIFAR_HEIGHT = 32;
export const CIFAR_WIDTH = 32;
export const CIFAR_CHANNELS = 3;
export const CIFAR_PIXELS = CIFAR_CHANNELS * CIFAR_HEIGHT * CIFAR_WIDTH; // 3072
export const CIFAR_RECORD_BYTES = 1 + CIFAR_PIXELS; // 3073

/** The standard CIFAR-10 label names, label i at index i (same as batches.meta.txt). */
export const CIFAR10_CLASSES: readonly string[] = Object.freeze([
  'airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck',
]);

export interface ImageSet {
  /** n*3*32*32, NCHW, byte/255 in [0, 1]. */
  images: Float32Array;
  labels: Int32Array;
  n: number;
  height: 32;
  width: 32;
  channels: 3;
  classNames?: string[];
  /** Where the images came from (file path, plus the record range when partial). */
  source: string;
}

export interface CifarReadOptions {
  /** First record to read (default 0). */
  offset?: number;
  /** Maximum number of records to read (default: all from offset on). */
  limit?: number;
}

function errno(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
}

/** Exact float32 of b/255 for every byte, so the hot loop is a table lookup. */
const BYTE_TO_UNIT = (() => {
  const t = new Float32Array(256);
  for (let b = 0; b < 256; b++) t[b] = b / 255;
  return t;
})();

/** Records per read: a bounded buffer (~3 MB) however many records are asked for. */
const CHUNK_RECORDS = 1024;

/**
 * Reads records [offset, offset+limit) of a CIFAR-10 binary batch. Only those bytes are read from disk, so a small
 * limit is cheap. Throws a one-line Error naming the file for a missing/unreadable file, a size that is 0 or not a
 * multiple of 3073, an out-of-range offset, or a label byte > 9 (naming the record).
 */
export function readCifarBatch(file: string, opts: CifarReadOptions = {}): ImageSet {
  const offset = opts.offset ?? 0;
  if (!Number.isSafeInteger(offset) || offset < 0) throw new Error(`${file}: offset ${offset} is not a non-negative integer`);
  if (opts.limit !== undefined && (!Number.isSafeInteger(opts.limit) || opts.limit < 0)) {
    throw new Error(`${file}: limit ${opts.limit} is not a non-negative integer`);
  }

  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw new Error(`${file}: cannot open CIFAR batch (${errno(e)})`);
  }
  try {
    let size: number;
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) throw new Error('not a regular file');
      size = st.size;
    } catch (e) {
      throw new Error(`${file}: cannot read CIFAR batch (${errno(e)})`);
    }
    if (size === 0) throw new Error(`${file}: empty file, expected ${CIFAR_RECORD_BYTES}-byte CIFAR-10 records`);
    if (size % CIFAR_RECORD_BYTES !== 0) {
      throw new Error(`${file}: size ${size} is not a multiple of the ${CIFAR_RECORD_BYTES}-byte CIFAR-10 record`);
    }
    const total = size / CIFAR_RECORD_BYTES;
    if (offset > total) throw new Error(`${file}: offset ${offset} is past the last of ${total} records`);
    const n = Math.min(opts.limit ?? total, total - offset);

    const images = new Float32Array(n * CIFAR_PIXELS);
    const labels = new Int32Array(n);
    const chunk = Buffer.allocUnsafe(Math.min(n, CHUNK_RECORDS) * CIFAR_RECORD_BYTES);
    for (let first = 0; first < n; first += CHUNK_RECORDS) {
      const count = Math.min(CHUNK_RECORDS, n - first);
      const want = count * CIFAR_RECORD_BYTES;
      const filePos = (offset + first) * CIFAR_RECORD_BYTES;
      let got = 0;
      while (got < want) {
        let r: number;
        try {
          r = fs.readSync(fd, chunk, got, want - got, filePos + got);
        } catch (e) {
          throw new Error(`${file}: cannot read CIFAR batch (${errno(e)})`);
        }
        // The file shrank after fstat: report it rather than return zeros.
        if (r === 0) throw new Error(`${file}: unexpected end of file at byte ${filePos + got}`);
        got += r;
      }
      for (let i = 0; i < count; i++) {
        const rec = i * CIFAR_RECORD_BYTES;
        const label = chunk[rec]!;
        if (label > 9) {
          throw new Error(`${file}: record ${offset + first + i} has label byte ${label}, expected 0..9`);
        }
        labels[first + i] = label;
        const dst = (first + i) * CIFAR_PIXELS;
        for (let j = 0; j < CIFAR_PIXELS; j++) images[dst + j] = BYTE_TO_UNIT[chunk[rec + 1 + j]!]!;
      }
    }

    return {
      images,
      labels,
      n,
      height: 32,
      width: 32,
      channels: 3,
      classNames: classNamesBeside(file),
      source: n === total ? file : `${file}[${offset}:${offset + n}]`,
    };
  } finally {
    fs.closeSync(fd);
  }
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
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`${file}: cannot read class names (${errno(e)})`);
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
