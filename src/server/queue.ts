// One engine job at a time. Engine calls are synchronous and memory-hungry, so requests that need the engine wait
// here in arrival order; the line has a fixed length (beyond it: 503 with Retry-After), a job whose client has gone
// is dropped before it starts, and close() refuses what still waits so shutdown is quick.
import { ClientGoneError, HttpError } from './errors.js';

export interface JobContext {
  /** Aborted when the client goes away: a job checks it between its phases. */
  readonly signal: AbortSignal;
  /** Gives the event loop a turn (other requests get served), then throws if the client has gone. */
  checkpoint(): Promise<void>;
}

interface Entry {
  run: () => void;
  reject: (e: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class JobQueue {
  readonly maxWaiting: number;
  #waiting: Entry[] = [];
  #running = false;
  #closed = false;
  #idle: (() => void)[] = [];
  /** Jobs done since start (for /api/status and tests). */
  completed = 0;

  constructor(maxWaiting = 16) {
    if (!Number.isInteger(maxWaiting) || maxWaiting < 0) throw new Error(`queue length must be an integer ≥ 0, got ${maxWaiting}`);
    this.maxWaiting = maxWaiting;
  }

  /** Jobs waiting (not counting the one running). */
  get waiting(): number { return this.#waiting.length; }
  get running(): boolean { return this.#running; }
  get closed(): boolean { return this.#closed; }

  /**
   * Runs `job` when its turn comes. Rejects with HttpError 503 when the line is full or the queue is closed, and
   * with ClientGoneError when `signal` aborts before or while the job runs.
   */
  run<T>(job: (ctx: JobContext) => Promise<T> | T, signal?: AbortSignal): Promise<T> {
    if (this.#closed) return Promise.reject(new HttpError(503, 'the server is shutting down'));
    if (signal?.aborted) return Promise.reject(new ClientGoneError());
    if (this.#running && this.#waiting.length >= this.maxWaiting) {
      return Promise.reject(new HttpError(503, `the server is busy (${this.#waiting.length} requests waiting); try again shortly`, { 'retry-after': '2' }));
    }
    return new Promise<T>((resolve, reject) => {
      const ctrl = new AbortController();
      const ctx: JobContext = {
        signal: ctrl.signal,
        async checkpoint() {
          await turn();
          if (ctrl.signal.aborted) throw new ClientGoneError();
        },
      };
      const entry: Entry = {
        signal,
        reject,
        onAbort: () => {
          ctrl.abort();
          const i = this.#waiting.indexOf(entry);
          if (i >= 0) { this.#waiting.splice(i, 1); reject(new ClientGoneError()); }
        },
        run: () => {
          this.#running = true;
          Promise.resolve()
            .then(() => job(ctx))
            .then(resolve, reject)
            .finally(() => {
              signal?.removeEventListener('abort', entry.onAbort);
              this.completed++;
              this.#running = false;
              this.#next();
            });
        },
      };
      signal?.addEventListener('abort', entry.onAbort, { once: true });
      this.#waiting.push(entry);
      if (!this.#running) this.#next();
    });
  }

  #next(): void {
    const e = this.#waiting.shift();
    if (e !== undefined) { e.run(); return; }
    for (const f of this.#idle.splice(0)) f();
  }

  /** Refuses every waiting job (503) and any new one; the running job finishes. */
  close(): void {
    this.#closed = true;
    for (const e of this.#waiting.splice(0)) {
      e.signal?.removeEventListener('abort', e.onAbort);
      e.reject(new HttpError(503, 'the server is shutting down'));
    }
  }

  /** Resolves when no job runs or waits. */
  idle(): Promise<void> {
    if (!this.#running && this.#waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }
}
