// Which images an evaluation scores: a record range of a CIFAR file, a seeded random draw of its records (libtorch's
// randperm, as the reference draws its 1,000 test images), or a training run's held-out validation images.
// Errors are one line, naming the file.
import * as fs from 'node:fs';
import { manualSeed, randperm } from '../engine/index.js';
import { regularFile } from '../io/files.js';
import { readCifarBatch, CIFAR_RECORD_BYTES } from './cifar.js';
import { ImageDataset } from './dataset.js';
import { loadDataset } from './load.js';

/** Images with the record number (index into their source) of each, or null when they are [offset, offset+n). */
export interface Selection { set: ImageDataset; records: number[] | null }

/** Records [offset, offset + n) of a CIFAR file; all n must be there. */
export function recordRange(file: string, offset: number, n: number): Selection {
  const set = readCifarBatch(file, { offset, limit: n });
  if (set.n < n) throw new Error(`${file}: ${n} records from record ${offset}, but only ${set.n} record(s) are there`);
  return { set, records: null };
}

/** n records of a CIFAR file drawn by libtorch's randperm after manualSeed(seed), in file order. */
export function seededRecords(file: string, n: number, seed: number): Selection & { records: number[] } {
  let total: number;
  try {
    total = Math.floor(fs.statSync(file).size / CIFAR_RECORD_BYTES);
  } catch {
    readCifarBatch(file, { limit: 1 }); // throws the reader's one-line error
    throw new Error(`${file}: cannot read`);
  }
  if (n > total) throw new Error(`${file}: ${n} records asked for, but the file has ${total}`);
  manualSeed(seed);
  const perm = randperm(total);
  const records = perm.slice(0, 0, n).toArray().sort((a, b) => a - b);
  perm.dispose();
  const first = readCifarBatch(file, { offset: records[0] ?? 0, limit: 1 });
  const per = first.imageSize;
  const pixels = new Uint8Array(n * per);
  const labels = new Int32Array(n);
  records.forEach((r, i) => {
    const one = readCifarBatch(file, { offset: r, limit: 1 });
    pixels.set(one.pixels, i * per);
    labels[i] = one.labels[0]!;
  });
  return {
    set: new ImageDataset({ pixels, labels, shape: first.shape, classNames: first.classNames, source: `${file}[seed ${seed}, ${n} records]` }),
    records,
  };
}

/** The first n held-out validation images of a training run, from its split.json (indices into the run's data). */
export function heldOutImages(splitFile: string, dataPath: string, n: number): Selection & { records: number[] } {
  let split: { n?: unknown; limit?: unknown; val?: unknown };
  regularFile(splitFile, 'split file');
  try {
    split = JSON.parse(fs.readFileSync(splitFile, 'utf8')) as typeof split;
  } catch (e) {
    throw new Error(`${splitFile}: ${(e as Error).message.split('\n')[0]}`);
  }
  const val = split.val;
  const total = split.n;
  if (!Array.isArray(val) || typeof total !== 'number' || !val.every((i): i is number => Number.isInteger(i) && i >= 0 && i < total)) {
    throw new Error(`${splitFile}: not a split file of advexp train (expected {"n", "val": [indices]})`);
  }
  if (n > val.length) throw new Error(`${splitFile}: ${n} images asked for, but the split holds out ${val.length}`);
  const all = loadDataset(dataPath, typeof split.limit === 'number' ? { limit: split.limit } : {});
  if (all.n !== total) throw new Error(`${splitFile}: drawn from ${total} images, but ${dataPath} has ${all.n}: pass the run's --data`);
  const records = val.slice(0, n);
  return { set: all.subset(records, `${dataPath} (validation split of ${splitFile})`), records };
}
