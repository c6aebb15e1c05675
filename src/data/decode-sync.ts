// The data layer reads synchronously (the trainer and every command read their data before any compute), while
// sharp decodes only asynchronously. SyncDecoder runs decode.ts on a worker thread and blocks on an Atomics wait
// until the worker has answered: one decoder, used both ways. One worker serves the process (started on first use,
// never keeping it alive); files go in chunks, decoded concurrently. Asynchronous callers (the server) use decode.ts.
import { Worker, MessageChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import type { DecodedImage } from './decode.js';

/** Per file: the picture or the one-line error naming it. */
export type DecodeResult = { image: DecodedImage } | { error: string };
/** The worker's answer to one chunk. */
export type DecodeReply = { results: DecodeResult[] } | { fatal: string };

/** How long one chunk may take before the worker is taken for dead (a 16-megapixel picture decodes in about 1 s). */
const CHUNK_TIMEOUT_MS = 10 * 60 * 1000;

export class SyncDecoder {
  readonly #worker: Worker;
  readonly #port: MessagePort;
  readonly #flag = new Int32Array(new SharedArrayBuffer(4));

  constructor() {
    const { port1, port2 } = new MessageChannel();
    this.#worker = new Worker(new URL('./decode-worker.js', import.meta.url), { workerData: { port: port2, flag: this.#flag }, transferList: [port2] });
    this.#worker.unref();
    this.#port = port1;
  }

  /** Reads, checks and decodes the files; one result per file, in their order. */
  decode(files: readonly string[]): DecodeResult[] {
    Atomics.store(this.#flag, 0, 0);
    this.#port.postMessage(files);
    if (Atomics.wait(this.#flag, 0, 0, CHUNK_TIMEOUT_MS) === 'timed-out') {
      throw new Error(`image decoder: no answer within ${CHUNK_TIMEOUT_MS / 60000} min for ${files.length} file(s) from ${files[0]}`);
    }
    const got = receiveMessageOnPort(this.#port);
    if (got === undefined) throw new Error('image decoder: its worker signalled without an answer');
    const reply = got.message as DecodeReply;
    if ('fatal' in reply) throw new Error(reply.fatal);
    return reply.results;
  }

  /** Stops the worker (the shared one needs no closing: it never keeps the process alive). */
  close(): void {
    this.#port.close();
    void this.#worker.terminate();
  }
}

let shared: SyncDecoder | null = null;
/** The process's decoder (its worker is started on first use). */
export function syncDecoder(): SyncDecoder {
  shared ??= new SyncDecoder();
  return shared;
}

/** Decodes image files synchronously; the first file that fails throws its one-line error. */
export function decodeFilesSync(files: readonly string[]): DecodedImage[] {
  return syncDecoder().decode(files).map((r) => {
    if ('error' in r) throw new Error(r.error);
    return r.image;
  });
}
