// Which images an evaluation scores: a record range of a CIFAR file, a seeded random draw of its records (libtorch's
// randperm, as the reference draws its 1,000 test images), or a training run's held-out validation images.
// Errors are one line, naming the file.
import * as fs from 'node:fs';
import { manualSeed, randperm } from '../engine/index.js';
import { regularFile } from '../io/files.js';
import { readCifarBatch } from './cifar.js';
import type { ImageDataset } from './dataset.js';
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
  const all = readCifarBatch(file); // one read: a batch is 30 MB, and the draw spans the whole file
  if (n > all.n) throw new Error(`${file}: ${n} records asked for, but the file has ${all.n}`);
  manualSeed(seed);
  const perm = randperm(all.n);
  const records = perm.slice(0, 0, n).toArray().sort((a, b) => a - b);
  perm.dispose();
  return { set: all.subset(records, `${file}[seed ${seed}, ${n} records]`), records };
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
