// The trainer's named steps on their own: a fresh setup writes the split and the step-0 checkpoint; setup of a
// resumed run restores the checkpoint exactly; step() is one optimizer step that moves ψ once and leaves the
// counters to the epoch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setNumThreads, liveTensors, tidy, tensor } from '../../src/engine/index.js';
import { Trainer, runTraining } from '../../src/train/trainer.js';
import { defaultTrainOptions, type TrainOptions } from '../../src/train/options.js';
import { loadCheckpoint, STATE_FILE } from '../../src/train/checkpoint.js';
import { LOCK_FILE } from '../../src/train/lock.js';
import { tmpDir, makeLearnableBatch } from '../data/make-cifar.js';

setNumThreads(1);

const root = tmpDir('advexp-trainer-steps-');
process.on('exit', () => fs.rmSync(root, { recursive: true, force: true }));
const dataFile = path.join(root, 'train.bin');
fs.writeFileSync(dataFile, makeLearnableBatch(40, 7));
const opts = (partial: Partial<TrainOptions> = {}): TrainOptions =>
  defaultTrainOptions({ data: dataFile, depth: 8, widths: [4, 8, 8], batch: 16, val: 8, epochs: 1, seed: 2, ...partial });

test('setup: a fresh run writes split.json and its step-0 checkpoint; a resumed one restores weights, momentum and ψ', async () => {
  const live = liveTensors();
  const fresh = path.join(root, 'fresh');
  const t = Trainer.setup({ dir: fresh, options: opts(), threads: 1 });
  try {
    assert.equal(t.resumed, false);
    assert.deepEqual([t.state.epoch, t.state.step, t.psiControl.r], [0, 0, 0]);
    assert.deepEqual(fs.readdirSync(fresh).sort(), ['ckpt-000000000.safetensors', LOCK_FILE, 'split.json', STATE_FILE]);
  } finally {
    t.dispose();
  }
  assert.equal(fs.existsSync(path.join(fresh, LOCK_FILE)), false, 'dispose releases the lock');

  const dir = path.join(root, 'resumed');
  await runTraining({ dir, options: opts(), threads: 1 });
  const file = path.join(dir, STATE_FILE);
  fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')) as object, psiR: 3.25 }));
  const ck = loadCheckpoint(dir);
  const r = Trainer.setup({ dir, resume: true, threads: 1 });
  try {
    assert.equal(r.resumed, true);
    assert.equal(r.psiControl.r, 3.25);
    assert.equal(r.state.step, ck.state.step);
    for (const [name, w] of r.model.stateDict()) assert.deepEqual(w.data(), ck.model.get(name)!.data, name);
    const names = r.model.namedParameters().map(([n]) => n);
    const momentum = r.sgd.state();
    assert.equal(momentum.length, ck.momentum.size);
    momentum.forEach((m, i) => assert.deepEqual(m, ck.momentum.get(names[i]!), names[i]));
  } finally {
    r.dispose();
  }
  assert.equal(liveTensors(), live, 'setup and dispose leave no tensors behind');
});

test('step: one SGD step on the given images, ψ stepped once with its L_cls, the counters left to the epoch', () => {
  const t = Trainer.setup({ dir: path.join(root, 'step'), options: opts({ mode: 'lipschitz' }), threads: 1 });
  try {
    t.start();
    const before = t.model.parameters().map((p) => p.data());
    const r = tidy(() => t.step(tensor(Int32Array.from({ length: 16 }, (_, i) => i), [16], { dtype: 'int64' }), 0.1));
    assert.equal(r.images, 16);
    assert.ok(Number.isFinite(r.loss) && r.lossAdv !== null && r.lossAdv > 0, `loss ${r.loss}, penalty ${r.lossAdv}`);
    assert.ok(Math.abs(r.loss - (r.lossCls + r.lossAdv)) <= 1e-6 * r.loss, `${r.loss} = ${r.lossCls} + ${r.lossAdv}`);
    assert.equal(t.psiControl.r, Math.max(0, Math.min(1, Math.max(-0.01, -Math.log(r.lossCls / 1.5)))));
    assert.equal(r.psi, t.psiControl.psi);
    assert.ok(r.correct >= 0 && r.correct <= 16);
    assert.equal(t.state.step, 0);
    const after = t.model.parameters().map((p) => p.data());
    assert.ok(after.some((a, i) => a.some((v, j) => v !== before[i]![j])), 'the parameters moved');
    assert.ok(t.sgd.state().every((m) => m !== null), 'momentum buffers exist');
  } finally {
    t.dispose();
  }
});
