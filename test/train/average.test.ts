// Weight averaging (train/average.ts) against closed forms computed here in float64: the average of state dicts, and
// batch norm's recomputed statistics (the mean of the per-batch means and of the per-batch unbiased variances, the
// cumulative average torch.optim.swa_utils.update_bn gives).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { manualSeed, randperm, tidy } from '../../src/engine/index.js';
import { BatchNorm2d, Sequential, Conv2d, architecture, resnetConfig, batchNormLayers } from '../../src/nn/index.js';
import { ImageDataset } from '../../src/data/dataset.js';
import { averageInto, updateBatchNorm } from '../../src/train/average.js';

test('averageInto: every parameter and buffer is the float32-rounded mean of the inputs', () => {
  const arch = architecture('preact-resnet');
  const config = resnetConfig({ depth: 8, widths: [2, 4, 4], classes: 3, activation: 'half-huber' });
  const nets = [1, 2, 3].map((s) => { manualSeed(s); return arch.build(config); });
  const values = nets.map((n) => new Map([...n.stateDict()].map(([k, t]) => [k, Float32Array.from(t.data<Float32Array>())])));
  const target = (manualSeed(9), arch.build(config));
  averageInto(target, nets.map((n) => n.stateDict()));
  for (const [name, t] of target.stateDict()) {
    const got = t.data<Float32Array>();
    const want = got.map((_, j) => Math.fround((values[0]!.get(name)![j]! + values[1]!.get(name)![j]! + values[2]!.get(name)![j]!) / 3));
    assert.deepEqual(Array.from(got), Array.from(want), name);
  }
  for (const n of [...nets, target]) n.dispose();
});

test('updateBatchNorm: running mean and variance are the mean over batches of the batch statistics, for the seeded order', () => {
  const [n, c, h, w] = [10, 3, 2, 2];
  const pixels = Float32Array.from({ length: n * c * h * w }, (_, i) => Math.fround(((i * 7919) % 101) / 101 + (i % 3) * 0.25));
  const data = ImageDataset.fromFloats(pixels, new Int32Array(n), { channels: c, height: h, width: w });
  const bn = new BatchNorm2d(c);
  const model = new Sequential([bn]).eval();
  const batch = 4; // batches of 4, 4 and 2 images
  const layers = updateBatchNorm(model, data, { batch, augment: false, seed: 5 });
  assert.equal(layers, 1);
  assert.equal(bn.momentum, 0.1, 'momentum restored');
  assert.equal(model.training, false, 'mode restored');

  manualSeed(5);
  const order = tidy(() => randperm(n).toArray());
  const means: number[][] = [], vars: number[][] = [];
  for (let s = 0; s < n; s += batch) {
    const idx = order.slice(s, s + batch);
    const m: number[] = [], v: number[] = [];
    for (let ch = 0; ch < c; ch++) {
      const xs = idx.flatMap((i) => Array.from(pixels.subarray((i * c + ch) * h * w, (i * c + ch + 1) * h * w)));
      const mu = xs.reduce((a, b) => a + b, 0) / xs.length;
      m.push(mu);
      v.push(xs.reduce((a, b) => a + (b - mu) ** 2, 0) / (xs.length - 1));
    }
    means.push(m);
    vars.push(v);
  }
  const avg = (rows: number[][], ch: number): number => rows.reduce((a, r) => a + r[ch]!, 0) / rows.length;
  const gotMean = bn.runningMean.data<Float32Array>(), gotVar = bn.runningVar.data<Float32Array>();
  for (let ch = 0; ch < c; ch++) {
    assert.ok(Math.abs(gotMean[ch]! - avg(means, ch)) < 1e-6, `mean[${ch}] ${gotMean[ch]} vs ${avg(means, ch)}`);
    assert.ok(Math.abs(gotVar[ch]! - avg(vars, ch)) < 1e-6, `var[${ch}] ${gotVar[ch]} vs ${avg(vars, ch)}`);
  }
  model.dispose();
});

test('updateBatchNorm: earlier running statistics do not leak in; a network without batch norm is left alone', () => {
  const pixels = Float32Array.from({ length: 8 * 12 }, (_, i) => (i % 5) / 5);
  const data = ImageDataset.fromFloats(pixels, new Int32Array(8), { channels: 3, height: 2, width: 2 });
  const run = (start: number): Float32Array => {
    const bn = new BatchNorm2d(3);
    tidy(() => { bn.runningMean.fill_(start); bn.runningVar.fill_(start + 1); });
    updateBatchNorm(new Sequential([bn]), data, { augment: false, batch: 3 });
    return Float32Array.from([...bn.runningMean.data<Float32Array>(), ...bn.runningVar.data<Float32Array>()]);
  };
  assert.deepEqual(Array.from(run(0)), Array.from(run(100)));
  const conv = new Sequential([new Conv2d(3, 2, 1)]);
  assert.equal(batchNormLayers(conv).length, 0);
  assert.equal(updateBatchNorm(conv, data), 0);
  conv.dispose();
});
