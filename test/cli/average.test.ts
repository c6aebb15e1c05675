// `advexp average` as a user runs it: two model files, or training directories (their checkpoints, the held-out
// images left out of the batch-norm pass), give one model file whose weights are the inputs' mean; errors are one line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { manualSeed } from '../../src/engine/index.js';
import { architecture, resnetConfig } from '../../src/nn/index.js';
import { saveModel, loadModel } from '../../src/io/model-file.js';
import { describe } from '../../src/server/models.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { advexp, assertUserError } from '../helpers/cli.js';
import { repoRoot } from '../helpers/shared.js';
import { trainingFixture } from '../data/make-cifar.js';

const { root, data, newDir } = trainingFixture('advexp-average-', 40, 3);
const arch = architecture('preact-resnet');
function modelFile(name: string, seed: number, depth = 8): string {
  manualSeed(seed);
  const net = arch.build(resnetConfig({ depth, widths: [2, 4, 4], classes: 10, activation: 'half-huber' }));
  const file = path.join(root, name);
  saveModel(file, net, { class_names: JSON.stringify(Array.from({ length: 10 }, (_, i) => `c${i}`)) });
  net.dispose();
  return file;
}
const a = modelFile('a.safetensors', 1), b = modelFile('b.safetensors', 2);

test('two model files: weights are their mean, batch-norm statistics recomputed, inputs recorded with their sha256', () => {
  const out = path.join(root, 'ab.safetensors');
  const r = advexp(['average', '--model', a, '--model', b, '--data', data, '--out', out, '--threads', '1', '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /ab\.safetensors: the average of 2 model\(s\); batch-norm statistics of \d+ layers from 40 image\(s\)/);
  const [fa, fb, fo] = [a, b, out].map((f) => readSafetensors(f));
  for (const [name, t] of fo!.tensors) {
    const x = fa!.tensors.get(name)!.data as Float32Array, y = fb!.tensors.get(name)!.data as Float32Array, z = t.data as Float32Array;
    if (name.endsWith('running_mean') || name.endsWith('running_var')) {
      assert.ok(z.every(Number.isFinite), name);
      if (name.endsWith('running_var')) assert.ok(z.some((v, j) => v !== x[j]), `${name} recomputed`);
      continue;
    }
    z.forEach((v, j) => assert.equal(v, Math.fround((x[j]! + y[j]!) / 2), `${name}[${j}]`));
  }
  const rec = JSON.parse(fo!.metadata.averaged_from!) as { models: { path: string; sha256: string }[]; batch_norm: { images: number; augment: boolean } };
  assert.deepEqual(rec.models.map((m) => m.sha256), [a, b].map((f) => createHash('sha256').update(fs.readFileSync(f)).digest('hex')));
  assert.equal(rec.batch_norm.images, 40);
  assert.equal(fo!.metadata.class_names, fa!.metadata.class_names);
  assert.equal(describe(loadModel(out)), 'weight average of 2 checkpoints', 'the explorer\'s one-line summary');
  // It is an ordinary model file.
  const p = advexp(['predict', '--model', out, '--data', data, '--threads', '1', '--quiet']);
  assert.equal(p.code, 0, p.stderr);
});

test('a training directory: its checkpoint, and its split.json keeps the held-out images out of the batch-norm pass', () => {
  const run = newDir();
  const t = advexp(['train', '--data', data, '--out', run, '--depth', '8', '--widths', '2,4,4', '--batch', '8', '--val', '8',
    '--epochs', '1', '--mode', 'standard', '--threads', '1', '--quiet']);
  assert.equal(t.code, 0, t.stderr);
  const out = path.join(root, 'run-avg.safetensors');
  const r = advexp(['average', '--model', run, '--model', path.join(run, 'model.safetensors'), '--data', data, '--out', out, '--threads', '1', '--quiet', '--augment', 'no']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /from 32 image\(s\) of .*train\.bin less the held-out ones of .*split\.json$/m);
  const trained = readSafetensors(path.join(run, 'model.safetensors')), avg = readSafetensors(out);
  assert.deepEqual(Array.from(avg.tensors.get('pipe.0.weight')!.data as Float32Array), Array.from(trained.tensors.get('pipe.0.weight')!.data as Float32Array));
  const opts = JSON.parse(avg.metadata.training_options!) as Record<string, unknown>;
  assert.equal(opts.val_acc, undefined, 'the inputs\' validation accuracy is not carried over');
  assert.equal(opts.mode, 'standard');
  assert.deepEqual([opts.robust_additions, opts.adversarial_training, opts.epochs_done], [false, false, 1], 'the trainer\'s record of the run');
});

test('errors: one line, exit 2, naming the argument or file', () => {
  const out = path.join(root, 'e.safetensors');
  assertUserError(advexp(['average', '--data', data, '--out', out]), 'no model', /--model is required/);
  assertUserError(advexp(['average', '--model', a, '--out', out]), 'no data', /--data is required/);
  assertUserError(advexp(['average', '--model', a, '--data', data]), 'no out', /--out is required/);
  assertUserError(advexp(['average', '--model', a, '--data', data, '--out', path.join(root, 'e.pt')]), 'out kind', /--out: .*\*\.safetensors/);
  assertUserError(advexp(['average', '--model', a, '--model', path.join(root, 'none.safetensors'), '--data', data, '--out', out]), 'missing', /none\.safetensors: no such file/);
  const deeper = modelFile('deeper.safetensors', 3, 14);
  assertUserError(advexp(['average', '--model', a, '--model', deeper, '--data', data, '--out', out]), 'architectures', /deeper\.safetensors: preact-resnet .*"depth":14.*averaging needs one architecture/);
  assertUserError(advexp(['average', '--model', a, '--data', data, '--out', out, '--augment', 'maybe']), 'augment', /--augment: expected yes or no/);
  assertUserError(advexp(['average', '--model', a, '--data', data, '--out', out, '--bn-images', '0']), 'bn-images', /--bn-images: expected an integer ≥ 1/);
  const script = path.join(repoRoot(), 'test', 'fixtures', 'torchscript', 'cnn_script.pt');
  assertUserError(advexp(['average', '--model', script, '--data', data, '--out', out]), 'torchscript', /cnn_script\.pt: a TorchScript model; averaging takes networks of a built-in architecture/);
  assertUserError(advexp(['average', '--model', root, '--data', data, '--out', out]), 'not a run', /state\.json: cannot read training state/);
  assert.equal(fs.existsSync(out), false, 'nothing written');
});
