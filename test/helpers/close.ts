// Scale-aware float comparison for numbers computed elsewhere (golden.json, PyTorch runs pasted into tests).
// float32 results move in the last bits between CPUs, because ATen and oneDNN pick kernels per instruction set
// (AVX2 vs AVX-512) that sum in different orders. A relative test per element then fails on values near zero,
// where that noise is large against the value but tiny against the tensor. So every element is judged against
// its tensor's scale: |a − b| ≤ rtol · max|ref| + atol, like numpy.allclose with the scale taken per tensor.
// Failure messages name the CPU, since a failure on one machine only is then a kernel question, not a bug.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { cpuSummary } from '../../src/engine/index.js';
import { median } from '../../src/metrics/stats.js';

export interface Tolerance {
  rtol: number;
  atol?: number;
  /** The magnitude errors are judged against, where it is not max|ref| (a small difference of large numbers). */
  scale?: number;
}

/** Largest |a − b| / max|ref| over the tensor (0 when identical), and where it is. */
export function scaledError(actual: ArrayLike<number>, expected: ArrayLike<number>, scaleOf?: number): { err: number; index: number; scale: number } {
  let scale = scaleOf ?? 0;
  if (scaleOf === undefined) for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]!));
  let err = 0, index = -1;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.abs(actual[i]! - expected[i]!) / (scale || 1);
    if (e > err || Number.isNaN(e)) { err = Number.isNaN(e) ? Infinity : e; index = i; }
  }
  return { err, index, scale };
}

/** Asserts |a − b| ≤ rtol · max|expected| + atol for every element. */
export function assertAllClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} vs ${expected.length}`);
  const { err, index, scale } = scaledError(actual, expected, tol.scale);
  logSpread(what, err, tol);
  if (index < 0) return;
  const bound = tol.rtol * scale + (tol.atol ?? 0);
  const diff = Math.abs(actual[index]! - expected[index]!);
  assert.ok(diff <= bound,
    `${what}[${index}]: ${actual[index]} vs reference ${expected[index]}: |diff| ${diff.toExponential(2)} > ` +
    `${tol.rtol} · ${tol.scale === undefined ? 'max|ref|' : 'scale'} ${scale.toExponential(3)}${tol.atol ? ` + ${tol.atol}` : ''} on ${cpuSummary()}`);
}

/** Asserts one scalar within rtol of its reference (for scalars the scale is the value itself). */
export function assertScalarClose(actual: number, expected: number, tol: Tolerance, what: string): void {
  assertAllClose([actual], [expected], tol, what);
}

/**
 * ADVEXP_TOLERANCE_LOG=FILE appends every comparison's scaled error as a JSON line: bench/tolerance_spread.ts runs
 * the comparing tests under several kernel sets and reports each tolerance's margin over the measured spread.
 */
export function logSpread(what: string, err: number, tol: Tolerance): void {
  const file = process.env.ADVEXP_TOLERANCE_LOG;
  if (file) fs.appendFileSync(file, JSON.stringify({ what, err, rtol: tol.rtol, atol: tol.atol ?? 0, cpu: cpuSummary() }) + '\n');
}

/**
 * For ill-conditioned results (minimal distances of an iterative attack on a non-robust net, where a last-bit
 * change moves an iterate across the boundary a step earlier or later): the median of |a − b| / |b| over the
 * values within rtol. One value may jump; the routine as a whole must still agree.
 */
export function assertMedianRelClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} vs ${expected.length}`);
  const rel = Array.from(expected, (e, i) => Math.abs(actual[i]! - e) / Math.max(Math.abs(e), tol.atol ?? 0));
  const m = median(rel);
  logSpread(what, m, tol);
  assert.ok(m <= tol.rtol,
    `${what}: median relative difference ${m.toExponential(2)} > ${tol.rtol} (largest ${Math.max(...rel).toExponential(2)}) on ${cpuSummary()}`);
}
