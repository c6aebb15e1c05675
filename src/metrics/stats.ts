// Order statistics for reports and benchmarks.

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
