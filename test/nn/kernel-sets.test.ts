// The comparisons against numbers from another machine (golden.json, PyTorch constants made on an AVX-512 CPU) must
// hold on an AVX2-only CPU too. This machine computes what such a CPU does when ATen's and oneDNN's kernel sets are
// capped at AVX2, so the suite runs those tests again under that cap (a second process, since the cap is read once
// at start). bench/tolerance_spread.ts measures the margins over more kernel sets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { repoRoot, skipUnlessShared } from '../helpers/shared.js';

const COMPARING = ['nn/parity', 'attack/reference-nets', 'explain/reference-nets'];

test('golden and PyTorch comparisons pass with AVX2 kernels (ATEN_CPU_CAPABILITY=avx2, ONEDNN_MAX_CPU_ISA=AVX2)', (t) => {
  if (skipUnlessShared(t, 'models/reference/golden.json') === null) return;
  const root = repoRoot();
  // A test file runs with NODE_TEST_CONTEXT set, which makes a nested `node --test` report to its parent, not stdout.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...COMPARING.map((f) => path.join(root, 'dist', 'test', `${f}.test.js`))],
    { cwd: root, encoding: 'utf8', env: { ...env, ATEN_CPU_CAPABILITY: 'avx2', ONEDNN_MAX_CPU_ISA: 'AVX2' }, timeout: 300_000 });
  const failed = (r.stdout.match(/^not ok .*$/gm) ?? []).join('; ');
  const errors = (r.stdout.match(/^\s+error: .*$/gm) ?? []).slice(0, 3).join(' | ');
  assert.equal(r.status, 0, `under AVX2 kernels: ${failed} ${errors}`);
  assert.match(r.stdout, /# pass [1-9]/);
});
