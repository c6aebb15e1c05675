// loadDataset: one entry point from a path to an ImageDataset, whatever the format (CIFAR-10 binaries, the
// official tarball, its folders, image folders).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { errnoOf } from '../io/errors.js';
import type { ImageDataset } from './dataset.js';
import { loadCifarArchive, loadCifarFiles, batchOrder, TRAIN_BATCH, TEST_BATCH } from './cifar.js';
import { loadImageFolder, fitDataset, type ResizePolicy } from './images.js';

export interface LoadOptions {
  /** CIFAR-10: 'train' reads data_batch_*.bin, 'test' reads test_batch.bin (directories and tarballs). Default train. */
  split?: 'train' | 'test';
  /** Keep only the first `limit` images (only the bytes needed are read from plain files). */
  limit?: number | undefined;
  /** Bring every image to [height, width] (default: image folders keep their images' own size, which all must share). */
  size?: [number, number] | undefined;
  /** Bring every image to this many channels, 1 or 3 (default: image folders of grayscale pictures 1, else 3). */
  channels?: number | undefined;
  /** How pictures of another size are fitted (data/images.ts fitImage); default 'crop'. */
  resize?: ResizePolicy | undefined;
}

function isArchive(file: string): boolean { return /\.(tar\.gz|tgz|tar)$/i.test(file); }

function listDir(dir: string): fs.Dirent[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    throw new Error(`${dir}: cannot read directory (${errnoOf(e)})`);
  }
}

/**
 * Loads a labelled image set from `spec`:
 * - a CIFAR-10 binary batch file, or several joined with commas;
 * - a `.tar.gz`/`.tgz`/`.tar` archive holding the batches (the official `cifar-10-binary.tar.gz`);
 * - a directory holding `data_batch_*.bin` (split 'train', in batch order) or `test_batch.bin` (split 'test'),
 *   or the official archive, or its extracted `cifar-10-batches-bin/` folder;
 * - an image folder: one sub-folder per class (sorted names = class names), image files (PNG, JPEG, WebP, AVIF, TIFF, GIF) of any size.
 * Errors are one line and start with the offending path.
 */
export function loadDataset(spec: string, opts: LoadOptions = {}): ImageDataset {
  const set = loadAsStored(spec, opts);
  const size = opts.size ?? [set.height, set.width];
  return fitDataset(set, { channels: opts.channels ?? set.channels, height: size[0], width: size[1] }, opts.resize);
}

function loadAsStored(spec: string, opts: LoadOptions): ImageDataset {
  if (opts.limit !== undefined && (!Number.isSafeInteger(opts.limit) || opts.limit < 0)) {
    throw new Error(`limit ${opts.limit} is not a non-negative integer`);
  }
  const cifarOpts = opts.limit === undefined ? {} : { limit: opts.limit };
  if (spec.includes(',')) return loadCifarFiles(spec.split(',').filter((s) => s !== ''), cifarOpts);
  let st: fs.Stats;
  try {
    st = fs.statSync(spec);
  } catch (e) {
    throw new Error(`${spec}: cannot open data (${errnoOf(e)})`);
  }
  if (st.isFile()) return isArchive(spec) ? loadCifarArchive(spec, { ...cifarOpts, split: opts.split ?? 'train' }) : loadCifarFiles([spec], cifarOpts);
  if (!st.isDirectory()) throw new Error(`${spec}: not a file or directory`);

  const entries = listDir(spec);
  const files = entries.filter((e) => e.isFile()).map((e) => e.name);
  const split = opts.split ?? 'train';
  const batches = files.filter((f) => (split === 'train' ? TRAIN_BATCH : TEST_BATCH).test(f)).sort(batchOrder);
  if (batches.length > 0) return loadCifarFiles(batches.map((f) => path.join(spec, f)), cifarOpts);
  if (files.some((f) => TRAIN_BATCH.test(f) || TEST_BATCH.test(f))) {
    throw new Error(`${spec}: no ${split === 'train' ? 'data_batch_*.bin' : 'test_batch.bin'} here (split '${split}')`);
  }
  const archive = files.find((f) => f === 'cifar-10-binary.tar.gz');
  if (archive !== undefined) return loadCifarArchive(path.join(spec, archive), { ...cifarOpts, split });
  const extracted = entries.find((e) => e.isDirectory() && e.name === 'cifar-10-batches-bin');
  if (extracted !== undefined) return loadAsStored(path.join(spec, extracted.name), opts);
  if (entries.some((e) => e.isDirectory() && !e.name.startsWith('.'))) return loadImageFolder(spec, opts);
  throw new Error(`${spec}: no CIFAR-10 batches (data_batch_*.bin, test_batch.bin, cifar-10-binary.tar.gz) and no class sub-folders`);
}
