// LIME for images (Ribeiro et al. 2016), as the `lime` package's LimeImageExplainer does it by default:
// superpixels (SLIC here, fine enough for 32×32), `samples` random on/off masks (the first is all on), "off"
// superpixels filled with their own mean colour, the target's softmax probability of every masked image, and a
// kernel-weighted ridge regression (α = 1, intercept) on the masks; weights = sqrt(exp(−d²/w²)) with d the
// cosine distance between the mask and all-on and w = 0.25. The map gives each pixel its superpixel's coefficient.
import { tensor, tidy, seededRandom } from '../engine/index.js';
import type { Tensor } from '../engine/index.js';
import { inEval, type Module } from '../nn/index.js';
import { slic, SLIC_DEFAULTS, type SlicOptions } from './segmentation.js';
import { type Explainer, type MethodExplanation, checkInputs, checkTargets, chunks, probabilities } from './types.js';
import { registerExplainer } from './registry.js';

export interface LimeOptions extends SlicOptions {
  /** Masked samples per image, the first all on (default 1000). */
  samples?: number;
  /** 'mean': an off superpixel takes its own mean colour (LIME's default); a number: that grey level. */
  fill?: 'mean' | number;
  /** Kernel width on the cosine distance (default 0.25). */
  kernelWidth?: number;
  /** Ridge penalty (default 1). */
  alpha?: number;
  /** Superpixels reported as the explanation (default 5). */
  topK?: number;
  /** Seed of the masks (default 0); image i draws from seed + firstImage + i. */
  seed?: number;
  /** Index of the batch's first image in a larger set (default 0), so a set explained in parts draws as it does whole. */
  firstImage?: number;
  /** Masked images per forward batch (default 100). */
  batch?: number;
}

/** LIME's settings as the `lime` package's defaults, besides the segmentation's (segmentation.ts). */
export const LIME_DEFAULTS = Object.freeze({ samples: 1000, fill: 'mean', kernelWidth: 0.25, alpha: 1, topK: 5, seed: 0, batch: 100 });

/** LIME: the segmentation and the surrogate's fit, per pair. */
export interface LimeDetails {
  /** Superpixel label per pixel, n·H·W (labels 0..count−1 per image). */
  segments: Int32Array;
  /** Number of superpixels per image. */
  counts: Int32Array;
  /** Surrogate coefficient per superpixel, per pair. */
  weights: Float64Array[];
  intercept: Float64Array;
  /** Weighted R² of the surrogate on its samples. */
  score: Float64Array;
  /** The top-k superpixels with positive weight, best first. */
  top: Int32Array[];
  /** Masked samples the surrogate was fitted on, per pair. */
  samples: number;
}

declare module './types.js' {
  interface ExplainerTypes { lime: { options: LimeOptions; details: LimeDetails } }
}

export interface RidgeFit { coef: Float64Array; intercept: number; /** Weighted R². */ score: number }

/**
 * Weighted ridge regression with an unpenalised intercept: minimises Σ_i w_i (y_i − b − x_i·β)² + α |β|²
 * (what sklearn's Ridge(alpha).fit(X, y, sample_weight=w) solves). X is rows × cols, row-major.
 */
export function ridge(X: ArrayLike<number>, y: ArrayLike<number>, w: ArrayLike<number>, rows: number, cols: number, alpha: number): RidgeFit {
  if (X.length !== rows * cols || y.length !== rows || w.length !== rows) throw new Error('ridge: sizes do not match');
  let sw = 0;
  for (let i = 0; i < rows; i++) sw += w[i]!;
  if (!(sw > 0)) throw new Error('ridge: weights sum to zero');
  const xm = new Float64Array(cols);
  let ym = 0;
  for (let i = 0; i < rows; i++) {
    ym += w[i]! * y[i]!;
    for (let j = 0; j < cols; j++) xm[j]! += w[i]! * X[i * cols + j]!;
  }
  ym /= sw;
  for (let j = 0; j < cols; j++) xm[j]! /= sw;
  // Normal equations of the centred problem: (Xcᵀ W Xc + α I) β = Xcᵀ W yc.
  const A = new Float64Array(cols * cols);
  const rhs = new Float64Array(cols);
  const xc = new Float64Array(cols);
  for (let i = 0; i < rows; i++) {
    const wi = w[i]!;
    if (wi === 0) continue;
    for (let j = 0; j < cols; j++) xc[j] = X[i * cols + j]! - xm[j]!;
    const yc = y[i]! - ym;
    for (let j = 0; j < cols; j++) {
      const v = wi * xc[j]!;
      if (v === 0) continue;
      rhs[j]! += v * yc;
      for (let l = j; l < cols; l++) A[j * cols + l]! += v * xc[l]!;
    }
  }
  for (let j = 0; j < cols; j++) {
    A[j * cols + j]! += alpha;
    for (let l = 0; l < j; l++) A[j * cols + l] = A[l * cols + j]!;
  }
  const coef = solve(A, rhs, cols);
  let intercept = ym;
  for (let j = 0; j < cols; j++) intercept -= xm[j]! * coef[j]!;
  let ssr = 0, sst = 0;
  for (let i = 0; i < rows; i++) {
    let pred = intercept;
    for (let j = 0; j < cols; j++) pred += X[i * cols + j]! * coef[j]!;
    ssr += w[i]! * (y[i]! - pred) ** 2;
    sst += w[i]! * (y[i]! - ym) ** 2;
  }
  return { coef, intercept, score: sst > 0 ? 1 - ssr / sst : 1 };
}

/** Gaussian elimination with partial pivoting (A is n×n, overwritten). */
function solve(A: Float64Array, b: Float64Array, n: number): Float64Array {
  const x = Float64Array.from(b);
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(A[r * n + c]!) > Math.abs(A[piv * n + c]!)) piv = r;
    if (Math.abs(A[piv * n + c]!) < 1e-300) throw new Error('ridge: singular system (use alpha > 0)');
    if (piv !== c) {
      for (let j = 0; j < n; j++) { const t = A[c * n + j]!; A[c * n + j] = A[piv * n + j]!; A[piv * n + j] = t; }
      const t = x[c]!; x[c] = x[piv]!; x[piv] = t;
    }
    for (let r = c + 1; r < n; r++) {
      const f = A[r * n + c]! / A[c * n + c]!;
      if (f === 0) continue;
      for (let j = c; j < n; j++) A[r * n + j]! -= f * A[c * n + j]!;
      x[r]! -= f * x[c]!;
    }
  }
  for (let r = n - 1; r >= 0; r--) {
    let s = x[r]!;
    for (let j = r + 1; j < n; j++) s -= A[r * n + j]! * x[j]!;
    x[r] = s / A[r * n + r]!;
  }
  return x;
}

/** The samples × segments on/off masks: row 0 all on, the rest fair coin flips from the seeded generator. */
export function limeMasks(samples: number, segments: number, seed: number): Uint8Array {
  const rnd = seededRandom(seed);
  const m = new Uint8Array(samples * segments);
  m.fill(1, 0, segments);
  for (let i = segments; i < m.length; i++) m[i] = rnd() < 0.5 ? 0 : 1;
  return m;
}

/** LIME's sample weights: sqrt(exp(−d²/w²)), d = cosine distance of each mask to all-on = 1 − sqrt(on/segments). */
export function limeKernel(masks: Uint8Array, samples: number, segments: number, width: number): Float64Array {
  const out = new Float64Array(samples);
  for (let i = 0; i < samples; i++) {
    let on = 0;
    for (let j = 0; j < segments; j++) on += masks[i * segments + j]!;
    const d = 1 - Math.sqrt(on / segments);
    out[i] = Math.sqrt(Math.exp(-(d * d) / (width * width)));
  }
  return out;
}

export class Lime implements Explainer<'lime', LimeDetails> {
  readonly name = 'lime' as const;
  readonly opts: Required<Omit<LimeOptions, keyof SlicOptions | 'firstImage'>> & SlicOptions & { firstImage: number };
  constructor(opts: LimeOptions = {}) {
    this.opts = { ...LIME_DEFAULTS, ...opts, firstImage: opts.firstImage ?? 0 };
    const o = this.opts;
    if (!Number.isInteger(o.samples) || o.samples < 2) throw new Error(`lime: samples must be an integer ≥ 2, got ${o.samples}`);
    if (!(o.kernelWidth > 0)) throw new Error(`lime: kernelWidth must be > 0, got ${o.kernelWidth}`);
    if (!(o.alpha >= 0)) throw new Error(`lime: alpha must be ≥ 0, got ${o.alpha}`);
    if (o.fill !== 'mean' && !Number.isFinite(o.fill)) throw new Error(`lime: fill must be 'mean' or a number, got ${String(o.fill)}`);
  }

  attribute(model: Module, images: Tensor, targets: Int32Array): MethodExplanation<'lime', LimeDetails> {
    const [n, c, h, w] = checkInputs('lime', images, targets);
    if (c !== 3 && c !== 1) throw new Error(`lime: the segmentation needs RGB or grayscale images, got ${c} channel(s)`);
    const o = this.opts;
    const P = h * w;
    const maps = new Float32Array(n * P);
    const pBefore = new Float32Array(n);
    const det: LimeDetails = {
      segments: new Int32Array(n * P), counts: new Int32Array(n), weights: [], intercept: new Float64Array(n),
      score: new Float64Array(n), top: [], samples: o.samples,
    };
    inEval(model, () => {
      for (let i = 0; i < n; i++) {
        const img = tidy(() => images.select(0, i).contiguous().cast('float32').data());
        // SLIC works in CIELAB: a gray image is segmented as the RGB picture it shows (its plane tripled).
        const seg = slic(c === 3 ? img : Float32Array.from({ length: 3 * P }, (_, k) => img[k % P]!), h, w, o);
        det.segments.set(seg.labels, i * P);
        det.counts[i] = seg.count;
        const K = seg.count;
        const fill = fillImage(img, c, seg.labels, K, P, o.fill);
        const masks = limeMasks(o.samples, K, o.seed + o.firstImage + i);
        const y = new Float64Array(o.samples);
        tidy(() => {
          const x = images.slice(0, i, i + 1).detach();
          const f = tensor(fill, [1, c, h, w]).cast(x.dtype);
          const diff = x.sub(f);
          const segT = tensor(seg.labels, [P]).cast('int64');
          chunks(o.samples, o.batch, (s, b) => tidy(() => {
            const m = tensor(masks.subarray(s * K, (s + b) * K), [b, K]).cast(x.dtype);
            const pix = m.indexSelect(1, segT).reshape([b, 1, h, w]);
            const probs = probabilities(model, f.add(diff.mul(pix)));
            if (s === 0) checkTargets('lime', targets.subarray(i, i + 1), probs.shape[1]!);
            const p = probs.select(1, targets[i]!).cast('float32').data();
            for (let j = 0; j < b; j++) y[s + j] = p[j]!;
          }));
        });
        pBefore[i] = y[0]!; // sample 0 is the unmasked image
        const fit = ridge(masks, y, limeKernel(masks, o.samples, K, o.kernelWidth), o.samples, K, o.alpha);
        det.weights.push(fit.coef);
        det.intercept[i] = fit.intercept;
        det.score[i] = fit.score;
        const order = Array.from(fit.coef.keys()).filter((j) => fit.coef[j]! > 0).sort((a, b) => fit.coef[b]! - fit.coef[a]! || a - b);
        det.top.push(Int32Array.from(order.slice(0, o.topK)));
        for (let p = 0; p < P; p++) maps[i * P + p] = fit.coef[seg.labels[p]!]!;
      }
    });
    return { method: 'lime', n, channels: c, height: h, width: w, targets: Int32Array.from(targets), maps, pBefore, details: det };
  }
}

/** The "off" image: every superpixel its own mean colour (or a constant grey). */
function fillImage(img: Float32Array, C: number, labels: Int32Array, K: number, P: number, fill: 'mean' | number): Float32Array {
  const out = new Float32Array(C * P);
  if (fill !== 'mean') return out.fill(fill);
  const sum = new Float64Array(C * K);
  const cnt = new Float64Array(K);
  for (let p = 0; p < P; p++) {
    const l = labels[p]!;
    cnt[l]! += 1;
    for (let ch = 0; ch < C; ch++) sum[ch * K + l]! += img[ch * P + p]!;
  }
  for (let p = 0; p < P; p++) {
    const l = labels[p]!;
    for (let ch = 0; ch < C; ch++) out[ch * P + p] = sum[ch * K + l]! / cnt[l]!;
  }
  return out;
}

registerExplainer<'lime', LimeOptions, LimeDetails>({
  name: 'lime', label: 'LIME', short: 'LIME', signed: true, overlay: false,
  options: [
    { name: 'samples', flag: 'lime-samples', metavar: 'N', kind: 'int', default: LIME_DEFAULTS.samples, min: 2, help: 'LIME masked samples per image' },
    { name: 'segments', flag: 'segments', metavar: 'K', kind: 'int', default: SLIC_DEFAULTS.segments, min: 1, help: 'LIME: SLIC superpixels' },
    { name: 'topK', flag: 'top-k', metavar: 'K', kind: 'int', default: LIME_DEFAULTS.topK, min: 1, help: 'LIME: superpixels shown' },
  ],
  create: (o) => new Lime(o),
  summary: (r, i) => `${r.details.counts[i]} superpixels, ${r.details.samples} samples, R² ${r.details.score[i]!.toFixed(2)}`,
  record: (r, i) => ({
    superpixels: r.details.counts[i]!, top: r.details.top[i]!, weights: r.details.weights[i]!, intercept: r.details.intercept[i]!, r2: r.details.score[i]!,
  }),
  regions: (r, i) => {
    const P = r.height * r.width;
    return { segments: r.details.segments.subarray(i * P, (i + 1) * P), chosen: r.details.top[i]! };
  },
});
