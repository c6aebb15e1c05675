// torch.distributed for advexp: a c10d process group (Gloo on CPU, NCCL with a CUDA libtorch) joined through a
// TCPStore rendezvous with torchrun's conventions (MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK).
//
// Collectives come in two forms: a Promise (the wait runs off the JS thread) and *Sync (the wait blocks this
// thread: for code inside a synchronous tidy scope, such as a training step). Both are issued in call order, which
// is what Gloo matches across ranks: every rank must call the same collectives in the same order. A collective keeps
// its own references to the tensors it reads and writes, so disposing them while it is in flight is safe (the
// values it writes then land in memory nobody reads).
import { native, type NativeHandle } from './native.js';
import { Tensor, keep, tidy } from './tensor.js';
import { tensor } from './creation.js';

export type Backend = 'gloo' | 'nccl';
export type ReduceOp = 'sum' | 'avg' | 'max' | 'min' | 'product';

export interface DistributedOptions {
  backend?: Backend;
  /** Rank 0's address: it hosts the rendezvous store. Default 127.0.0.1. */
  masterAddr?: string;
  /** The store's port on rank 0. Default 29500 (torchrun's). */
  masterPort?: number;
  rank: number;
  world: number;
  /** The rank on this machine (torchrun's LOCAL_RANK): which GPU a rank takes on the NCCL path. */
  localRank?: number;
  /** The network interface Gloo binds (GLOO_SOCKET_IFNAME's meaning; C++ c10d does not read that variable). */
  iface?: string;
  /** Rendezvous and every collective fail with an error after this long. Default 300,000 ms (5 min). */
  timeoutMs?: number;
  /** Gloo's worker threads. Default 2. */
  threads?: number;
}

interface NativeDistributed {
  init(o: Record<string, unknown>): Promise<void>;
  allreduce(ts: NativeHandle[], op: ReduceOp, async: boolean): Promise<void> | undefined;
  broadcast(ts: NativeHandle[], root: number, async: boolean): Promise<void> | undefined;
  allgather(ts: NativeHandle[], async: boolean): Promise<NativeHandle[]> | NativeHandle[];
  barrier(async: boolean): Promise<void> | undefined;
  reportFailure(message: string): boolean;
  sumOverRanks(t: NativeHandle): NativeHandle;
  destroy(): void;
  info(): { rank: number; world: number; backend: string; master: string; timeoutMs: number } | null;
  backends(): Backend[];
}

/** The binding's c10d functions, looked up on first use (the addon loads lazily: importing advexp needs no libtorch). */
const distNative = (): NativeDistributed => (native as unknown as { distributed: NativeDistributed }).distributed;

/** The backends this build of the addon has (Debian's libtorch: gloo; a CUDA libtorch adds nccl). */
export function distributedBackends(): Backend[] { return distNative().backends(); }

function intVar(env: NodeJS.ProcessEnv, name: string, min: number): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name}=${v}: expected an integer ≥ ${min}`);
  return n;
}

/**
 * The torchrun-style environment (any launcher: torchrun, Slurm scripts, Kubernetes), or null when WORLD_SIZE is not
 * set. GLOO_SOCKET_IFNAME names the interface; ADVEXP_DIST_TIMEOUT (seconds) the timeout.
 */
export function distributedFromEnv(env: NodeJS.ProcessEnv = process.env): DistributedOptions | null {
  const world = intVar(env, 'WORLD_SIZE', 1);
  if (world === undefined) return null;
  const rank = intVar(env, 'RANK', 0);
  if (rank === undefined) throw new Error('WORLD_SIZE is set but RANK is not: set both (torchrun conventions)');
  if (rank >= world) throw new Error(`RANK=${rank} must be below WORLD_SIZE=${world}`);
  const timeout = intVar(env, 'ADVEXP_DIST_TIMEOUT', 1);
  const o: DistributedOptions = {
    rank, world, masterAddr: env.MASTER_ADDR || '127.0.0.1', masterPort: intVar(env, 'MASTER_PORT', 1) ?? 29500,
    localRank: intVar(env, 'LOCAL_RANK', 0) ?? 0,
  };
  if (env.GLOO_SOCKET_IFNAME) o.iface = env.GLOO_SOCKET_IFNAME.split(',')[0]!;
  if (timeout !== undefined) o.timeoutMs = timeout * 1000;
  return o;
}

let active: ProcessGroup | null = null;

/** The process group of this process (one at a time), or null. */
export function processGroup(): ProcessGroup | null { return active; }

/** A c10d process group: this process is `rank` of `world`. */
export class ProcessGroup {
  readonly rank: number;
  readonly world: number;
  readonly localRank: number;
  readonly backend: Backend;
  readonly master: string;
  readonly timeoutMs: number;
  #destroyed = false;

  private constructor(o: DistributedOptions, backend: Backend) {
    this.rank = o.rank;
    this.world = o.world;
    this.localRank = o.localRank ?? 0;
    this.backend = backend;
    this.master = `${o.masterAddr ?? '127.0.0.1'}:${o.masterPort ?? 29500}`;
    this.timeoutMs = o.timeoutMs ?? 300_000;
  }

  /** Joins the group: resolves when all `world` ranks met at the store and connected, rejects after the timeout. */
  static async init(o: DistributedOptions): Promise<ProcessGroup> {
    if (active !== null) throw new Error('distributed: this process already joined a process group (destroy() it first)');
    if (!Number.isInteger(o.world) || o.world < 1) throw new Error(`distributed: world must be a positive integer, got ${o.world}`);
    if (!Number.isInteger(o.rank) || o.rank < 0 || o.rank >= o.world) throw new Error(`distributed: rank must be an integer in [0, ${o.world}), got ${o.rank}`);
    const backend = o.backend ?? 'gloo';
    if (!distNative().backends().includes(backend)) {
      throw new Error(`distributed: backend ${backend} is not in this build (${distNative().backends().join(', ') || 'none'})` +
        (backend === 'nccl' ? ': NCCL needs a CUDA libtorch (LIBTORCH=/path npm run build:native)' : ''));
    }
    await distNative().init({
      backend, masterAddr: o.masterAddr ?? '127.0.0.1', masterPort: o.masterPort ?? 29500, rank: o.rank, world: o.world,
      iface: o.iface ?? '', timeoutMs: o.timeoutMs ?? 300_000, threads: o.threads ?? 2,
    });
    active = new ProcessGroup(o, backend);
    return active;
  }

  get isRoot(): boolean { return this.rank === 0; }

  #check(): void {
    if (this.#destroyed) throw new Error('distributed: the process group was destroyed');
  }

  /** In place on every rank: the elementwise reduction of each tensor over ranks (one flattened bucket). */
  allreduce(ts: Tensor[], op: ReduceOp = 'sum'): Promise<void> {
    this.#check();
    return distNative().allreduce(ts.map((t) => t.h), op, true) as Promise<void>;
  }
  allreduceSync(ts: Tensor[], op: ReduceOp = 'sum'): void {
    this.#check();
    distNative().allreduce(ts.map((t) => t.h), op, false);
  }

  /** In place: rank root's values of each tensor on every rank. */
  broadcast(ts: Tensor[], root = 0): Promise<void> {
    this.#check();
    return distNative().broadcast(ts.map((t) => t.h), root, true) as Promise<void>;
  }
  broadcastSync(ts: Tensor[], root = 0): void {
    this.#check();
    distNative().broadcast(ts.map((t) => t.h), root, false);
  }

  /** Every rank's t (the same shape on every rank), in rank order: new tensors outside every scope (dispose them). */
  async allgather(t: Tensor): Promise<Tensor[]> {
    this.#check();
    const hs = await (distNative().allgather([t.h], true) as Promise<NativeHandle[]>);
    return hs.map((h) => keep(new Tensor(h)));
  }
  /** As allgather, in the current scope. */
  allgatherSync(t: Tensor): Tensor[] {
    this.#check();
    return (distNative().allgather([t.h], false) as NativeHandle[]).map((h) => new Tensor(h));
  }

  barrier(): Promise<void> {
    this.#check();
    return distNative().barrier(true) as Promise<void>;
  }
  barrierSync(): void {
    this.#check();
    distNative().barrier(false);
  }

  /**
   * t summed over ranks, differentiably (also twice: double backprop): the gradient of every rank's use of the sum
   * flows back to every rank's t. Blocking; for synchronised batch norm.
   */
  sumOverRanks(t: Tensor): Tensor {
    this.#check();
    return new Tensor(distNative().sumOverRanks(t.h));
  }

  /** Sums (or reduces) plain numbers over ranks, exactly for integers below 2^53 (float64). */
  allreduceNumbers(values: readonly number[], op: ReduceOp = 'sum'): number[] {
    return tidy(() => {
      const t = tensor(Float64Array.from(values), [values.length]);
      this.allreduceSync([t], op);
      return Array.from(t.data<Float64Array>());
    });
  }

  /** Rank root's bytes on every rank (the others pass anything; only root's length and contents count). */
  broadcastBytes(bytes: Uint8Array | null, root = 0): Uint8Array {
    return tidy(() => {
      const len = tensor(Float64Array.from([this.rank === root ? (bytes?.length ?? 0) : 0]), [1]);
      this.broadcastSync([len], root);
      const n = len.data<Float64Array>()[0]!;
      if (n === 0) return new Uint8Array(0);
      const buf = this.rank === root ? tensor(bytes!, [n], { dtype: 'uint8' }) : tensor(new Uint8Array(n), [n], { dtype: 'uint8' });
      this.broadcastSync([buf], root);
      return buf.data<Uint8Array>();
    });
  }

  /** Rank root's JSON-serialisable value on every rank. */
  broadcastJson<T>(value: T | undefined, root = 0): T {
    const bytes = this.rank === root ? new TextEncoder().encode(JSON.stringify(value ?? null)) : null;
    return JSON.parse(new TextDecoder().decode(this.broadcastBytes(bytes, root))) as T;
  }

  /** Every rank's bytes (any lengths), in rank order. */
  allgatherBytes(bytes: Uint8Array): Uint8Array[] {
    return tidy(() => {
      const lens = this.allgatherSync(tensor(Float64Array.from([bytes.length]), [1])).map((t) => t.data<Float64Array>()[0]!);
      const max = Math.max(...lens);
      if (max === 0) return lens.map(() => new Uint8Array(0));
      const padded = new Uint8Array(max);
      padded.set(bytes);
      const all = this.allgatherSync(tensor(padded, [max], { dtype: 'uint8' }));
      return all.map((t, r) => t.data<Uint8Array>().slice(0, lens[r]!));
    });
  }

  /**
   * This rank's indices of n items dealt in whole blocks of `block` (block k to rank k mod world), so every block is
   * processed as one process would batch it: per-item results are then the same as one process's, bit for bit.
   */
  blocks(n: number, block: number): number[] {
    const out: number[] = [];
    for (let b = this.rank; b * block < n; b += this.world) for (let i = b * block; i < Math.min(n, (b + 1) * block); i++) out.push(i);
    return out;
  }

  /** Every rank's (indices, values) put together: values by index, n of them (NaN where no rank gave one). */
  gatherIndexed(n: number, indices: readonly number[], values: ArrayLike<number>): Float64Array {
    if (indices.length !== values.length) throw new Error(`gatherIndexed: ${indices.length} indices, ${values.length} values`);
    const mine = new Float64Array(2 * indices.length);
    indices.forEach((k, j) => { mine[2 * j] = k; mine[2 * j + 1] = values[j]!; });
    const out = new Float64Array(n).fill(NaN);
    for (const bytes of this.allgatherBytes(new Uint8Array(mine.buffer))) {
      const v = new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
      for (let j = 0; j < v.length; j += 2) out[v[j]!] = v[j + 1]!;
    }
    return out;
  }

  /** Leaves this rank's reason for failing in the store, so the other ranks' errors quote it (best effort). */
  reportFailure(message: string): void {
    if (!this.#destroyed) distNative().reportFailure(message);
  }

  /** Leaves the group (joins Gloo's threads). Idempotent. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    distNative().destroy();
    if (active === this) active = null;
  }
}
