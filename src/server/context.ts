// What the route modules share: the server's options, the state built from them once at start (models, data file,
// saved results, the page, the job queue) and the parameter limits every engine job is bounded by.
import type { FastifyReply } from 'fastify';
import type { ResizePolicy } from '../data/images.js';
import type { LoadedModel } from '../io/model-file.js';
import { loadDataset } from '../data/load.js';
import type { ImageDataset } from '../data/dataset.js';
import { JobQueue } from './queue.js';
import { ModelRegistry } from './models.js';
import { ResultsStore } from './results.js';
import { loadStaticFiles, type StaticFile } from './static.js';

export interface ServerOptions {
  /** Models in page order; the one flagged default (else the first) is selected at start. */
  models: { model: LoadedModel; default?: boolean }[];
  /** The data set the page browses: a path (read with loadDataset) or one already loaded, with the name it is shown by. */
  data?: string | DataFile | null;
  /** Folders holding `advexp eval` outputs (JSON, PNG/SVG plots). */
  results?: string[];
  /** The built page (dist/web); null or missing: API only. */
  webRoot?: string | null;
  /** Upload cap in bytes (default 5 MB). */
  maxUploadBytes?: number;
  /** Requests allowed to wait for the engine (default 16); more get 503. */
  maxQueue?: number;
  /** Host names accepted in the Host header; null accepts any (when bound to a public address). */
  allowedHosts?: readonly string[] | null | undefined;
  /** One line per API request and every server error (default: none). */
  log?: ((line: string) => void) | undefined;
  /** How uploads and records are fitted to a model's input (data/images.ts fitImage; default 'crop'). */
  resize?: ResizePolicy | undefined;
}

export const DEFAULT_MAX_UPLOAD = 5 * 1024 * 1024;
export const LIMITS = {
  rho: [0.001, 1] as [number, number],
  steps: [1, 200] as [number, number],
  overshoot: [0.1, 20] as [number, number],
  limeSamples: [10, 2000] as [number, number],
  seed: [0, 2 ** 31 - 1] as [number, number],
  recordsPage: 100,
};
export const LIME_DEFAULTS = { samples: 500, seed: 0 };

/**
 * The --data set (any loadDataset path: CIFAR batches, an image folder), read whole and checked at start, so a bad
 * file is an error then, not at the first click (a CIFAR batch is 30 MB).
 */
export interface DataFile { file: string; set: ImageDataset }

export interface ServerContext {
  models: ModelRegistry;
  queue: JobQueue;
  results: ResultsStore;
  data: DataFile | null;
  web: Map<string, StaticFile>;
  maxUpload: number;
  log: (line: string) => void;
  /** Set once close() begins: every answer then ends its connection. */
  closing: boolean;
}

/** Builds the shared state from the options (loads the page, opens the data file, registers the models). */
export function serverContext(opts: ServerOptions): ServerContext {
  const data: DataFile | null = opts.data == null ? null : typeof opts.data === 'string' ? { file: opts.data, set: loadDataset(opts.data) } : opts.data;
  return {
    models: new ModelRegistry(opts.models, data === null ? null : { classNames: data.set.classNames, shape: data.set.shape }, opts.resize ?? 'crop'),
    queue: new JobQueue(opts.maxQueue ?? 16),
    results: new ResultsStore(opts.results ?? []),
    data,
    web: loadStaticFiles(opts.webRoot ?? null),
    maxUpload: opts.maxUploadBytes ?? DEFAULT_MAX_UPLOAD,
    log: opts.log ?? ((): void => {}),
    closing: false,
  };
}

/** Aborts when the client goes away before its answer is written (the signal a queued job watches). */
export function clientSignal(reply: FastifyReply): AbortSignal {
  const ctrl = new AbortController();
  reply.raw.once('close', () => { if (!reply.raw.writableFinished) ctrl.abort(); });
  return ctrl.signal;
}
