// SLIC, the weighted ridge fit, LIME end to end, and deletion/insertion, each against something independent of the
// code under test: geometric properties of a segmentation, the normal equations' optimality condition and exact
// recovery, a model whose evidence sits in a known region, and hand-computed curves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor, tidy, full, type Tensor } from '../../src/engine/index.js';
import { Module } from '../../src/nn/index.js';
import { slic, enforceConnectivity, ridge, limeKernel, limeMasks, Lime } from '../../src/explain/index.js';
import { deletionInsertion, trapezoid, rankPixels, gaussianBlur } from '../../src/metrics/faithfulness.js';

/** Two colours split by a diagonal edge, plus mild texture. */
function twoTone(h: number, w: number): Float32Array {
  const P = h * w;
  const img = new Float32Array(3 * P);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = y * w + x, left = x + 0.5 * y < 20;
      const n = ((x * 7 + y * 13) % 5) / 100;
      img[p] = left ? 0.9 - n : 0.1 + n; img[P + p] = left ? 0.2 : 0.6; img[2 * P + p] = left ? 0.1 + n : 0.8;
    }
  }
  return img;
}

function components(labels: Int32Array, h: number, w: number): number {
  return enforceConnectivity(labels, h, w, 1).count;
}

test('SLIC at 32×32: ~64 connected superpixels covering the image, none across a sharp colour edge, deterministic', () => {
  const img = twoTone(32, 32);
  const s = slic(img, 32, 32, { segments: 64 });
  assert.ok(s.count >= 40 && s.count <= 90, `count ${s.count}`);
  const seen = new Set(s.labels);
  assert.equal(seen.size, s.count, 'labels are 0..count−1');
  assert.ok(Math.max(...s.labels) === s.count - 1 && Math.min(...s.labels) === 0);
  assert.equal(components(s.labels, 32, 32), s.count, 'every superpixel is one 4-connected region');
  const side = new Map<number, Set<boolean>>();
  s.labels.forEach((l, p) => { const x = p % 32, y = Math.floor(p / 32); (side.get(l) ?? side.set(l, new Set()).get(l)!).add(x + 0.5 * y < 20); });
  for (const [l, sides] of side) assert.equal(sides.size, 1, `superpixel ${l} straddles the colour edge`);
  const sizes = new Map<number, number>();
  for (const l of s.labels) sizes.set(l, (sizes.get(l) ?? 0) + 1);
  assert.ok(Math.min(...sizes.values()) >= 4, 'small fragments are merged');
  assert.deepEqual(slic(img, 32, 32, { segments: 64 }).labels, s.labels);
  assert.throws(() => slic(img, 32, 31), /3×32×31/);
});

test('weighted ridge: normal-equation optimality, exact recovery, sklearn-style intercept', () => {
  let seed = 7;
  const rnd = (): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
  const rows = 200, cols = 6;
  const X = Float64Array.from({ length: rows * cols }, () => (rnd() < 0.5 ? 0 : 1));
  const beta = [0.3, -0.2, 0, 1.5, 0.05, -0.7];
  const y = Float64Array.from({ length: rows }, (_, i) => 0.4 + beta.reduce((s, b, j) => s + b * X[i * cols + j]!, 0));
  const w = Float64Array.from({ length: rows }, () => 0.2 + rnd());
  const exact = ridge(X, y, w, rows, cols, 0);
  exact.coef.forEach((c, j) => assert.ok(Math.abs(c - beta[j]!) < 1e-9, `coef ${j}: ${c}`));
  assert.ok(Math.abs(exact.intercept - 0.4) < 1e-9 && Math.abs(exact.score - 1) < 1e-12);
  const noisy = Float64Array.from(y, (v) => v + (rnd() - 0.5) * 0.3);
  const alpha = 2.5;
  const f = ridge(X, noisy, w, rows, cols, alpha);
  // ∂/∂β_j [Σ w_i (y_i − b − x_i·β)² + α|β|²] = 0 and ∂/∂b = 0 at the optimum.
  const res = Float64Array.from({ length: rows }, (_, i) => noisy[i]! - f.intercept - f.coef.reduce((s, c, j) => s + c * X[i * cols + j]!, 0));
  const db = res.reduce((s, r, i) => s + w[i]! * r, 0);
  assert.ok(Math.abs(db) < 1e-9, `intercept gradient ${db}`);
  for (let j = 0; j < cols; j++) {
    const g = -2 * res.reduce((s, r, i) => s + w[i]! * r * X[i * cols + j]!, 0) + 2 * alpha * f.coef[j]!;
    assert.ok(Math.abs(g) < 1e-9, `coef ${j} gradient ${g}`);
  }
  assert.ok(f.score > 0.5 && f.score < 1);
});

test('LIME kernel and masks: all-on first, cosine distance 1 − sqrt(on/K), weights sqrt(exp(−d²/w²))', () => {
  const m = limeMasks(50, 9, 3);
  assert.ok(m.subarray(0, 9).every((v) => v === 1));
  assert.deepEqual(limeMasks(50, 9, 3), m);
  const k = limeKernel(Uint8Array.from([1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0]), 3, 4, 0.25);
  assert.ok(Math.abs(k[0]! - 1) < 1e-15);
  const d = 1 - Math.sqrt(2 / 4);
  assert.ok(Math.abs(k[1]! - Math.sqrt(Math.exp(-(d * d) / 0.0625))) < 1e-15);
  assert.ok(Math.abs(k[2]! - Math.sqrt(Math.exp(-1 / 0.0625))) < 1e-15);
});

/** Class 1's logit = gain·(mean red over a rectangle − threshold), class 0's is 0: only that region matters. */
class RegionNet extends Module {
  constructor(readonly y0: number, readonly y1: number, readonly x0: number, readonly x1: number, readonly gain = 10, readonly threshold = 0.6) { super(); }
  protected forward(x: Tensor): Tensor {
    const r = x.select(1, 0).slice(1, this.y0, this.y1).slice(2, this.x0, this.x1).mean([1, 2]).sub(this.threshold).mul(this.gain);
    return tensor([0, 1], [1, 2]).mul(r.reshape([-1, 1]));
  }
}

test('LIME puts its top superpixels where the evidence is', () => tidy(() => {
  const net = new RegionNet(8, 20, 10, 22);
  const img = new Float32Array(3 * 1024).fill(0.3);
  for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) img[y * 32 + x] = 0.3 + 0.1 * Math.sin(x / 3) * Math.cos(y / 4) + (y >= 8 && y < 20 && x >= 10 && x < 22 ? 0.5 : 0);
  const x = tensor(img, [1, 3, 32, 32]);
  const r = new Lime({ samples: 300, segments: 36, topK: 3, fill: 0 }).attribute(net, x, Int32Array.from([1]));
  const L = r.details;
  assert.equal(L.top[0]!.length, 3);
  assert.ok(L.score[0]! > 0.5, `surrogate R² ${L.score[0]}`);
  for (const seg of L.top[0]!) {
    let inside = 0, total = 0;
    L.segments.forEach((l, p) => { if (l === seg) { total++; const yy = Math.floor(p / 32), xx = p % 32; if (yy >= 8 && yy < 20 && xx >= 10 && xx < 22) inside++; } });
    assert.ok(inside / total > 0.5, `top superpixel ${seg} lies outside the evidence (${inside}/${total})`);
  }
  assert.ok(Math.abs(r.pBefore[0]! - 1 / (1 + Math.exp(-10 * (meanRed(img) - 0.6)))) < 1e-5, 'pBefore is the unmasked probability');
}));
function meanRed(img: Float32Array): number {
  let s = 0;
  for (let y = 8; y < 20; y++) for (let x = 10; x < 22; x++) s += img[y * 32 + x]!;
  return s / 144;
}

test('trapezoid, tie-breaking ranks, blur of a constant', () => {
  assert.equal(trapezoid([0, 0.5, 1], [1, 0.5, 0]), 0.5);
  assert.equal(trapezoid([0, 1], [1, 1]), 1);
  const r = rankPixels([0.1, 0.9, 0.5, 0.5, 0.5], 1);
  assert.deepEqual(Array.from(r.slice(0, 2)), [1, r[1]!]);
  assert.equal(r[0], 1);
  assert.deepEqual(new Set(r.slice(1, 4)), new Set([2, 3, 4]));
  assert.equal(r[4], 0);
  tidy(() => {
    const b = gaussianBlur(full([1, 3, 9, 9], 0.7), 11, 5).data();
    assert.ok(b.every((v) => Math.abs(v - 0.7) < 1e-6), 'edge-replicating blur keeps a constant image');
  });
});

test('deletion/insertion: the right map deletes fast and inserts fast, the reversed one does not', () => tidy(() => {
  const net = new RegionNet(13, 19, 13, 19, 40, 0.8);    // evidence: the red of a 6×6 square
  const inSquare = (p: number): boolean => { const y = Math.floor(p / 32), x = p % 32; return y >= 13 && y < 19 && x >= 13 && x < 19; };
  const img = new Float32Array(3 * 1024).fill(0.2);
  for (let p = 0; p < 1024; p++) if (inSquare(p)) img[p] = 1;
  const x = tensor(img, [1, 3, 32, 32]);
  const good = Float32Array.from({ length: 1024 }, (_, p) => (inSquare(p) ? 1 : 0));
  const bad = Float32Array.from(good, (v) => 1 - v);
  const t = Int32Array.from([1]);
  const fg = deletionInsertion(net, x, t, good, { step: 32, curves: true });
  const fb = deletionInsertion(net, x, t, bad, { step: 32, curves: true });
  assert.equal(fg.fractions.length, 33);
  assert.equal(fg.deletionCurves![0]!.length, 33);
  // Good map: k steps remove min(36, 32k) square pixels (set to black); p = σ(40 (mean red − 0.8)), ties in any order.
  const p = (red: number): number => 1 / (1 + Math.exp(-40 * (red - 0.8)));
  fg.deletionCurves![0]!.forEach((v, k) => assert.ok(Math.abs(v - p(Math.max(0, 36 - 32 * k) / 36)) < 1e-5, `deletion point ${k}: ${v}`));
  assert.ok(fg.deletion[0]! < 0.1 && fb.deletion[0]! > 0.9, `deletion AUC good ${fg.deletion[0]} vs reversed ${fb.deletion[0]}`);
  assert.ok(fg.insertion[0]! > 0.9 && fb.insertion[0]! < 0.1, `insertion AUC good ${fg.insertion[0]} vs reversed ${fb.insertion[0]}`);
  assert.ok(fg.insertionCurves![0]![0]! < 0.01, 'the blurred start image has lost the evidence');
  assert.throws(() => deletionInsertion(net, x, t, good.subarray(0, 10)), /10 map values/);
}));
