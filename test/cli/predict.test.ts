// advexp predict end to end, as a user runs it: real process, exit codes, one-line errors, JSON output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PreActResNet } from '../../src/nn/index.js';
import { manualSeed } from '../../src/engine/index.js';
import { saveModel } from '../../src/io/model-file.js';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors.js';
import { repoRoot, skipUnlessShared } from '../helpers/shared.js';

const cli = path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
function advexp(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'advexp-predict-'));
function cifarFile(n: number, labels: (i: number) => number): string {
  const buf = Buffer.alloc(n * 3073);
  for (let i = 0; i < n; i++) { buf[i * 3073] = labels(i); for (let j = 1; j < 3073; j++) buf[i * 3073 + j] = (i * 7 + j) % 256; }
  const f = path.join(tmp, `data-${n}.bin`);
  fs.writeFileSync(f, buf);
  return f;
}
const tinyModel = path.join(tmp, 'tiny.safetensors');
manualSeed(0); // libtorch seeds its default generator at random: the same tiny net every run
saveModel(tinyModel, new PreActResNet({ depth: 8, widths: [4, 8, 8] }));

test('predict: accuracy line and JSON with one class per record in file order', () => {
  const data = cifarFile(5, (i) => i % 10);
  const out = path.join(tmp, 'pred.json');
  const r = advexp('predict', '--model', tinyModel, '--data', data, '--json', out, '--threads', '1');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /accuracy \d\.\d{4} on 5 records/);
  const j = JSON.parse(fs.readFileSync(out, 'utf8'));
  assert.equal(j.n, 5);
  assert.equal(j.predictions.length, 5);
  assert.ok(j.predictions.every((c: number) => Number.isInteger(c) && c >= 0 && c < 10));
  const limited = advexp('predict', '--model', tinyModel, '--data', data, '--limit', '2', '--threads', '1');
  assert.match(limited.stdout, /on 2 records/);
});

test('predict: bad inputs are one-line errors naming the file, exit 2', () => {
  const data = cifarFile(2, () => 1);
  const cases: [string[], RegExp][] = [
    [['--model', tinyModel, '--data', path.join(tmp, 'nope.bin')], /nope\.bin/],
    [['--model', tinyModel, '--data', tinyModel], /tiny\.safetensors.*(multiple|3073)/],
    [['--model', tinyModel, '--data', cifarFile(1, () => 12)], /data-1\.bin.*label/],
    [['--model', path.join(tmp, 'missing.safetensors'), '--data', data], /missing\.safetensors/],
    [['--model', data, '--data', data], /data-2\.bin/],
    [['--model', tinyModel], /--data is required/],
    [['--model', tinyModel, '--data', data, '--limit', 'x'], /--limit/],
    [['--bogus'], /bogus/],
  ];
  for (const [args, re] of cases) {
    const r = advexp('predict', ...args);
    assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}, stderr ${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `${args.join(' ')}: expected one line, got ${r.stderr}`);
    assert.match(lines[0]!, re);
  }
});

test('predict: a model file with a wrong tensor shape is refused, naming file and tensor', () => {
  const st = readSafetensors(tinyModel);
  const w = st.tensors.get('pipe.7.bias')!;
  st.tensors.set('pipe.7.bias', { dtype: 'F32', shape: [3], data: new Float32Array(3) });
  assert.equal(w.shape[0], 10);
  const bad = path.join(tmp, 'bad-shape.safetensors');
  writeSafetensors(bad, st.tensors, st.metadata);
  const r = advexp('predict', '--model', bad, '--data', cifarFile(2, () => 0));
  assert.equal(r.code, 2);
  assert.match(r.stderr.trim(), /^advexp: .*bad-shape\.safetensors.*pipe\.7\.bias/);
});

test('predict: the published robust net on 200 real records', (t) => {
  const shared = skipUnlessShared(t, 'models/reference/resnet44-robust.safetensors', 'data/cifar10/data_batch_5.bin');
  if (shared === null) return;
  const r = advexp('predict', '--model', path.join(shared, 'models/reference/resnet44-robust.safetensors'),
    '--data', path.join(shared, 'data/cifar10/data_batch_5.bin'), '--limit', '200');
  assert.equal(r.code, 0, r.stderr);
  const acc = Number(/accuracy (\d\.\d+)/.exec(r.stdout)![1]);
  assert.ok(acc > 0.55 && acc < 0.8, `robust net accuracy ${acc} is far from its published 0.676`);
});
