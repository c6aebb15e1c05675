// Process-wide engine settings: threads, RNG seed and state, devices.
import * as fs from 'node:fs';
import * as os from 'node:os';
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

// Fused batch norm and half-Huber (fusedBatchNorm, fusedHalfHuber) behind the nn layers: on unless
// ADVEXP_FUSED=0; the composite ops stay reachable for tests and comparisons.
let fused = process.env.ADVEXP_FUSED !== '0';
/** Whether the nn layers use the fused batch norm and half-Huber (on by default; ADVEXP_FUSED=0 turns it off). */
export function fusedOps(): boolean { return fused; }
/** Switches the fused layers on or off; returns the previous setting. */
export function setFusedOps(on: boolean): boolean { const prev = fused; fused = on; return prev; }

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

/** What decides which float kernels run: float32 results differ in the last bits between kernel sets (AVX2 vs AVX-512). */
export interface CpuInfo {
  /** The CPU's model name (/proc/cpuinfo, else os.cpus()). */
  model: string;
  avx2: boolean;
  avx512f: boolean;
  /** ATen's vectorised kernel set in use, as libtorch reports it ("NO AVX", AVX2, AVX512); ATEN_CPU_CAPABILITY lowers it. */
  atenCapability: string;
  /** ONEDNN_MAX_CPU_ISA when set (caps the ISA of oneDNN's convolutions), else null. */
  onednnMaxIsa: string | null;
}

let cpuInfoCache: CpuInfo | undefined;
export function cpuInfo(): CpuInfo {
  if (cpuInfoCache) return cpuInfoCache;
  let model = os.cpus()[0]?.model ?? 'unknown CPU';
  let flags = new Set<string>();
  try {
    const text = fs.readFileSync('/proc/cpuinfo', 'utf8');
    model = /^model name\s*:\s*(.+)$/m.exec(text)?.[1]?.trim() ?? model;
    flags = new Set((/^flags\s*:\s*(.+)$/m.exec(text)?.[1] ?? '').split(/\s+/));
  } catch { /* not Linux: model from os.cpus(), flags unknown */ }
  const capability = /CPU capability usage:[ \t]*(.+)$/m.exec(native.showConfig())?.[1] ?? 'unknown';
  cpuInfoCache = {
    model, avx2: flags.has('avx2'), avx512f: flags.has('avx512f'), atenCapability: capability,
    onednnMaxIsa: process.env.ONEDNN_MAX_CPU_ISA ?? process.env.DNNL_MAX_CPU_ISA ?? null,
  };
  return cpuInfoCache;
}
/** One line for logs and failure messages, e.g. "AMD EPYC 7B13 (avx2, no avx512f; ATen AVX2)". */
export function cpuSummary(): string {
  const c = cpuInfo();
  const isa = c.onednnMaxIsa === null ? '' : `, oneDNN max ${c.onednnMaxIsa}`;
  return `${c.model} (${c.avx2 ? 'avx2' : 'no avx2'}, ${c.avx512f ? 'avx512f' : 'no avx512f'}; ATen ${c.atenCapability}${isa})`;
}

/**
 * Runs fn under libtorch's autograd profiler and writes every op it ran to `traceFile` as a Chrome trace (for
 * benchmarks: bench/ts_phases.ts; open the file in chrome://tracing or Perfetto).
 */
export function withProfiler<T>(traceFile: string, fn: () => T): T {
  native.profileStart(traceFile);
  try {
    return fn();
  } finally {
    native.profileStop();
  }
}
