// Class imbalance in training (--balance): the weighted cross-entropy against its closed form, the balanced class
// weights by hand, the class-balanced draw's shares and its determinism; the ψ target's K-aware default.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor, tidy, manualSeed, crossEntropy, setNumThreads } from '../../src/engine/index.js';
import { balancedClassWeights, balancedDraw, weightedCrossEntropy, classCounts } from '../../src/train/balance.js';
import { defaultLossTarget } from '../../src/train/options.js';
import { ImageDataset } from '../../src/data/dataset.js';

setNumThreads(1);

test('weightedCrossEntropy: Σ w_y·CE / Σ w_y, by closed form', () => {
  const z = [[2, 0], [0, 1], [1, 1]], y = [0, 1, 1], w = [1, 3];
  const ce = z.map((r, b) => Math.log(Math.exp(r[0]!) + Math.exp(r[1]!)) - r[y[b]!]!);
  const want = (1 * ce[0]! + 3 * ce[1]! + 3 * ce[2]!) / 7;
  const got = tidy(() => weightedCrossEntropy(tensor(z.flat(), [3, 2]), tensor(Int32Array.from(y), undefined, { dtype: 'int64' }), tensor(w)).item());
  assert.ok(Math.abs(got - want) < 1e-6, `${got} vs ${want}`);
  const plain = tidy(() => {
    const zt = tensor(z.flat(), [3, 2]), yt = tensor(Int32Array.from(y), undefined, { dtype: 'int64' });
    return [weightedCrossEntropy(zt, yt, tensor([1, 1])).item(), crossEntropy(zt, yt).item()];
  });
  assert.ok(Math.abs(plain[0]! - plain[1]!) < 1e-6, 'unit weights: plain cross-entropy');
});

test('balancedClassWeights: n / (K·n_k), PneumoniaMNIST train by hand', () => {
  const [a, b] = balancedClassWeights([388, 3494]);
  assert.ok(Math.abs(a! - 3882 / 776) < 1e-12 && Math.abs(b! - 3882 / 6988) < 1e-12);
  assert.deepEqual(balancedClassWeights([0, 4]), [0, 0.5]);
});

test('balancedDraw: each class drawn about equally often, from the seeded generator', () => {
  const labels = Int32Array.from({ length: 1000 }, (_, i) => (i < 100 ? 0 : 1));
  const set = new ImageDataset({ pixels: new Uint8Array(1000), labels, shape: { channels: 1, height: 1, width: 1 }, source: 't', classNames: ['a', 'b'] });
  const counts = classCounts(set, 2);
  assert.deepEqual(counts, [100, 900]);
  manualSeed(3);
  const t1 = balancedDraw(labels, counts);
  const idx = t1.toArray();
  t1.dispose();
  assert.equal(idx.length, 1000);
  const share0 = idx.filter((i) => labels[i] === 0).length / 1000;
  // Binomial(1000, ½): σ ≈ 0.016; 4σ.
  assert.ok(Math.abs(share0 - 0.5) < 0.064, `class-0 share ${share0}`);
  manualSeed(3);
  const t2 = balancedDraw(labels, counts);
  assert.deepEqual(t2.toArray(), idx, 'same seed, same draw');
  t2.dispose();
});

test('defaultLossTarget: the paper\'s 1.5 at K = 10, below chance\'s ln K for every K', () => {
  assert.ok(Math.abs(defaultLossTarget(10) - 1.5) < 1e-12);
  assert.ok(Math.abs(defaultLossTarget(2) - 1.5 * Math.LN2 / Math.LN10) < 1e-12);
  for (const k of [2, 3, 10, 100]) assert.ok(defaultLossTarget(k) < Math.log(k));
});
