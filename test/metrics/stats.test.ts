// quantile/median against values NumPy gives (np.quantile, linear interpolation, its default).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { quantile, median } from '../../src/metrics/stats.js';

test('quantile: linear interpolation between order statistics, input order irrelevant, NaN when empty', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Math.abs(quantile([10, 0, 30, 20], 0.9) - 27) < 1e-12); // np.quantile([0,10,20,30], 0.9) = 27.0
  assert.equal(quantile([5], 0.3), 5);
  assert.ok(Number.isNaN(median([])));
});
