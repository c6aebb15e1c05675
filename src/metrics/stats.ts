// Summary statistics for reports and benchmarks: order statistics, mean and its standard error, correlation.

/** The q-quantile (0 ≤ q ≤ 1) with linear interpolation between order statistics (NumPy's default); NaN when empty. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((x, y) => x - y);
  const p = (s.length - 1) * q;
  const lo = Math.floor(p), hi = Math.ceil(p);
  return s[lo]! + (s[hi]! - s[lo]!) * (p - lo);
}

/** The median: the middle value, or the mean of the two middle values; NaN when empty. */
export const median = (values: readonly number[]): number => quantile(values, 0.5);

/** The arithmetic mean (summed in order); NaN when empty. */
export function mean(values: ArrayLike<number>): number {
  if (values.length === 0) return NaN;
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i]!;
  return s / values.length;
}

/** Standard error of the mean: sample standard deviation (n − 1) / √n; 0 for one value, NaN when empty. */
export function standardError(values: ArrayLike<number>): number {
  const n = values.length;
  const m = mean(values);
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (values[i]! - m) ** 2;
  return Math.sqrt(ss / Math.max(1, n - 1) / n);
}

/** Pearson correlation of two equally long arrays (NaN when either is constant). */
export function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  if (b.length !== n) throw new Error(`pearson: ${n} and ${b.length} values`);
  let ma = 0, mb = 0;
  for (let i = 0; i < n; i++) { ma += a[i]!; mb += b[i]!; }
  ma /= n; mb /= n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i]! - ma, db = b[i]! - mb;
    sab += da * db; saa += da * da; sbb += db * db;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : NaN;
}
