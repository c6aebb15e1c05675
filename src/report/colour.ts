// How maps and perturbations are coloured, for the CLI's PNG panels and the web page alike (server/images.ts draws
// its overlays with these), so one map looks the same wherever it is shown. Planes are CHW floats in [0, 1].
//
// Normalisation: an importance map's zero means "no importance", so it stays the bottom of the scale. Unsigned maps
// are divided by their maximum (not stretched min-to-max, which would paint the least important pixel as if it were
// zero and exaggerate flat maps); signed maps by their largest magnitude, zero white, blue against, red for.

export type RGB = readonly [number, number, number];

/** A jet-like colour ramp: 0 → dark blue, 0.5 → green-yellow, 1 → dark red. */
export function jet(v: number): RGB {
  const t = Math.min(1, Math.max(0, Number.isFinite(v) ? v : 0));
  const ch = (c: number): number => Math.min(1, Math.max(0, 1.5 - Math.abs(4 * t - c)));
  return [ch(3), ch(2), ch(1)];
}

/**
 * A map (H·W) as RGB planes: unsigned maps are scaled by their maximum and coloured with jet; signed maps by their
 * largest magnitude, blue (negative) through white to red (positive). Non-finite values count as 0.
 */
export function heatmapRgb(map: ArrayLike<number>, height: number, width: number, signed = false): Float32Array {
  const P = height * width;
  if (map.length !== P) throw new Error(`heat map has ${map.length} values, expected ${height}×${width}`);
  const at = (p: number): number => (Number.isFinite(map[p]!) ? map[p]! : 0);
  let hi = 0;
  for (let p = 0; p < P; p++) hi = Math.max(hi, signed ? Math.abs(at(p)) : at(p));
  const out = new Float32Array(3 * P);
  for (let p = 0; p < P; p++) {
    const v = hi > 0 ? at(p) / hi : 0;
    const c: RGB = signed ? (v >= 0 ? [1, 1 - v, 1 - v] : [1 + v, 1 + v, 1]) : jet(v);
    out[p] = c[0]; out[P + p] = c[1]; out[2 * P + p] = c[2];
  }
  return out;
}

/** CHW planes of 1 or 3 channels as 3 (a grayscale image is shown in grey); 3 channels are returned as they are. */
export function asRgb(chw: Float32Array, channels: number, plane: number): Float32Array {
  if (channels === 3) return chw;
  if (channels !== 1) throw new Error(`images of ${channels} channels cannot be shown (1 or 3)`);
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) out.set(chw.subarray(0, plane), c * plane);
  return out;
}

/** (1 − α)·image + α·heat, per element (the image clamped to [0, 1]). */
export function blend(image: ArrayLike<number>, heat: ArrayLike<number>, alpha = 0.5): Float32Array {
  const out = new Float32Array(image.length);
  for (let i = 0; i < out.length; i++) out[i] = (1 - alpha) * Math.min(1, Math.max(0, image[i]!)) + alpha * heat[i]!;
  return out;
}

/** LIME's picture: the top superpixels as they are, the rest washed out towards white. */
export function limeRgb(image: ArrayLike<number>, segments: ArrayLike<number>, top: ArrayLike<number>, height: number, width: number): Float32Array {
  const P = height * width;
  const keep = new Set<number>(Array.from(top));
  const out = new Float32Array(3 * P);
  for (let p = 0; p < P; p++) {
    const on = keep.has(segments[p]!);
    for (let c = 0; c < 3; c++) {
      const v = Math.min(1, Math.max(0, image[c * P + p]!));
      out[c * P + p] = on ? v : 0.25 * v + 0.7;
    }
  }
  return out;
}

/**
 * A perturbation δ (CHW) around mid-grey: 0.5 + δ / (2·scale), so ±scale spans the full range; scale defaults to
 * max |δ| (a grid of several δ passes one shared scale). Grey where nothing changed.
 */
export function deltaRgb(delta: ArrayLike<number>, scale?: number): Float32Array {
  let hi = scale ?? 0;
  if (scale === undefined) for (let i = 0; i < delta.length; i++) hi = Math.max(hi, Math.abs(delta[i]!));
  return Float32Array.from(delta, (v) => (hi > 0 ? 0.5 + v / (2 * hi) : 0.5));
}
