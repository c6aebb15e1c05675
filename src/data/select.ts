// Which images an evaluation scores: a range of a data set (CIFAR-10 records, an image folder's images in file
// order), a seeded random draw of them (libtorch's randperm, as the reference draws its 1,000 test images), or a
// training run's held-out validation images. `opts` brings them to a model's input. Errors are one line, naming the file.
import * as fs from 'node:fs';
import { manualSeed, randperm } from '../engine/index.js';
import { regularFile } from '../io/files.js';
import type { ImageDataset } from './dataset.js';
import { loadDataset, type LoadOptions } from './load.js';

/** How many images: exactly n (an error when fewer are there), or at most n (all when fewer). */
export type Count = number | { atMost: number };
const countOf = (c: Count, available: number, what: string): number => {
  if (typeof c !== 'number') return Math.min(c.atMost, available);
  if (c > available) throw new Error(`${what}: ${c} images asked for, but there are ${available}`);
  return c;
};

/** Images with the record number (index into their source) of each, or null when they are [offset, offset+n). */
export interface Selection { set: ImageDataset; records: number[] | null }

/** Images [offset, offset + n) of a data set. Only the records needed are read from CIFAR files. */
export function recordRange(file: string, offset: number, n: Count, opts: LoadOptions = {}): Selection {
  const all = loadDataset(file, { ...opts, limit: offset + (typeof n === 'number' ? n : n.atMost) });
  if (offset >= all.n) throw new Error(`${file}: record ${offset} asked for, but the data has ${all.n}`);
  const want = countOf(n, all.n - offset, `${file} from record ${offset}`);
  const set = offset === 0 && all.n === want ? all : all.subset(Array.from({ length: want }, (_, i) => offset + i), `${file} [${offset}, ${offset + want})`);
  return { set, records: null };
}

/** n records of a data set drawn by libtorch's randperm after manualSeed(seed), in file order. */
export function seededRecords(file: string, count: Count, seed: number, opts: LoadOptions = {}): Selection & { records: number[] } {
  const all = loadDataset(file, opts); // one read: the draw spans the whole file
  const n = countOf(count, all.n, file);
  manualSeed(seed);
  const perm = randperm(all.n);
  const records = perm.slice(0, 0, n).toArray().sort((a, b) => a - b);
  perm.dispose();
  return { set: all.subset(records, `${file}[seed ${seed}, ${n} records]`), records };
}

/** A training run's split.json: the held-out indices into its data, or the separate folder it validated on. */
type SplitFile = { valData: string } | { valData: null; val: number[]; n: number; limit: number | null };

function readSplit(splitFile: string): SplitFile {
  let split: { n?: unknown; limit?: unknown; val?: unknown; valData?: unknown };
  regularFile(splitFile, 'split file');
  try {
    split = JSON.parse(fs.readFileSync(splitFile, 'utf8')) as typeof split;
  } catch (e) {
    throw new Error(`${splitFile}: ${(e as Error).message.split('\n')[0]}`);
  }
  if (typeof split.valData === 'string') return { valData: split.valData };
  const val = split.val;
  const total = split.n;
  if (!Array.isArray(val) || typeof total !== 'number' || !val.every((i): i is number => Number.isInteger(i) && i >= 0 && i < total)) {
    throw new Error(`${splitFile}: not a split file of advexp train (expected {"n", "val": [indices]})`);
  }
  return { valData: null, val, n: total, limit: typeof split.limit === 'number' ? split.limit : null };
}

/** The run's data as the split was drawn from it (its --limit), checked to be the same size. */
function splitData(splitFile: string, split: { n: number; limit: number | null }, dataPath: string, opts: LoadOptions): ImageDataset {
  const all = loadDataset(dataPath, { ...opts, ...(split.limit !== null ? { limit: split.limit } : {}) });
  if (all.n !== split.n) throw new Error(`${splitFile}: drawn from ${split.n} images, but ${dataPath} has ${all.n}: pass the run's --data`);
  return all;
}

/**
 * The first n held-out validation images of a training run, from its split.json (indices into the run's data); a
 * run trained with --val-data validated on a whole folder, which split.json names (valData): its images, in order.
 */
export function heldOutImages(splitFile: string, dataPath: string, count: Count, opts: LoadOptions = {}): Selection & { records: number[] } {
  const split = readSplit(splitFile);
  if (split.valData !== null) {
    const folder = loadDataset(split.valData, opts);
    const n = countOf(count, folder.n, `${split.valData} (the run's validation data)`);
    const records = Array.from({ length: n }, (_, i) => i);
    return { set: n === folder.n ? folder : folder.subset(records, `${split.valData} (validation data of ${splitFile})`), records };
  }
  const n = countOf(count, split.val.length, `${splitFile} (held-out images)`);
  const all = splitData(splitFile, split, dataPath, opts);
  const records = split.val.slice(0, n);
  return { set: all.subset(records, `${dataPath} (validation split of ${splitFile})`), records };
}

/**
 * The images a training run trained on: its data less the held-out ones its split.json names (all of the data for
 * a run that validated on a separate folder), in file order.
 */
export function trainingImages(splitFile: string, dataPath: string, opts: LoadOptions = {}): Selection & { records: number[] } {
  const split = readSplit(splitFile);
  if (split.valData !== null) {
    const all = loadDataset(dataPath, opts);
    return { set: all, records: Array.from({ length: all.n }, (_, i) => i) };
  }
  const all = splitData(splitFile, split, dataPath, opts);
  const held = new Set(split.val);
  const records = Array.from({ length: all.n }, (_, i) => i).filter((i) => !held.has(i));
  return { set: all.subset(records, `${dataPath} (training images of ${splitFile})`), records };
}
