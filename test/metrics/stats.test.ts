// quantile/median against values NumPy gives (np.quantile, linear interpolation, its default); mean, standard error, Pearson.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { quantile, median, mean, standardError, pearson } from '../../src/metrics/stats.js';

test('quantile: linear interpolation between order statistics, input order irrelevant, NaN when empty', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Math.abs(quantile([10, 0, 30, 20], 0.9) - 27) < 1e-12); // np.quantile([0,10,20,30], 0.9) = 27.0
  assert.equal(quantile([5], 0.3), 5);
  assert.ok(Number.isNaN(median([])));
});

test('mean, standard error and Pearson correlation against hand-computed values', () => {
  assert.equal(mean([1, 2, 3, 6]), 3);
  assert.ok(Number.isNaN(mean([])));
  // Sample SD of [1, 2, 3, 6] = sqrt(14/3); SE = that / 2.
  assert.ok(Math.abs(standardError([1, 2, 3, 6]) - Math.sqrt(14 / 3) / 2) < 1e-12);
  assert.equal(standardError([5]), 0);
  assert.ok(Math.abs(pearson([1, 2, 3], [2, 4, 6]) - 1) < 1e-12);
  assert.ok(Math.abs(pearson([1, 2, 3], [3, 2, 1]) + 1) < 1e-12);
  assert.ok(Math.abs(pearson([1, 2, 3, 4], [1, 3, 2, 4]) - 0.8) < 1e-12);
  assert.ok(Number.isNaN(pearson([1, 1, 1], [1, 2, 3])), 'constant input');
});
