// ARA (METHOD.md §6): the exact sorted sum against hand arithmetic and a brute-force integral of
// max(0, Acc(ε) − 1/K); the histogram value against the reference's torch.histc formula run in PyTorch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setNumThreads } from '../../src/engine/index.js';
import { araExact, araHistogram, accuracyAt, accuracyCurve, araDistances, evaluateAra } from '../../src/metrics/ara.js';
import { PaperMinimalAttack, Misclassification } from '../../src/attack/index.js';
import { makeLinear, rng, logits64, argmax, floatImages } from '../attack/linear-model.js';
import { assertAllClose } from '../helpers/close.js';

setNumThreads(1);

/** ∫₀^max max(0, Acc(ε) − 1/K) dε by the midpoint rule on a fine grid (Acc(ε) = share of distances > ε). */
function bruteForce(d: number[], K: number, steps = 200000): number {
  const max = Math.max(...d);
  if (max === 0) return 0;
  const h = max / steps;
  let s = 0;
  for (let i = 0; i < steps; i++) {
    const e = (i + 0.5) * h;
    s += Math.max(0, d.filter((v) => v > e).length / d.length - 1 / K);
  }
  return s * h;
}

const D20 = [0.0031, 0.0, 0.0125, 0.0047, 0.0093, 0.0008, 0.0211, 0.0047, 0.0152, 0.0069, 0.0, 0.0384, 0.0029, 0.0111, 0.0056, 0.0173, 0.0047, 0.0260, 0.0019, 0.0088];

test('araExact: hand-computed sums', () => {
  // sorted 0.3, 0.2, 0.1, 0 (N = 4, K = 10): 0.1·0.15 + 0.1·0.40 + 0.1·0.65 + 0·0.90 = 0.12
  assert.ok(Math.abs(araExact([0.3, 0.1, 0.2, 0], 10) - 0.12) < 1e-15);
  // one image: (d − 0)·(1 − 1/K)
  assert.ok(Math.abs(araExact([0.5], 10) - 0.45) < 1e-15);
  // K = 2: 0.5·max(0, 1/2 − 1/2) + 0.25·max(0, 1 − 1/2) = 0.125
  assert.ok(Math.abs(araExact([0.5, 0.25], 2) - 0.125) < 1e-15);
  assert.equal(araExact([], 10), 0);
  assert.equal(araExact([0, 0, 0], 10), 0);
  // order does not matter
  assert.equal(araExact([0.1, 0.3, 0.2], 10), araExact([0.3, 0.2, 0.1], 10));
});

test('araExact equals the integral of max(0, Acc(ε) − 1/K) (brute force)', () => {
  const r = rng(99);
  for (const [n, K] of [[20, 10], [37, 10], [50, 4]] as const) {
    const d = Array.from({ length: n }, () => (r() < 0.1 ? 0 : r() ** 2 * 0.05));
    const want = bruteForce(d, K);
    assert.ok(Math.abs(araExact(d, K) - want) < 1e-5 * Math.max(...d), `n=${n} K=${K}: ${araExact(d, K)} vs ${want}`);
  }
  const want = bruteForce(D20, 10);
  assert.ok(Math.abs(araExact(D20, 10) - want) < 1e-7, `${araExact(D20, 10)} vs ${want}`);
});

test('araHistogram reproduces the reference formula computed by PyTorch (torch.histc, 1000 bins)', () => {
  // /usr/bin/python3: bench/torch_attack.py ara_histogram(D20) and ara_histogram([0.5, 0.25])
  assert.ok(Math.abs(araHistogram(D20, 10) - 0.006514560431241989) < 1e-6 * 0.0065, `${araHistogram(D20, 10)}`);
  assert.ok(Math.abs(araHistogram([0.5, 0.25], 10) - 0.3247999846935272) < 1e-6 * 0.33, `${araHistogram([0.5, 0.25], 10)}`);
  assert.equal(araHistogram([0, 0], 10), 0);
  assert.equal(araHistogram([], 10), 0);
});

test('araHistogram is within one bin width (max/1000) of araExact', () => {
  const r = rng(7);
  for (let k = 0; k < 20; k++) {
    const n = 10 + Math.floor(r() * 200);
    const d = Array.from({ length: n }, () => (r() < 0.05 ? 0 : r() * r() * 0.1));
    const bin = Math.max(...d) / 1000;
    assert.ok(Math.abs(araHistogram(d, 10) - araExact(d, 10)) <= bin, `n=${n}: ${araHistogram(d, 10)} vs ${araExact(d, 10)}, bin ${bin}`);
  }
});

test('distances must be finite and ≥ 0', () => {
  assert.throws(() => araExact([0.1, -1], 10), /finite and ≥ 0/);
  assert.throws(() => araExact([0.1, Infinity], 10), /finite and ≥ 0/);
  assert.throws(() => araHistogram([NaN], 10), /finite and ≥ 0/);
});

test('accuracyCurve: a right-continuous step function of Acc(ε) = share of distances > ε', () => {
  const d = [0.3, 0, 0.1, 0.1, 0.2];
  const c = accuracyCurve(d);
  assert.deepEqual(c.eps, [0, 0.1, 0.2, 0.3]);
  assert.deepEqual(c.accuracy, [0.8, 0.4, 0.2, 0]);
  for (let i = 0; i < c.eps.length; i++) assert.equal(c.accuracy[i], accuracyAt(d, c.eps[i]!));
  assert.equal(accuracyAt(d, 0.05), 0.8);
  assert.deepEqual(accuracyCurve([]), { eps: [0], accuracy: [0] });
});

test('araDistances: the paper routine in minimise mode, in eval mode for the run, mode restored', () => {
  const K = 4, D = 12, B = 6;
  const m = makeLinear(K, D, 7, 1.5);
  const r = rng(8);
  const x = Array.from({ length: B }, () => Array.from({ length: D }, () => Math.fround(r())));
  const labels = Int32Array.from(x, (xi) => argmax(logits64(m, xi)));
  const input = floatImages(Float32Array.from(x.flat()), B, 3, 2, 2);
  let seenTraining: boolean | null = null;
  const call = m.call.bind(m);
  m.call = (t) => { seenTraining = m.training; return call(t); };
  m.train();
  const got = araDistances(m, input, labels, 'attack', { steps: 20, eps: 3, momentum: 0.9, batch: 4 });
  assert.equal(seenTraining, false, 'eval mode during the attack');
  assert.equal(m.training, true, 'training mode restored');
  const want = new PaperMinimalAttack({ steps: 20, eps: 3, momentum: 0.9 }).run(m, input, new Misclassification(labels));
  // Batches of 4 + 2 against one of 6: equal on one machine with netlib BLAS, but an optimised BLAS may block rows
  // differently by batch size, so the bound is float32 noise, not bit-equality.
  assertAllClose(got.distances, want.distances, { rtol: 1e-6 }, 'araDistances batch 4 vs 128');
  const both = evaluateAra(m, input, labels, { steps: 20, eps: 3, momentum: 0.9, types: ['attack', 'btr'] });
  // Chance is 1/K with K read off the model's output (4 here).
  assert.equal(both.attack!.exact, araExact(got.distances, K));
  assert.equal(both.btr!.exact, araExact(both.btr!.distances, K));
  assert.equal(both.btr!.histogram, araHistogram(both.btr!.distances, K));
  assert.throws(() => araDistances(m, input, labels, 'pgd' as 'attack'), /must be 'attack' or 'btr'/);
});
