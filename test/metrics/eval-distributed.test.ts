// advexp eval and explain-eval --nproc 2: the images dealt to two ranks in whole batches, the per-image results
// gathered in file order: the same JSON numbers as one process (ARA distances bit for bit, accuracy, PGD accuracy
// with per-image seeded random starts; explanation metrics with seeds keyed on the image's index in the set).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { repoRoot, sharedDir } from '../helpers/shared.js';
import { freePort } from '../helpers/dist.js';
import { tmpDir, makeLearnableBatch } from '../data/make-cifar.js';

const main = path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js');

/** CIFAR-10's data_batch_5 from ../shared where it is here (offset 5000), else a small learnable batch in dir. */
function evalData(dir: string): { data: string; offset: string[] } {
  const shared = sharedDir();
  const cifar = shared === null ? null : path.join(shared, 'data', 'cifar10', 'data_batch_5.bin');
  if (cifar !== null && fs.existsSync(cifar)) return { data: cifar, offset: ['--offset', '5000'] };
  const data = path.join(dir, 'd.bin');
  fs.writeFileSync(data, makeLearnableBatch(10, 5));
  return { data, offset: [] };
}

/** The command run as one process and as 2 ranks (--nproc 2), each writing --json: both results parsed, and rank 0's stdout. */
async function oneAndTwo<T>(dir: string, common: string[], timeout = 120_000): Promise<{ a: T; b: T; twoStdout: string }> {
  const one = spawnSync(process.execPath, [main, ...common, '--json', path.join(dir, 'one.json')], { encoding: 'utf8', timeout });
  assert.equal(one.status, 0, one.stderr);
  const port = await freePort();
  const two = spawnSync(process.execPath, [main, ...common, '--json', path.join(dir, 'two.json'), '--nproc', '2', '--master-port', String(port)], { encoding: 'utf8', timeout });
  assert.equal(two.status, 0, two.stderr);
  const read = (f: string): T => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as T;
  return { a: read('one.json'), b: read('two.json'), twoStdout: two.stdout };
}

test('eval sharded over 2 ranks equals one process: distances, accuracy, PGD', async () => {
  const dir = tmpDir('advexp-eval-dist-');
  try {
    // Real CIFAR images where the shared data are here (the default model is right on some, so PGD has work).
    const { data, offset } = evalData(dir);
    // 10 images in batches of 4: rank 0 gets batches 0 and 2 (8 images, the last one short), rank 1 batch 1.
    const common = ['eval', '--data', data, ...offset, '--n', '10', '--batch', '4', '--ara', 'attack,btr', '--steps', '8', '--pgd-steps', '3', '--threads', '1', '--quiet'];
    const { a, b, twoStdout } = await oneAndTwo<Record<string, unknown>>(dir, common);
    assert.deepEqual(b.distances, a.distances);
    assert.equal(b.accuracy, a.accuracy);
    assert.deepEqual(b.ara, a.ara);
    assert.deepEqual(b.pgd, a.pgd);
    // The printed summary comes once (rank 0).
    assert.equal(twoStdout.match(/accuracy  Attack ARA/g)?.length, 1, twoStdout);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('eval --autoattack and --ara ensemble sharded over 2 ranks equal one process: flags, broken counts, distances', async () => {
  const dir = tmpDir('advexp-eval-aa-dist-');
  try {
    const { data, offset } = evalData(dir);
    // A large ε, so APGD-CE breaks (nearly) everything within its first steps and the test stays short; the later
    // attacks run per batch with the same seed either way.
    const common = ['eval', '--data', data, ...offset, '--n', '10', '--batch', '4', '--ara', 'attack,ensemble', '--steps', '8', '--min-steps', '6',
      '--pgd', 'none', '--autoattack', 'linf:64/255', '--threads', '1', '--quiet'];
    type Out = { autoattack: { clean: number[]; robust: number[]; broken: Record<string, number>; seconds?: number }[]; ara_ensemble: unknown };
    const { a, b } = await oneAndTwo<Out>(dir, common, 300_000);
    const strip = (r: Out['autoattack']): unknown => r.map(({ seconds: _s, ...x }) => x);
    assert.deepEqual(strip(b.autoattack), strip(a.autoattack));
    assert.deepEqual(b.ara_ensemble, a.ara_ensemble);
    assert.equal(a.autoattack[0]!.clean.length, 10);
    assert.ok(a.ara_ensemble !== undefined && a.ara_ensemble !== null);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('explain-eval sharded over 2 ranks equals one process: every method, AE pairs, seeded LIME/SmoothGrad/random', async () => {
  const dir = tmpDir('advexp-xeval-dist-');
  try {
    const { data, offset } = evalData(dir);
    // 7 images in batches of 3: rank 0 gets images 0–2 and 6, rank 1 images 3–5.
    const common = ['explain-eval', '--data', data, ...offset, '--n', '7', '--batch', '3', '--methods', 'ae,gradcam,lime,smoothgrad,random',
      '--ae-targets', 'true,second', '--steps', '4', '--lime-samples', '30', '--segments', '16', '--smoothgrad-samples', '3', '--threads', '1', '--quiet'];
    type Out = { rows: Record<string, unknown>[]; models: { predictions: number[]; methods: Record<string, { deletion: number[]; pairs?: unknown[] }> }[] };
    const { a, b, twoStdout } = await oneAndTwo<Out>(dir, common);
    assert.deepEqual(b.models, a.models);
    assert.deepEqual(b.rows.map((r) => ({ ...r, seconds: 0 })), a.rows.map((r) => ({ ...r, seconds: 0 })));
    assert.equal(a.models[0]!.methods.ae!.pairs!.length, 14);
    assert.equal(a.models[0]!.methods.lime!.deletion.length, 7);
    assert.equal(twoStdout.match(/\| model \| method \|/g)?.length, 1, twoStdout);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
