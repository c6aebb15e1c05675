// train --init (issue 12): fine-tuning a scripted TorchScript module writes a TorchScript file of the same
// architecture (model.pt + its sidecar model.json) that the other commands load; the run resumes from its checkpoint
// onto the module its --init file gives; a traced module is refused (its batch-norm mode is baked in); a safetensors
// model of a built-in architecture starts a run with its own weights.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadModel, saveModel } from '../../src/io/model-file.js';
import { PreActResNet } from '../../src/nn/index.js';
import { tidy, noGrad, manualSeed } from '../../src/engine/index.js';
import { readCifarBatch } from '../../src/data/cifar.js';
import { tmpDir, makeLearnableBatch } from '../data/make-cifar.js';
import { advexp, assertUserError } from '../helpers/cli.js';
import { repoRoot } from '../helpers/shared.js';

const fixtures = path.join(repoRoot(), 'test', 'fixtures', 'torchscript');
const root = tmpDir('advexp-init-');
process.on('exit', () => fs.rmSync(root, { recursive: true, force: true }));
const data = path.join(root, 'data.bin');
fs.writeFileSync(data, makeLearnableBatch(24));

const logitsOf = (file: string): Float32Array => {
  const m = loadModel(file);
  try {
    return tidy(() => noGrad(() => m.model.call(readCifarBatch(data, { limit: 4 }).batch(0, 4)).data()));
  } finally {
    m.model.dispose();
  }
};

test('fine-tuning a scripted module writes model.pt + model.json, which predict loads; --resume continues it', () => {
  const out = path.join(root, 'ft');
  const args = ['--data', data, '--val', '8', '--batch', '8', '--mode', 'standard', '--lr', '0.05', '--threads', '1', '--quiet'];
  const r = advexp(['train', '--init', path.join(fixtures, 'cnn_script.pt'), '--out', out, '--epochs', '1', ...args]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(fs.existsSync(path.join(out, 'model.pt')));
  const side = JSON.parse(fs.readFileSync(path.join(out, 'model.json'), 'utf8')) as { classes: string[]; size: number[]; mean: number[] };
  assert.equal(side.classes.length, 10);
  assert.deepEqual(side.size, [32, 32]);
  const after = logitsOf(path.join(out, 'model.pt'));
  const before = logitsOf(path.join(fixtures, 'cnn_script.pt'));
  assert.ok(after.some((v, i) => v !== before[i]), 'the weights moved');
  const p = advexp(['predict', '--model', path.join(out, 'model.pt'), '--data', data, '--threads', '1', '--quiet']);
  assert.equal(p.code, 0, p.stderr);
  const more = advexp(['train', '--resume', out, '--epochs', '2', '--threads', '1', '--quiet']);
  assert.equal(more.code, 0, more.stderr);
  assert.ok(logitsOf(path.join(out, 'model.pt')).some((v, i) => v !== after[i]), 'the second epoch moved them again');
});

test('a traced module is refused for fine-tuning, naming why; a safetensors model starts from its own weights', () => {
  const r = advexp(['train', '--init', path.join(fixtures, 'cnn_traced.pt'), '--data', data, '--out', path.join(root, 'traced'), '--threads', '1']);
  assertUserError(r, 'traced --init', /traced TorchScript model/, /cannot be fine-tuned/);
  const init = path.join(root, 'start.safetensors');
  manualSeed(0); // libtorch seeds its default generator at random: a fixed net, the same run every time
  saveModel(init, new PreActResNet({ depth: 8, widths: [4, 4, 8] }));
  const out = path.join(root, 'st');
  const t = advexp(['train', '--init', init, '--data', data, '--out', out, '--val', '8', '--batch', '8', '--epochs', '1', '--mode', 'standard', '--threads', '1', '--quiet']);
  assert.equal(t.code, 0, t.stderr);
  const m = loadModel(path.join(out, 'model.safetensors'));
  assert.deepEqual((m.config as { widths: number[] }).widths, [4, 4, 8], 'the init file\'s architecture, not --widths\' default');
  m.model.dispose();
});
