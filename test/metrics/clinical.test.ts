// Clinical metrics (issue 13) against hand-computed values and brute-force pair counts; the ARA above a rate (the
// majority-class ARA) against hand arithmetic and a brute-force integral.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clinicalMetrics, confusionMatrix, rocAuc, formatClinical } from '../../src/metrics/clinical.js';
import { araAbove, araExact } from '../../src/metrics/ara.js';

const close = (a: number | null, b: number, tol = 1e-12, what = ''): void => {
  assert.ok(a !== null && Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);
};

test('clinicalMetrics: three classes, by hand', () => {
  const y = [0, 0, 0, 1, 1, 1, 1, 1, 2, 2];
  const p = [0, 1, 0, 1, 1, 0, 1, 1, 2, 0];
  const m = clinicalMetrics(y, p, 3);
  assert.deepEqual(m.confusion, [[2, 1, 0], [1, 4, 0], [1, 0, 1]]);
  assert.deepEqual(m.support, [3, 5, 2]);
  close(m.accuracy, 0.7, 1e-15, 'accuracy');
  close(m.recall[0]!, 2 / 3, 1e-15, 'recall 0');
  close(m.recall[1]!, 0.8, 1e-15, 'recall 1');
  close(m.recall[2]!, 0.5, 1e-15, 'recall 2');
  close(m.balancedAccuracy, (2 / 3 + 0.8 + 0.5) / 3, 1e-15, 'balanced');
  close(m.majorityRate, 0.5, 1e-15, 'majority');
  assert.equal(m.auc, null, 'no AUC for K = 3');
  const lines = formatClinical(m, ['a', 'b', 'c']).join('\n');
  assert.match(lines, /balanced accuracy 0\.6556/);
  assert.match(lines, /a 0\.6667 \(3\)/);
});

test('clinicalMetrics: an absent class has no recall and does not enter the balanced accuracy', () => {
  const m = clinicalMetrics([1, 1, 1, 0], [1, 0, 1, 0], 3);
  assert.equal(m.recall[2], null);
  close(m.balancedAccuracy, (1 + 2 / 3) / 2, 1e-15, 'balanced');
});

test('rocAuc: ties count ½ (hand count) and equal the brute-force pair count', () => {
  // positives 0.9, 0.8, 0.4, 0.4; negatives 0.7, 0.4, 0.1: 3 + 3 + 1.5 + 1.5 = 9 of 12 pairs.
  close(rocAuc([0.9, 0.7, 0.8, 0.4, 0.4, 0.4, 0.1], [true, false, true, true, false, true, false]), 0.75, 1e-15, 'hand');
  let s = 12345;
  const r = (): number => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const scores = Array.from({ length: 300 }, () => Math.round(r() * 20) / 20); // many ties
  const pos = scores.map((v) => r() < 0.3 + 0.4 * v);
  let pairs = 0, wins = 0;
  for (let i = 0; i < scores.length; i++) {
    for (let j = 0; j < scores.length; j++) {
      if (!pos[i] || pos[j]) continue;
      pairs++;
      wins += scores[i]! > scores[j]! ? 1 : scores[i] === scores[j] ? 0.5 : 0;
    }
  }
  close(rocAuc(scores, pos), wins / pairs, 1e-12, 'brute force');
  assert.equal(rocAuc([0.1, 0.2], [true, true]), null, 'one class only');
  close(rocAuc([0.1, 0.9], [false, true]), 1, 0, 'perfect');
  close(rocAuc([0.9, 0.1], [false, true]), 0, 0, 'inverted');
});

test('clinicalMetrics: K = 2 gives the AUC of class 1 scores', () => {
  const m = clinicalMetrics([0, 1, 1, 0], [0, 1, 0, 0], 2, [-2, 3, -0.5, -1]);
  close(m.auc, 1, 0, 'auc'); // every positive scores above every negative, though one is misclassified
  close(m.balancedAccuracy, 0.75, 1e-15, 'balanced');
});

test('confusionMatrix: labels outside [0, K) are refused', () => {
  assert.throws(() => confusionMatrix([0, 3], [0, 1], 3), /label 3 at 1/);
  assert.throws(() => confusionMatrix([0], [0, 1], 3), /1 labels but 2 predictions/);
});

test('araAbove: by hand, equal to araExact at 1/K, and a brute-force integral at the majority rate', () => {
  // sorted 0.3, 0.2, 0.1, 0; rate ½: only ε ∈ [0, 0.1) has Acc 3/4 above ½: 0.25 · 0.1.
  close(araAbove([0.3, 0.1, 0.2, 0], 0.5), 0.025, 1e-15, 'hand');
  const d = [0.0031, 0, 0.0125, 0.0047, 0.0093, 0.0008, 0.0211, 0.0047, 0.0152, 0.0069, 0.0384, 0.0029];
  close(araAbove(d, 0.5), araExact(d, 2), 0, '1/K');
  const max = Math.max(...d), steps = 200000, h = max / steps;
  let s = 0;
  for (let i = 0; i < steps; i++) s += Math.max(0, d.filter((v) => v > (i + 0.5) * h).length / d.length - 0.74);
  close(araAbove(d, 0.74), s * h, 1e-6, 'brute force');
});
