// What several subcommands share: finding and loading the model, reading data, thread settings.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel, type LoadedModel } from '../io/model-file.js';
import { readCifarBatch } from '../data/cifar.js';
import type { ImageDataset } from '../data/dataset.js';
import { setNumThreads } from '../engine/index.js';
import { UserError } from './errors.js';

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

export function openCifar(file: string, opts: { limit?: number; offset?: number } = {}): ImageDataset {
  try {
    return readCifarBatch(file, opts);
  } catch (e) {
    throw new UserError((e as Error).message);
  }
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
