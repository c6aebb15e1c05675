// SLIC superpixels (Achanta et al. 2012), written for small images: k-means in (CIELAB, x, y) with each centre
// searching a 2S×2S window, S = sqrt(H·W / segments), distance sqrt(d_lab² + (d_xy / S)² · m²) with compactness m,
// then connectivity enforced (every label one 4-connected region; regions under minSize merged into a neighbour)
// and labels renumbered in raster order. At 32×32 with 64 segments a superpixel is about 4×4 pixels.

export const SLIC_DEFAULTS = Object.freeze({ segments: 64, compactness: 10, iterations: 10, minSizeFactor: 0.25 });

export interface SlicOptions {
  /** Approximate number of superpixels (default 64). */
  segments?: number;
  /** m: larger = more square superpixels, smaller = closer to colour edges (default 10, on the Lab scale). */
  compactness?: number;
  /** k-means iterations (default 10). */
  iterations?: number;
  /** Regions smaller than this fraction of the nominal superpixel area S² are merged into a neighbour (default 0.25). */
  minSizeFactor?: number;
}

export interface Segmentation {
  /** Label per pixel, H·W row-major, 0..count−1. */
  labels: Int32Array;
  count: number;
}

/** sRGB in [0, 1] (CHW planes) to CIELAB (D65), three planes. */
export function rgbToLab(chw: ArrayLike<number>, pixels: number): Float64Array {
  const out = new Float64Array(3 * pixels);
  const lin = (c: number): number => {
    const v = Math.min(1, Math.max(0, c));
    return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  };
  const f = (t: number): number => (t > 216 / 24389 ? Math.cbrt(t) : (24389 / 27 * t + 16) / 116);
  for (let i = 0; i < pixels; i++) {
    const r = lin(chw[i]!), g = lin(chw[pixels + i]!), b = lin(chw[2 * pixels + i]!);
    const x = (0.4124564 * r + 0.3575761 * g + 0.1804375 * b) / 0.95047;
    const y = 0.2126729 * r + 0.7151522 * g + 0.0721750 * b;
    const z = (0.0193339 * r + 0.1191920 * g + 0.9503041 * b) / 1.08883;
    const fx = f(x), fy = f(y), fz = f(z);
    out[i] = 116 * fy - 16;
    out[pixels + i] = 500 * (fx - fy);
    out[2 * pixels + i] = 200 * (fy - fz);
  }
  return out;
}

/** SLIC of an RGB image (CHW, values in [0, 1], `height`×`width`). Deterministic. */
export function slic(chw: ArrayLike<number>, height: number, width: number, opts: SlicOptions = {}): Segmentation {
  const k = opts.segments ?? SLIC_DEFAULTS.segments;
  const m = opts.compactness ?? SLIC_DEFAULTS.compactness;
  const iters = opts.iterations ?? SLIC_DEFAULTS.iterations;
  const minFactor = opts.minSizeFactor ?? SLIC_DEFAULTS.minSizeFactor;
  const P = height * width;
  if (!Number.isInteger(k) || k < 1) throw new Error(`slic: segments must be a positive integer, got ${k}`);
  if (!(m > 0) || !Number.isFinite(m)) throw new Error(`slic: compactness must be > 0, got ${m}`);
  if (chw.length !== 3 * P) throw new Error(`slic: ${chw.length} values for a 3×${height}×${width} image`);
  const lab = rgbToLab(chw, P);
  const S = Math.max(1, Math.sqrt(P / k));
  // Centres on a regular grid, ny × nx ≈ k.
  const ny = Math.max(1, Math.min(height, Math.round(height / S)));
  const nx = Math.max(1, Math.min(width, Math.round(width / S)));
  const C = ny * nx;
  const cen = new Float64Array(C * 5); // L, a, b, y, x
  for (let i = 0; i < ny; i++) {
    for (let j = 0; j < nx; j++) {
      const y = Math.min(height - 1, Math.floor((i + 0.5) * height / ny));
      const x = Math.min(width - 1, Math.floor((j + 0.5) * width / nx));
      const c = (i * nx + j) * 5, p = y * width + x;
      cen[c] = lab[p]!; cen[c + 1] = lab[P + p]!; cen[c + 2] = lab[2 * P + p]!; cen[c + 3] = y; cen[c + 4] = x;
    }
  }
  const label = new Int32Array(P).fill(-1);
  const dist = new Float64Array(P);
  const sw = (m / S) ** 2;
  const R = Math.ceil(2 * S);
  const acc = new Float64Array(C * 6);
  for (let it = 0; it < iters; it++) {
    dist.fill(Infinity);
    for (let c = 0; c < C; c++) {
      const o = c * 5;
      const cy = cen[o + 3]!, cx = cen[o + 4]!;
      const y0 = Math.max(0, Math.floor(cy - R)), y1 = Math.min(height - 1, Math.ceil(cy + R));
      const x0 = Math.max(0, Math.floor(cx - R)), x1 = Math.min(width - 1, Math.ceil(cx + R));
      for (let y = y0; y <= y1; y++) {
        for (let x = x0; x <= x1; x++) {
          const p = y * width + x;
          const dl = lab[p]! - cen[o]!, da = lab[P + p]! - cen[o + 1]!, db = lab[2 * P + p]! - cen[o + 2]!;
          const dy = y - cy, dx = x - cx;
          const d = dl * dl + da * da + db * db + (dy * dy + dx * dx) * sw;
          if (d < dist[p]!) { dist[p] = d; label[p] = c; }
        }
      }
    }
    acc.fill(0);
    for (let p = 0; p < P; p++) {
      const c = label[p]!;
      if (c < 0) continue;
      const o = c * 6;
      acc[o]! += lab[p]!; acc[o + 1]! += lab[P + p]!; acc[o + 2]! += lab[2 * P + p]!;
      acc[o + 3]! += Math.floor(p / width); acc[o + 4]! += p % width; acc[o + 5]! += 1;
    }
    for (let c = 0; c < C; c++) {
      const cnt = acc[c * 6 + 5]!;
      if (cnt === 0) continue;
      for (let j = 0; j < 5; j++) cen[c * 5 + j] = acc[c * 6 + j]! / cnt;
    }
  }
  // Every pixel lies in some centre's window (windows of 2S around a grid of spacing ≤ S cover the image).
  return enforceConnectivity(label, height, width, Math.max(1, Math.floor(minFactor * S * S)));
}

/**
 * Splits labels into 4-connected regions, merges every region smaller than minSize into the neighbouring region of at
 * least minSize it shares the longest border with (repeated until none is left; a cluster of small regions with no
 * large neighbour merges into its longest-bordering neighbour, smallest first), and renumbers regions 0.. in raster
 * order of their first pixel. Merging only into large regions keeps small fragments from snowballing.
 */
export function enforceConnectivity(label: Int32Array, height: number, width: number, minSize: number): Segmentation {
  const P = height * width;
  const region = new Int32Array(P).fill(-1);
  const sizes: number[] = [];
  const stack = new Int32Array(P);
  const neighbours = (p: number): number[] => {
    const y = Math.floor(p / width), x = p % width;
    const out: number[] = [];
    if (x > 0) out.push(p - 1);
    if (x < width - 1) out.push(p + 1);
    if (y > 0) out.push(p - width);
    if (y < height - 1) out.push(p + width);
    return out;
  };
  for (let p0 = 0; p0 < P; p0++) {
    if (region[p0]! >= 0) continue;
    const r = sizes.length;
    let top = 0, size = 0;
    stack[top++] = p0;
    region[p0] = r;
    while (top > 0) {
      const p = stack[--top]!;
      size++;
      for (const q of neighbours(p)) if (region[q]! < 0 && label[q] === label[p]) { region[q] = r; stack[top++] = q; }
    }
    sizes.push(size);
  }
  const parent = sizes.map((_, i) => i);
  const find = (r: number): number => { while (parent[r] !== r) r = parent[r] = parent[parent[r]!]!; return r; };
  const size = [...sizes];
  for (;;) {
    // Border lengths between current regions, one scan.
    const border = new Map<number, Map<number, number>>();
    for (let p = 0; p < P; p++) {
      const r = find(region[p]!);
      if (size[r]! >= minSize) continue;
      for (const q of neighbours(p)) {
        const s = find(region[q]!);
        if (s === r) continue;
        const m = border.get(r) ?? border.set(r, new Map()).get(r)!;
        m.set(s, (m.get(s) ?? 0) + 1);
      }
    }
    if (border.size === 0) break;
    const longest = (m: Map<number, number>, bigOnly: boolean): number => {
      let best = -1, len = -1;
      for (const [s, l] of m) if ((!bigOnly || size[s]! >= minSize) && (l > len || (l === len && s < best))) { best = s; len = l; }
      return best;
    };
    let merged = false;
    for (const [r, m] of border) {
      const to = longest(m, true);
      if (to < 0) continue;
      parent[r] = to;
      size[to]! += size[r]!;
      merged = true;
    }
    if (merged) continue;
    // Only small regions around: merge the smallest into its longest-bordering neighbour.
    const r = [...border.keys()].sort((a, b) => size[a]! - size[b]! || a - b)[0]!;
    const to = longest(border.get(r)!, false);
    parent[r] = to;
    size[to]! += size[r]!;
  }
  const ids = new Map<number, number>();
  const out = new Int32Array(P);
  for (let p = 0; p < P; p++) {
    const r = find(region[p]!);
    let id = ids.get(r);
    if (id === undefined) { id = ids.size; ids.set(r, id); }
    out[p] = id;
  }
  return { labels: out, count: ids.size };
}
