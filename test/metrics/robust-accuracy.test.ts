// Robust accuracy under a fixed-ε attack: counted over all images, only clean-correct ones are attacked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setNumThreads } from '../../src/engine/index.js';
import { robustAccuracy, robustBenchPgd, ROBUSTBENCH_EPS } from '../../src/metrics/robust-accuracy.js';
import { FGSM } from '../../src/attack/index.js';
import { makeLinear, rng, logits64, ceGrad64, argmax, floatImages } from '../attack/linear-model.js';

setNumThreads(1);

test('robust accuracy = share of images correct before and after the attack (FGSM oracle on a linear net)', () => {
  const K = 4, D = 12, N = 12;
  const m = makeLinear(K, D, 31, 1.5);
  const r = rng(32);
  const x = Array.from({ length: N }, () => Array.from({ length: D }, () => Math.fround(r())));
  // Labels: the prediction for 9 images, a wrong class for 3.
  const labels = Int32Array.from(x, (xi, i) => (argmax(logits64(m, xi)) + (i % 4 === 3 ? 1 : 0)) % K);
  const input = floatImages(Float32Array.from(x.flat()), N, 3, 2, 2);
  const epsilons = [0, 0.03, 0.1, 0.5];
  const got = robustAccuracy(m, input, labels, new FGSM(), epsilons);
  assert.equal(got.clean, 9 / 12);
  epsilons.forEach((e, k) => {
    let ok = 0;
    x.forEach((xi, i) => {
      if (argmax(logits64(m, xi)) !== labels[i]) return;
      const g = ceGrad64(m, xi, labels[i]!);
      const adv = xi.map((v, j) => Math.min(1, Math.max(0, v + e * Math.sign(g[j]!))));
      if (argmax(logits64(m, adv)) === labels[i]) ok++;
    });
    assert.equal(got.accuracy[k], ok / N, `ε = ${e}`);
  });
  assert.equal(got.accuracy[0], got.clean);
  assert.ok(got.accuracy[3]! <= got.accuracy[1]!);
  const pgd = robustBenchPgd(m, input, labels, { steps: 3 });
  assert.equal(pgd.linf!.epsilons[0], ROBUSTBENCH_EPS.linf);
  assert.equal(pgd.l2!.epsilons[0], 0.5);
  assert.equal(pgd.linf!.steps, 3);
  assert.deepEqual(robustBenchPgd(m, input, labels, { steps: 3 }), pgd, 'seeded random start: reproducible');
});
