// --threads defaults to every core the process may use (as PyTorch does), also on Node 20, which has no navigator.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { applyThreads } from '../../src/cli/common.js';
import { getNumThreads, setNumThreads } from '../../src/engine/index.js';

test('applyThreads: default is os.availableParallelism(); explicit values are applied', () => {
  const before = getNumThreads();
  try {
    assert.equal(applyThreads(undefined), os.availableParallelism());
    assert.equal(getNumThreads(), os.availableParallelism());
    assert.equal(applyThreads('1'), 1);
    assert.equal(getNumThreads(), 1);
    assert.throws(() => applyThreads('0'), /--threads: expected a positive integer/);
  } finally {
    setNumThreads(before);
  }
});
