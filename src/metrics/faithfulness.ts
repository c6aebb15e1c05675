// Deletion and insertion (Petsiuk, Das & Saenko 2018, "RISE"): how fast the target's probability falls when the
// pixels a map ranks highest are removed first (deletion: replaced by black, lower AUC = more faithful), and how fast
// it rises when they are inserted first into a blurred copy (insertion: higher AUC = more faithful). `step` pixels
// (all channels) change per point; the AUC is the trapezoid area under probability vs. fraction of pixels changed.
// Ties in a map are broken by a seeded random order, so flat regions (Grad-CAM's zeros, LIME's superpixels) are
// not removed top-left first. The blur is a Gaussian (kernel 11, σ 5, as RISE) with edge-replicating padding.
import { tensor, tidy, pad, conv2d, seededRandom, type Tensor } from '../engine/index.js';
import { inEval, type Module } from '../nn/index.js';
import { probabilities, chunks } from '../explain/types.js';

export interface FaithfulnessOptions {
  /** Pixels changed per point (default: H·W/32, i.e. 33 points). */
  step?: number;
  /** Images per batch; each image costs 2·(points) forward passes (default 4). */
  batch?: number;
  /** Seed of the tie-breaking order (default 0). */
  seed?: number;
  /** Blur of the insertion start image (default kernel 11, σ 5). */
  blurKernel?: number;
  blurSigma?: number;
  /** Keep the curves (default false). */
  curves?: boolean;
}

export interface Faithfulness {
  /** Per image: area under the deletion curve (lower = more faithful). */
  deletion: Float64Array;
  /** Per image: area under the insertion curve (higher = more faithful). */
  insertion: Float64Array;
  /** Fractions of pixels changed at each point (0 … 1). */
  fractions: number[];
  /** Per image, the probabilities along each curve (with curves: true). */
  deletionCurves?: Float32Array[];
  insertionCurves?: Float32Array[];
}

/** Trapezoid area under y over x (x ascending). */
export function trapezoid(x: ArrayLike<number>, y: ArrayLike<number>): number {
  if (x.length !== y.length) throw new Error('trapezoid: x and y differ in length');
  let a = 0;
  for (let i = 1; i < x.length; i++) a += (x[i]! - x[i - 1]!) * (y[i]! + y[i - 1]!) / 2;
  return a;
}

/** Pixel indices by decreasing map value; ties in a seeded random order. */
export function rankPixels(map: ArrayLike<number>, seed: number): Int32Array {
  const n = map.length;
  const rnd = seededRandom(seed);
  const tie = new Float64Array(n);
  for (let i = 0; i < n; i++) tie[i] = rnd();
  const idx = Array.from({ length: n }, (_, i) => i);
  idx.sort((a, b) => (map[b]! - map[a]!) || (tie[a]! - tie[b]!));
  return Int32Array.from(idx);
}

/** A normalised 1-D Gaussian kernel. */
function gaussianKernel(size: number, sigma: number): Float32Array {
  const k = new Float32Array(size);
  const c = (size - 1) / 2;
  let s = 0;
  for (let i = 0; i < size; i++) { k[i] = Math.exp(-((i - c) ** 2) / (2 * sigma * sigma)); s += k[i]!; }
  return k.map((v) => v / s);
}

/** Separable Gaussian blur of [B, C, H, W] with edge-replicating padding. */
export function gaussianBlur(x: Tensor, size: number, sigma: number): Tensor {
  return tidy(() => {
    const c = x.shape[1]!;
    const k = tensor(gaussianKernel(size, sigma)).cast(x.dtype);
    const r = Math.floor(size / 2);
    const kh = k.reshape([1, 1, 1, size]).expand([c, 1, 1, size]).contiguous();
    const kv = k.reshape([1, 1, size, 1]).expand([c, 1, size, 1]).contiguous();
    const h = conv2d(pad(x, [r, size - 1 - r, 0, 0], 'replicate'), kh, null, { groups: c });
    return conv2d(pad(h, [0, 0, r, size - 1 - r], 'replicate'), kv, null, { groups: c });
  });
}

/**
 * Deletion and insertion AUCs of maps (n·H·W, larger = more important) for targets[i] on images[i]
 * ([N, C, H, W] in [0, 1]); the score is the target's softmax probability, model in eval mode.
 */
export function deletionInsertion(model: Module, images: Tensor, targets: Int32Array, maps: Float32Array, opts: FaithfulnessOptions = {}): Faithfulness {
  if (images.rank !== 4) throw new Error(`deletion/insertion: images must be [N, C, H, W], got [${images.shape.join(', ')}]`);
  const [n, , h, w] = images.shape as [number, number, number, number];
  const P = h * w;
  if (targets.length !== n) throw new Error(`deletion/insertion: ${targets.length} target(s) for ${n} image(s)`);
  if (maps.length !== n * P) throw new Error(`deletion/insertion: ${maps.length} map values for ${n} map(s) of ${h}×${w}`);
  const step = opts.step ?? Math.max(1, Math.round(P / 32));
  if (!Number.isInteger(step) || step < 1) throw new Error(`deletion/insertion: step must be a positive integer, got ${step}`);
  const counts: number[] = [];
  for (let k = 0; k < P; k += step) counts.push(k);
  counts.push(P);
  const T = counts.length;
  const fractions = counts.map((k) => k / P);
  const out: Faithfulness = { deletion: new Float64Array(n), insertion: new Float64Array(n), fractions };
  if (opts.curves) { out.deletionCurves = []; out.insertionCurves = []; }
  const seed = opts.seed ?? 0;
  inEval(model, () => chunks(n, opts.batch ?? 4, (s, b) => tidy(() => {
    // masks[i, t, p] = 1 where pixel p is among the first counts[t] of image i's ranking.
    const masks = new Float32Array(b * T * P);
    for (let i = 0; i < b; i++) {
      const order = rankPixels(maps.subarray((s + i) * P, (s + i + 1) * P), seed + s + i);
      for (let t = 0; t < T; t++) {
        const o = (i * T + t) * P;
        for (let j = 0; j < counts[t]!; j++) masks[o + order[j]!] = 1;
      }
    }
    const x = images.slice(0, s, s + b).detach();
    const m = tensor(masks, [b, T, 1, h, w]).cast(x.dtype);
    const xs = x.unsqueeze(1);
    const blurred = gaussianBlur(x, opts.blurKernel ?? 11, opts.blurSigma ?? 5).unsqueeze(1);
    const del = xs.mul(m.neg().add(1)).reshape([b * T, ...x.shape.slice(1)]);
    const ins = blurred.add(xs.sub(blurred).mul(m)).reshape([b * T, ...x.shape.slice(1)]);
    const idx = tensor(Int32Array.from({ length: b * T }, (_, j) => targets[s + Math.floor(j / T)]!), [b * T, 1]).cast('int64');
    const pd = probabilities(model, del).gather(1, idx).squeeze(1).cast('float32').data();
    const pi = probabilities(model, ins).gather(1, idx).squeeze(1).cast('float32').data();
    for (let i = 0; i < b; i++) {
      const cd = pd.slice(i * T, (i + 1) * T), ci = pi.slice(i * T, (i + 1) * T);
      out.deletion[s + i] = trapezoid(fractions, cd);
      out.insertion[s + i] = trapezoid(fractions, ci);
      out.deletionCurves?.push(cd);
      out.insertionCurves?.push(ci);
    }
  })));
  return out;
}

/** Seeded uniform random maps (the chance baseline of the metric). */
export function randomMaps(n: number, pixels: number, seed: number): Float32Array {
  const rnd = seededRandom(seed);
  return Float32Array.from({ length: n * pixels }, () => rnd());
}

/** How far adversarial explanations get towards their targets (advexp explain-eval's AE row). */
export interface TargetReach {
  /** Share of pairs whose AE makes the target more likely than not (p > 0.5 on x + δ). */
  reach: number;
  /** The same over the pairs whose target is not the image's predicted class; undefined when there are none. */
  reachWrong: number | undefined;
  pairs: number;
  /** Mean RMS(δ) over the pairs. */
  meanRms: number;
}

/**
 * AE target reach over (image, target) pairs: pAfter and rms per pair (an AE's details), and per pair whether its
 * target differs from the image's predicted class. Within ρ, a faithful network can be moved to a wrong class only
 * by changing what the class looks like; reaching it is what makes the explanation readable.
 */
export function targetReach(pAfter: ArrayLike<number>, rms: ArrayLike<number>, wrongTarget: ArrayLike<boolean>): TargetReach {
  const n = pAfter.length;
  if (rms.length !== n || wrongTarget.length !== n) throw new Error(`targetReach: ${n} probabilities, ${rms.length} RMS values, ${wrongTarget.length} flags`);
  let hit = 0, wrong = 0, wrongHit = 0, sumRms = 0;
  for (let j = 0; j < n; j++) {
    const ok = pAfter[j]! > 0.5;
    hit += ok ? 1 : 0;
    sumRms += rms[j]!;
    if (wrongTarget[j]) { wrong++; wrongHit += ok ? 1 : 0; }
  }
  return { reach: hit / n, reachWrong: wrong > 0 ? wrongHit / wrong : undefined, pairs: n, meanRms: sumRms / n };
}
