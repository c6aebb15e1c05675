// The shipped default model (models/default.safetensors, card in models/README.md): it loads as the network its
// card describes, the CLI uses it when --model is not given, and it classifies held-out images (its validation
// split, models/default.split.json) far above chance.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadModel } from '../../src/io/model-file.js';
import { repoRoot, skipUnlessShared } from '../helpers/shared.js';

const root = repoRoot();
const modelFile = path.join(root, 'models', 'default.safetensors');
const splitFile = path.join(root, 'models', 'default.split.json');
const cli = path.join(root, 'dist', 'src', 'cli', 'main.js');

test('default model: a half-Huber PreActResNet-44 trained with the Lipschitz loss, with its class names', () => {
  assert.ok(fs.existsSync(modelFile), `${modelFile} is shipped`);
  const { model, metadata, config } = loadModel(modelFile);
  try {
    assert.equal(config.depth, 44);
    assert.deepEqual(config.widths, [16, 32, 64]);
    assert.equal(config.activation, 'half-huber');
    const opts = JSON.parse(metadata.training_options!);
    assert.equal(opts.mode, 'lipschitz');
    assert.equal(opts.robust_additions, true);
    assert.equal(JSON.parse(metadata.class_names!).length, 10);
  } finally {
    model.dispose();
  }
});

test('default model: advexp eval without --model scores its held-out images well above chance', (t) => {
  const shared = skipUnlessShared(t, 'data/cifar10/data_batch_1.bin');
  if (shared === null) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'advexp-default-'));
  try {
    const out = path.join(dir, 'eval.json');
    const r = spawnSync(process.execPath, [cli, 'eval', '--data', path.join(shared, 'data', 'cifar10'), '--split', splitFile,
      '--n', '300', '--ara', 'none', '--pgd', 'none', '--threads', '1', '--quiet', '--json', out], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(fs.readFileSync(out, 'utf8'));
    assert.equal(j.model, modelFile);
    assert.equal(j.n, 300);
    // The card reports the accuracy on 5,000 held-out images; 300 of them must land near it, far above 0.1.
    assert.ok(j.accuracy > 0.45, `accuracy ${j.accuracy}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
