// The trainer on a tiny net and a few dozen images: bit-identical resume (at an epoch boundary and mid-epoch),
// every mode, the attack hook, non-finite loss, memory, and what a run directory holds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setNumThreads, liveTensors, tidy } from '../../src/engine/index.js';
import { runTraining, TrainingError, TrainInputError, MODEL_FILE, LOG_FILE, type RunOptions } from '../../src/train/trainer.js';
import { defaultTrainOptions, type TrainOptions } from '../../src/train/options.js';
import { loadCheckpoint, STATE_FILE, type TrainState } from '../../src/train/checkpoint.js';
import { loadModel } from '../../src/io/model-file.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { loadDataset } from '../../src/data/load.js';
import { predict, accuracy } from '../../src/metrics/predict.js';
import type { AdversarialBatchFn } from '../../src/train/adversarial.js';
import { makeLearnableBatch, trainingFixture } from '../data/make-cifar.js';
import { AdaptivePsi } from '../../src/train/lipschitz.js';
import { repoRoot } from '../helpers/shared.js';

setNumThreads(1);

const { root, data: dataFile, newDir } = trainingFixture('advexp-trainer-', 72, 5);

function opts(partial: Partial<TrainOptions> = {}): TrainOptions {
  return defaultTrainOptions({ data: dataFile, depth: 8, widths: [4, 8, 16], batch: 16, val: 8, epochs: 2, seed: 3, ...partial });
}

async function train(o: TrainOptions, extra: Partial<RunOptions> = {}): Promise<{ dir: string; state: TrainState; stopped: boolean }> {
  const dir = extra.dir ?? newDir();
  const r = await runTraining({ dir, options: o, threads: 1, logEvery: 1, ...extra });
  return { dir, state: r.state, stopped: r.stopped };
}

/** Everything that must match between two runs: weights, BN buffers, momentum, ψ integrator, RNG, counters. */
function assertSameRun(a: string, b: string, what: string): void {
  const ca = loadCheckpoint(a), cb = loadCheckpoint(b);
  assert.equal(ca.state.step, cb.state.step, `${what}: step`);
  assert.equal(ca.state.epoch, cb.state.epoch, `${what}: epoch`);
  assert.equal(ca.state.psiR, cb.state.psiR, `${what}: psi integrator`);
  assert.equal(ca.state.rng, cb.state.rng, `${what}: RNG state`);
  const bytes = (d: string, s: TrainState): Buffer => fs.readFileSync(path.join(d, s.weights));
  assert.ok(bytes(a, ca.state).equals(bytes(b, cb.state)), `${what}: weights + momentum differ`);
  assert.deepEqual(ca.state.history.map((h) => [h.trainLoss, h.trainAcc, h.valAcc, h.psi]), cb.state.history.map((h) => [h.trainLoss, h.trainAcc, h.valAcc, h.psi]), `${what}: history`);
}

for (const mode of ['lipschitz', 'all'] as const) {
  test(`${mode}: 2 epochs straight = 1 epoch + resume 1 = stop mid-epoch + resume, bit for bit`, async () => {
    const o = opts({ mode, noiseStd: mode === 'all' ? 0.03 : 0 });
    const straight = await train(o);
    assert.equal(straight.state.epoch, 2);
    assert.equal(straight.state.step, 8);
    assert.equal(straight.state.finished, true);

    const first = await train({ ...o, epochs: 1 });
    assert.equal(first.state.epoch, 1);
    const resumed = await runTraining({ dir: first.dir, resume: true, overrides: { epochs: 2 }, threads: 1 });
    assert.equal(resumed.stopped, false);
    assertSameRun(straight.dir, first.dir, 'epoch-boundary resume');

    // Stop after the 2nd batch of epoch 2 (step 6), then resume.
    let steps = 0;
    const mid = await train(o, { onBatch: () => { steps++; }, shouldStop: () => steps === 6 });
    assert.equal(mid.stopped, true);
    assert.equal(mid.state.epoch, 1);
    assert.equal(mid.state.batchInEpoch, 2);
    assert.equal(mid.state.step, 6);
    assert.notEqual(mid.state.rngEpochStart, null);
    await runTraining({ dir: mid.dir, resume: true, threads: 1, logEvery: 1 });
    assertSameRun(straight.dir, mid.dir, 'mid-epoch resume');
    // The log of the resumed run has each step once.
    const stepsLogged = fs.readFileSync(path.join(mid.dir, LOG_FILE), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event: string; step?: number })
      .filter((l) => l.event === 'step').map((l) => l.step);
    assert.deepEqual(stepsLogged, [1, 2, 3, 4, 5, 6, 7, 8]);
  });
}

test('periodic mid-epoch checkpoints change nothing, and a copy taken mid-run (a crash) resumes bit for bit', async () => {
  const o = opts({ mode: 'lipschitz' });
  const straight = await train(o);
  const crashCopy = newDir();
  const periodicDir = newDir();
  const periodic = await train(o, {
    checkpointSeconds: 1e-9,
    onBatch: (b) => { if (b.step === 7) fs.cpSync(periodicDir, crashCopy, { recursive: true }); },
    dir: periodicDir,
  });
  assert.equal(periodic.stopped, false);
  assertSameRun(straight.dir, periodic.dir, 'periodic checkpoints');
  const copied = loadCheckpoint(crashCopy).state;
  assert.equal(copied.step, 6); // written after step 6, before step 7's
  assert.equal(copied.batchInEpoch, 2);
  await runTraining({ dir: crashCopy, resume: true, threads: 1 });
  assertSameRun(straight.dir, crashCopy, 'resume after a crash');
});
test('every mode trains with finite losses; the attack hook gets the paper\'s half-and-half mask', async () => {
  const seen: { mode: string; affected: Uint8Array | null; b: number }[] = [];
  let current = '';
  const spy: AdversarialBatchFn = (_model, x, _y, affected) => {
    seen.push({ mode: current, affected, b: x.shape[0]! });
    return x.add(0.001); // a stand-in perturbation
  };
  for (const [mode, extra] of [
    ['standard', {}], ['lipschitz', {}], ['adversarial', {}], ['all', {}], ['standard', { noiseStd: 0.1 }],
  ] as [TrainOptions['mode'], Partial<TrainOptions>][]) {
    current = mode;
    const r = await train(opts({ mode, epochs: 1, ...extra }), { attack: spy });
    const h = r.state.history[0]!;
    assert.ok(Number.isFinite(h.trainLoss) && h.trainLoss > 0, `${mode}: loss ${h.trainLoss}`);
    assert.equal(h.psi === null, mode === 'standard' || mode === 'adversarial', `${mode}: psi ${h.psi}`);
  }
  assert.deepEqual([...new Set(seen.map((s) => s.mode))], ['adversarial', 'all']);
  assert.ok(seen.filter((s) => s.mode === 'adversarial').every((s) => s.affected === null));
  const masks = seen.filter((s) => s.mode === 'all').map((s) => s.affected!);
  assert.equal(masks.length, 4);
  const ones = masks.reduce((n, m) => n + m.reduce((a, v) => a + v, 0), 0);
  assert.ok(ones > 10 && ones < 54, `${ones} of 64 samples attacked`);
});

test('the real attack in adversarial training (budget and L2,min) changes the batch by about ε', async () => {
  const { budgetTrainingAttack, minimalTrainingAttack } = await import('../../src/train/adversarial.js');
  let rmsBudget = 0, rmsMin = 0;
  const measure = (fn: AdversarialBatchFn, set: (v: number) => void): AdversarialBatchFn => (m, x, y, a) => {
    const adv = fn(m, x, y, a);
    set(tidy(() => adv.sub(x).square().mean([1, 2, 3]).sqrt().amax().item()));
    return adv;
  };
  await train(opts({ mode: 'adversarial', epochs: 1 }), { attack: measure(budgetTrainingAttack(), (v) => { rmsBudget = Math.max(rmsBudget, v); }) });
  assert.ok(rmsBudget > 0.005 && rmsBudget <= 0.0101, `budget RMS ${rmsBudget}`);
  await train(opts({ mode: 'adversarial', l2Min: true, epochs: 1 }), { attack: measure(minimalTrainingAttack(), (v) => { rmsMin = Math.max(rmsMin, v); }) });
  assert.ok(rmsMin > 0 && rmsMin <= 0.1001, `L2,min RMS ${rmsMin}`);
  // And the default (no hook) runs the same routine.
  const r = await train(opts({ mode: 'all', epochs: 1 }));
  assert.ok(Number.isFinite(r.state.history[0]!.trainLoss));
});

test('standard training learns the synthetic classes', async () => {
  const r = await train(opts({ mode: 'standard', epochs: 6, lr: 0.05, augment: false }));
  const h = r.state.history;
  assert.ok(h[5]!.trainLoss < h[0]!.trainLoss - 0.3, `loss ${h.map((e) => e.trainLoss.toFixed(3)).join(' → ')}`);
});

test('a run directory: state, checkpoint with momentum, loadable model, split, JSONL log; validation = predict()', async () => {
  const r = await train(opts({ mode: 'lipschitz', epochs: 2 }));
  const files = fs.readdirSync(r.dir).sort();
  assert.deepEqual(files, ['ckpt-000000008.safetensors', LOG_FILE, MODEL_FILE, 'split.json', STATE_FILE].sort());
  const ck = loadCheckpoint(r.dir);
  assert.equal(ck.state.options.mode, 'lipschitz');
  assert.equal(ck.state.split.val, 8);
  const { model, metadata, config } = loadModel(path.join(r.dir, MODEL_FILE));
  assert.equal(ck.momentum.size, model.parameters().length);
  assert.equal(config.depth, 8);
  assert.equal(config.activation, 'half-huber');
  assert.deepEqual(JSON.parse(metadata.class_names!), ck.state.classNames);
  const to = JSON.parse(metadata.training_options!) as Record<string, unknown>;
  assert.equal(to.robust_additions, true);
  assert.equal(to.epochs_done, 2);
  // The checkpoint's model tensors are the model file's.
  const mf = readSafetensors(path.join(r.dir, MODEL_FILE));
  for (const [name, t] of ck.model) assert.deepEqual(t.data, mf.tensors.get(name)!.data, name);
  // Validation accuracy re-computed independently with predict() on the held-out images of split.json.
  const split = JSON.parse(fs.readFileSync(path.join(r.dir, 'split.json'), 'utf8')) as { val: number[] };
  assert.equal(split.val.length, 8);
  const valSet = loadDataset(dataFile).subset(split.val);
  const { classes } = predict(model, valSet);
  assert.equal(accuracy(classes, valSet.labels), r.state.history[1]!.valAcc);
  model.dispose();
  const log = fs.readFileSync(path.join(r.dir, LOG_FILE), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(log.map((l) => l.event), ['start', 'step', 'step', 'step', 'step', 'epoch', 'step', 'step', 'step', 'step', 'epoch', 'done']);
  const step = log[1]!;
  for (const k of ['loss', 'lossCls', 'lossAdv', 'psi', 'lr', 'imgPerSec', 'time']) assert.ok(k in step, k);
});

test('a non-finite loss stops the run and keeps the last good checkpoint', async () => {
  const dir = newDir();
  await assert.rejects(train(opts({ mode: 'standard', epochs: 3, lr: 1e30 }), { dir }), (e: Error) => {
    assert.ok(e instanceof TrainingError);
    assert.match(e.message, /non-finite loss \((NaN|Infinity)\) at epoch 1 batch \d \(step \d\); stopped\. The last checkpoint \(epoch 0, step 0, finite weights\) is kept in .*; resuming it unchanged repeats the same steps: a lower --lr \(now 1e\+30\) in a new run usually helps$/);
    assert.ok(!e.message.includes('\n'));
    return true;
  });
  const ck = loadCheckpoint(dir);
  assert.equal(ck.state.step, 0);
  for (const [name, t] of ck.model) assert.ok(Array.from(t.data as Float32Array).every(Number.isFinite), name);
  const last = JSON.parse(fs.readFileSync(path.join(dir, LOG_FILE), 'utf8').trim().split('\n').pop()!) as { event: string };
  assert.equal(last.event, 'diverged');
});

test('memory: a run frees every tensor, and live tensors stay flat from batch to batch', async () => {
  const before = liveTensors();
  const live: number[] = [];
  await train(opts({ mode: 'all', epochs: 3, noiseStd: 0.01 }), { onBatch: () => { live.push(liveTensors()); } });
  assert.equal(liveTensors(), before, 'tensors leaked by a run');
  assert.equal(new Set(live.slice(1)).size, 1, `live tensors per batch: ${live.join(',')}`);
});

test('bad runs: existing run dir, missing checkpoint, changed data, bad options', async () => {
  const r = await train(opts({ epochs: 1 }));
  await assert.rejects(train(opts(), { dir: r.dir }), (e: Error) => e instanceof TrainInputError && /already holds a training run/.test(e.message));
  const empty = newDir();
  await assert.rejects(runTraining({ dir: empty, resume: true }), (e: Error) => e instanceof TrainInputError && e.message.startsWith(path.join(empty, STATE_FILE)));
  const other = path.join(root, 'other.bin');
  fs.writeFileSync(other, makeLearnableBatch(72, 99));
  await assert.rejects(runTraining({ dir: r.dir, resume: true, overrides: { data: other, epochs: 2 } }), (e: Error) => e instanceof TrainInputError && /data differ from the run's/.test(e.message));
  await assert.rejects(train(opts({ val: 72 })), (e: Error) => e instanceof TrainInputError && /--val 72 leaves no training images/.test(e.message));
  await assert.rejects(train(opts({ depth: 10 })), (e: Error) => e instanceof TrainInputError && /depth/.test(e.message));
  // A corrupted checkpoint file is named.
  const ck = loadCheckpoint(r.dir);
  fs.writeFileSync(path.join(r.dir, ck.state.weights), 'garbage');
  await assert.rejects(runTraining({ dir: r.dir, resume: true, overrides: { epochs: 2 } }), (e: Error) => e instanceof TrainInputError && e.message.includes(ck.state.weights));
});

test('resume may change the schedule: --epochs and --milestones overrides', async () => {
  const r = await train(opts({ mode: 'standard', epochs: 1, milestones: [170, 195] }));
  const more = await runTraining({ dir: r.dir, resume: true, overrides: { epochs: 3, milestones: [2] }, threads: 1 });
  assert.deepEqual(more.state.history.map((h) => h.lr), [0.1, 0.1, learningRateAt(2)]);
  assert.deepEqual(more.state.options.milestones, [2]);
  assert.equal(more.state.finished, true);
  await assert.rejects(runTraining({ dir: r.dir, resume: true, overrides: { epochs: 4, milestones: [3, 1] } }), (e: Error) => e instanceof TrainInputError && /milestones: must increase/.test(e.message));
});
const learningRateAt = (e: number): number => (e >= 2 ? 0.1 * 0.1 : 0.1);

test('ψ is derived from the stored integrator; older state files that also store psi load and resume', async () => {
  const r = await train(opts({ mode: 'lipschitz', epochs: 1 }));
  const file = path.join(r.dir, STATE_FILE);
  const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as TrainState;
  assert.equal('psi' in raw, false);
  fs.writeFileSync(file, JSON.stringify({ ...raw, psi: new AdaptivePsi(raw.psiR).psi }));
  assert.equal('psi' in loadCheckpoint(r.dir).state, false);
  const more = await runTraining({ dir: r.dir, resume: true, overrides: { epochs: 2 }, threads: 1 });
  assert.equal(more.state.epoch, 2);
  assert.equal('psi' in JSON.parse(fs.readFileSync(file, 'utf8')), false, 'a resumed run drops the stale copy');
  // The shipped run, written when the state still stored both: its ψ is the one its integrator gives.
  const shipped = path.join(repoRoot(), 'models', 'training', 'default-r20');
  const old = JSON.parse(fs.readFileSync(path.join(shipped, STATE_FILE), 'utf8')) as { psiR: number; psi: number };
  const ck = loadCheckpoint(shipped);
  assert.equal(ck.state.psiR, old.psiR);
  assert.equal(new AdaptivePsi(ck.state.psiR).psi, old.psi);
});

test('--penalty finite-difference: trains, resumes bit for bit; states from before the option resume as double backprop', async () => {
  const o = opts({ mode: 'lipschitz', penalty: 'finite-difference', fdStep: 0.02 });
  const straight = await train(o);
  assert.ok(straight.state.history.every((h) => Number.isFinite(h.trainLoss)));
  let steps = 0;
  const mid = await train(o, { onBatch: () => { steps++; }, shouldStop: () => steps === 6 });
  assert.equal(mid.stopped, true);
  await runTraining({ dir: mid.dir, resume: true, threads: 1 });
  assertSameRun(straight.dir, mid.dir, 'finite-difference mid-epoch resume');
  assert.deepEqual([loadCheckpoint(mid.dir).state.options.penalty, loadCheckpoint(mid.dir).state.options.fdStep], ['finite-difference', 0.02]);

  const old = await train(opts({ mode: 'lipschitz', epochs: 1 }));
  const file = path.join(old.dir, STATE_FILE);
  const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as { options: Record<string, unknown> };
  delete raw.options['penalty'];
  delete raw.options['fdStep'];
  fs.writeFileSync(file, JSON.stringify(raw));
  assert.equal(loadCheckpoint(old.dir).state.options.penalty, 'double-backprop');
  const more = await runTraining({ dir: old.dir, resume: true, overrides: { epochs: 2 }, threads: 1 });
  assert.equal(more.state.epoch, 2);
  const same = await train(opts({ mode: 'lipschitz' }));
  assertSameRun(same.dir, old.dir, 'an old state resumed');
});
