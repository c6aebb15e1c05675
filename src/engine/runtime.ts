// Process-wide engine settings: threads, RNG seed and state, devices.
import { native } from './native.js';
import { Tensor, wrap, keep } from './tensor.js';

let interopSet = false;

/** Intra-op threads for libtorch kernels (like torch.set_num_threads). */
export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`threads must be a positive integer, got ${n}`);
  // Inter-op parallelism is unused by eager CPU work; one thread avoids idle spinning pools. It can be
  // set only once per process, before any parallel work.
  if (!interopSet) {
    interopSet = true;
    try { native.setNumInteropThreads(1); } catch { /* already started: keep libtorch's choice */ }
  }
  native.setNumThreads(n);
}
export function getNumThreads(): number { return native.getNumThreads(); }

/** Seeds libtorch's default CPU generator (rand, randn, randperm, bernoulli). */
export function manualSeed(seed: number): void { native.manualSeed(seed); }
/** The full generator state (a uint8 tensor), for bit-identical resume. Kept: dispose it yourself. */
export function getRngState(): Tensor { return keep(wrap(native.getRngState())); }
export function setRngState(state: Tensor): void { native.setRngState(state.h); }

export function cudaAvailable(): boolean { return native.cudaAvailable(); }
export function torchVersion(): string { return native.version(); }
export function parallelInfo(): string { return native.parallelInfo(); }
/** Whether the addon raised glibc's mmap/trim thresholds at load (ADVEXP_MALLOC_TUNE=0 turns it off). */
export function mallocTuned(): boolean { return native.mallocTuned(); }
