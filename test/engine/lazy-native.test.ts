// Issue 16: the addon is loaded on first use, so the pure-TypeScript parts of the package (safetensors, plots, data
// readers) import and work where libtorch is not installed; the first tensor op then fails with one message saying
// what to install. Run in a child process with the addon made unfindable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from '../helpers/shared.js';
import { NATIVE_MISSING } from '../../src/engine/native.js';

const INDEX = path.join(repoRoot(), 'dist', 'src', 'index.js');

function child(script: string, env: Record<string, string>): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('without the addon: advexp imports, safetensors and plots work, the first tensor op names what to install', () => {
  const script = `
    const m = await import(${JSON.stringify(INDEX)});
    const bytes = m.serializeSafetensors({ w: { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) } });
    const back = m.parseSafetensors(bytes);
    const svg = m.accuracyPlotSvg([{ label: 'a', distances: [0.1, 0.2] }], {});
    let err = '';
    try { m.zeros([2]); } catch (e) { err = e.message; }
    console.log(JSON.stringify({ names: [...back.tensors.keys()], svg: svg.startsWith('<svg'), err }));`;
  // An override naming a missing file, and a package with no build at all, both fail only when a tensor is made.
  const r = child(script, { ADVEXP_NATIVE: '/nonexistent/advexp_native.node' });
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { names: string[]; svg: boolean; err: string };
  assert.deepEqual(out.names, ['w']);
  assert.equal(out.svg, true);
  assert.equal(out.err, 'ADVEXP_NATIVE=/nonexistent/advexp_native.node: no such file');
  assert.match(NATIVE_MISSING, /libtorch-dev/);
  assert.match(NATIVE_MISSING, /LIBTORCH=/);
});

test('with the addon: it loads on first use and answers', async () => {
  const { native, nativeAvailable } = await import('../../src/engine/native.js');
  assert.equal(nativeAvailable(), true);
  assert.match(native.version(), /\d+\.\d+/);
});
