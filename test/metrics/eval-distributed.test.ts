// advexp eval --nproc 2: the images dealt to two ranks in whole batches, the per-image results gathered in file
// order: the same JSON numbers as one process (ARA distances bit for bit, accuracy, PGD accuracy with per-image
// seeded random starts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { repoRoot, sharedDir } from '../helpers/shared.js';
import { freePort } from '../helpers/dist.js';
import { tmpDir, makeLearnableBatch } from '../data/make-cifar.js';

const main = path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js');

test('eval sharded over 2 ranks equals one process: distances, accuracy, PGD', async () => {
  const dir = tmpDir('advexp-eval-dist-');
  try {
    // Real CIFAR images where the shared data are here (the default model is right on some, so PGD has work).
    const shared = sharedDir();
    const cifar = shared === null ? null : path.join(shared, 'data', 'cifar10', 'data_batch_5.bin');
    let data = cifar;
    if (data === null || !fs.existsSync(data)) {
      data = path.join(dir, 'd.bin');
      fs.writeFileSync(data, makeLearnableBatch(10, 5));
    }
    // 10 images in batches of 4: rank 0 gets batches 0 and 2 (8 images, the last one short), rank 1 batch 1.
    const common = ['eval', '--data', data, '--offset', '5000', '--n', '10', '--batch', '4', '--ara', 'attack,btr', '--steps', '8', '--pgd-steps', '3', '--threads', '1', '--quiet'];
    if (data !== cifar) common.splice(common.indexOf('--offset'), 2);
    const one = spawnSync(process.execPath, [main, ...common, '--json', path.join(dir, 'one.json')], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(one.status, 0, one.stderr);
    const port = await freePort();
    const two = spawnSync(process.execPath, [main, ...common, '--json', path.join(dir, 'two.json'), '--nproc', '2', '--master-port', String(port)], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(two.status, 0, two.stderr);
    const a = JSON.parse(fs.readFileSync(path.join(dir, 'one.json'), 'utf8')) as Record<string, unknown>;
    const b = JSON.parse(fs.readFileSync(path.join(dir, 'two.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(b.distances, a.distances);
    assert.equal(b.accuracy, a.accuracy);
    assert.deepEqual(b.ara, a.ara);
    assert.deepEqual(b.pgd, a.pgd);
    // The printed summary comes once (rank 0).
    assert.equal(two.stdout.match(/accuracy  Attack ARA/g)?.length, 1, two.stdout);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
