// AE target reach: the share of pairs whose explanation passes p = 0.5, overall and for wrong-class targets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { targetReach } from '../../src/metrics/faithfulness.js';

test('targetReach counts p > 0.5 overall and over wrong-class targets, and averages RMS', () => {
  const r = targetReach([0.9, 0.5, 0.7, 0.2], [0.1, 0.1, 0.05, 0.15], [false, true, true, true]);
  assert.equal(r.reach, 0.5);
  assert.equal(r.reachWrong, 1 / 3);
  assert.equal(r.pairs, 4);
  assert.ok(Math.abs(r.meanRms - 0.1) < 1e-12);
  assert.equal(targetReach([0.9], [0.1], [false]).reachWrong, undefined, 'no wrong targets');
  assert.throws(() => targetReach([0.9], [0.1, 0.2], [false]), /targetReach/);
});
