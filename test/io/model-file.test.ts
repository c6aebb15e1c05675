// Model files are checked before anything is built (issue 18, findings 3 and 9): the architecture a file states
// (or that its tensor names imply) against its tensors' names, shapes and dtypes, the config's own fields, and the
// weights' values (NaN/±Inf refused). Fixtures are tiny nets written by the tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { setNumThreads, liveTensors } from '../../src/engine/index.js';
import { PreActResNet, resnetStateShapes, type PreActResNetConfig } from '../../src/nn/index.js';
import { loadModel, saveModel } from '../../src/io/model-file.js';
import { readSafetensors, writeSafetensors, type StTensor } from '../../src/io/safetensors.js';
import { tmpDir, makeBatch, cyclicLabels } from '../data/make-cifar.js';
import { repoRoot } from '../helpers/shared.js';

setNumThreads(1);

const root = tmpDir('advexp-model-file-');
process.on('exit', () => fs.rmSync(root, { recursive: true, force: true }));
const main = path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js');

const TINY: Partial<PreActResNetConfig> = { depth: 8, widths: [4, 8, 8], classes: 10, activation: 'relu' };

/** A valid tiny model file; returns its path and its tensors and metadata for editing. */
function tinyModel(name: string, config: Partial<PreActResNetConfig> = TINY): { file: string; tensors: Map<string, StTensor>; metadata: Record<string, string> } {
  const file = path.join(root, name);
  const m = new PreActResNet(config);
  saveModel(file, m);
  m.dispose();
  const st = readSafetensors(file);
  return { file, tensors: st.tensors, metadata: st.metadata };
}

/** Rewrites a tiny model's file with the config in its metadata changed (the tensors stay as they are). */
function withConfig(name: string, change: (c: Record<string, unknown>) => void): string {
  const { file, tensors, metadata } = tinyModel(name);
  const c = JSON.parse(metadata.advexp_model!) as Record<string, unknown>;
  change(c);
  writeSafetensors(file, tensors, { ...metadata, advexp_model: JSON.stringify(c) });
  return file;
}

function refused(file: string, re: RegExp): void {
  const live = liveTensors();
  assert.throws(() => loadModel(file), (e: Error) => {
    assert.match(e.message, re);
    assert.ok(e.message.startsWith(file), `names the file: ${e.message}`);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
  assert.equal(liveTensors(), live, 'nothing was built');
}

test('the expected state dict computed from a config is the one a built network has (names, order, shapes)', () => {
  for (const c of [
    TINY, { ...TINY, activation: 'half-huber' as const }, { depth: 14, widths: [4, 4, 8] as [number, number, number], classes: 3, inputChannels: 1, inputOffset: [[0.5], [0.25]] as [number[], number[]] },
    { depth: 20, widths: [8, 8, 8] as [number, number, number], classes: 7, activation: 'half-huber' as const },
  ]) {
    const m = new PreActResNet(c);
    const built = [...m.stateDict()].map(([n, t]) => [n, [...t.shape]]);
    const computed = [...resnetStateShapes(m.config)];
    m.dispose();
    assert.deepEqual(computed, built, JSON.stringify(c));
  }
});

test('finding 3: metadata claiming depth 120002 or widths 1e5 over small tensors fails at once, naming the first mismatch', () => {
  const deep = withConfig('deep.safetensors', (c) => { c.depth = 120002; });
  refused(deep, /no tensor 'pipe\.1\.1\.pre\.0\.weight', which metadata 'advexp_model' \(PreActResNet-120002 4\/8\/8 relu, 10 classes, 3 channels\) needs; the file holds 40$/);
  const wide = withConfig('wide.safetensors', (c) => { c.widths = [1e5, 1e5, 1e5]; });
  refused(wide, /tensor 'pipe\.0\.weight' has shape \[4,3,3,3\]; metadata 'advexp_model' \(PreActResNet-8 100000\/100000\/100000 .*\) needs \[100000,3,3,3\]/);
  const absurd = withConfig('absurd.safetensors', (c) => { c.depth = 6e15 + 2; });
  refused(absurd, /no tensor 'pipe\.1\.1\.pre\.0\.weight'/);
  // Too few blocks for the tensors: the first tensor the config lacks.
  const { file, tensors, metadata } = tinyModel('d14.safetensors', { ...TINY, depth: 14 });
  writeSafetensors(file, tensors, { ...metadata, advexp_model: JSON.stringify({ ...JSON.parse(metadata.advexp_model!) as object, depth: 8 }) });
  refused(file, /tensor 'pipe\.1\.1\.[a-z0-9.]+' is not part of metadata 'advexp_model' \(PreActResNet-8/);
  // Classes and channels are compared too.
  refused(withConfig('classes.safetensors', (c) => { c.classes = 1000; }), /tensor 'pipe\.7\.weight' has shape \[10,8,1,1\]; .* needs \[1000,8,1,1\]/);
});

test('finding 3: a published-style file (architecture read off the names) is checked the same way', () => {
  const { file, tensors } = tinyModel('ref.safetensors');
  // No advexp_model: the architecture comes from the names; a shortcut of the wrong shape is named.
  const bad = new Map(tensors);
  bad.set('pipe.2.0.shortcut.weight', { dtype: 'F32', shape: [8, 4, 1, 1], data: new Float32Array(32) });
  writeSafetensors(file, bad, { training_options: JSON.stringify({ robust_additions: false }) });
  refused(file, /tensor 'pipe\.2\.0\.shortcut\.weight' has shape \[8,4,1,1\]; the architecture read off its tensor names \(PreActResNet-8 .*\) needs \[8,4,3,3\]/);
  writeSafetensors(file, tensors, { training_options: JSON.stringify({ robust_additions: false }) });
  const ok = loadModel(file);
  assert.equal(ok.config.depth, 8);
  ok.model.dispose();
});

test('finding 9: widths 16.5, activation "sigmoid", a string inputOffset, a missing depth: refused naming the field', () => {
  refused(withConfig('w.safetensors', (c) => { c.widths = [16.5, 32, 64]; }), /metadata 'advexp_model': widths: expected three positive integers, got \[16\.5,32,64\]$/);
  refused(withConfig('a.safetensors', (c) => { c.activation = 'sigmoid'; }), /metadata 'advexp_model': activation: expected relu or half-huber, got "sigmoid"$/);
  refused(withConfig('o.safetensors', (c) => { c.inputOffset = 'abc'; }), /metadata 'advexp_model': inputOffset: expected \[means, stds\]: two lists of 3 finite numbers, the stds > 0, got "abc"$/);
  refused(withConfig('s.safetensors', (c) => { c.inputOffset = [[0, 0, 0], [1, 0, 1]]; }), /inputOffset: expected/);
  refused(withConfig('d.safetensors', (c) => { delete c.depth; }), /metadata 'advexp_model': depth: expected 6n\+2 ≥ 8 .*got nothing$/);
  refused(withConfig('c.safetensors', (c) => { c.classes = '10'; }), /classes: expected a positive integer, got "10"$/);
  refused(withConfig('ch.safetensors', (c) => { c.inputChannels = -3; }), /inputChannels: expected a positive integer, got -3$/);
});

test('finding 9: NaN or Inf weights and an I32 tensor are refused, naming the tensor', () => {
  for (const [what, value] of [['NaN', NaN], ['Infinity', Infinity], ['-Infinity', -Infinity]] as const) {
    const { file, tensors, metadata } = tinyModel(`nan-${what}.safetensors`);
    const t = tensors.get('pipe.1.0.main.0.weight')!;
    (t.data as Float32Array)[5] = value;
    writeSafetensors(file, tensors, metadata);
    refused(file, new RegExp(`tensor 'pipe\\.1\\.0\\.main\\.0\\.weight' holds ${what} \\(element 5\\): weights must be finite numbers$`));
  }
  const { file, tensors, metadata } = tinyModel('i32.safetensors');
  const w = tensors.get('pipe.0.weight')!;
  tensors.set('pipe.0.weight', { dtype: 'I32', shape: w.shape, data: Int32Array.from(w.data as Float32Array, (v) => Math.round(v * 100)) });
  writeSafetensors(file, tensors, metadata);
  refused(file, /tensor 'pipe\.0\.weight' is I32; a model's tensors must be floating point \(F32, F16, BF16 or F64\)$/);
  // Half precision is a float: loads.
  const half = tinyModel('f16.safetensors');
  for (const [name, t] of half.tensors) half.tensors.set(name, { ...t, dtype: 'F16' });
  writeSafetensors(half.file, half.tensors, half.metadata);
  const ok = loadModel(half.file);
  ok.model.dispose();
});

test('the CLI: a depth-120002 model and a NaN model exit 2 with one line naming the file', () => {
  const data = path.join(root, 'data.bin');
  fs.writeFileSync(data, makeBatch(cyclicLabels(4)));
  const deep = withConfig('cli-deep.safetensors', (c) => { c.depth = 120002; });
  const { file: nan, tensors, metadata } = tinyModel('cli-nan.safetensors');
  (tensors.get('pipe.7.bias')!.data as Float32Array)[0] = NaN;
  writeSafetensors(nan, tensors, metadata);
  for (const [file, re] of [[deep, /no tensor 'pipe\.1\.1\.pre\.0\.weight'/], [nan, /tensor 'pipe\.7\.bias' holds NaN/]] as const) {
    const r = spawnSync(process.execPath, [main, 'predict', '--model', file, '--data', data, '--threads', '1'], { encoding: 'utf8' });
    assert.equal(r.status, 2, r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, new RegExp(`^advexp: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
    assert.match(lines[0]!, re);
  }
});

test('issue 12: files state their architecture; a sidecar JSON and overrides give class names and size; a pickle gets the export hint', () => {
  const { file, metadata } = tinyModel('arch.safetensors');
  assert.equal(JSON.parse(metadata.advexp_model!).arch, 'preact-resnet');
  const m = loadModel(file);
  assert.equal(m.arch, 'preact-resnet');
  assert.deepEqual(m.input, { channels: 3, size: [32, 32] });
  assert.equal(m.classes, 10);
  assert.equal(m.classNames, null);
  assert.match(m.description, /^PreActResNet-8 4\/8\/8 relu, 10 classes, 3 channels$/);
  m.model.dispose();
  // Sidecar beside the file: names and size.
  const side = path.join(root, 'arch.json');
  const names = Array.from({ length: 10 }, (_, i) => `c${i}`);
  fs.writeFileSync(side, JSON.stringify({ classes: names, size: 40 }));
  const s = loadModel(file);
  assert.deepEqual(s.classNames, names);
  assert.deepEqual(s.input.size, [40, 40]);
  s.model.dispose();
  // Flags win over the sidecar; a wrong class count, unknown fields and normalisation for a safetensors file are refused.
  const o = loadModel(file, { size: [8, 12] });
  assert.deepEqual(o.input.size, [8, 12]);
  o.model.dispose();
  refusedWith(() => loadModel(file, { classNames: ['a', 'b'] }), /2 class name\(s\) given for a model with 10 classes/);
  refusedWith(() => loadModel(file, { mean: [0, 0, 0] }), /the file states its normalisation; --mean\/--std are for TorchScript models/);
  fs.writeFileSync(side, JSON.stringify({ classes: names, colour: 'red' }));
  refusedWith(() => loadModel(file), /arch\.json: unknown field 'colour'/);
  fs.writeFileSync(side, JSON.stringify({ size: [0, 3] }));
  refusedWith(() => loadModel(file), /arch\.json: size: expected N or \[height, width\], got \[0,3\]/);
  fs.rmSync(side);
  // An unknown architecture, and a torch.save pickle (protocol 2 header).
  refused(withConfig('unknown-arch.safetensors', (c) => { c.arch = 'vgg99'; }), /metadata 'advexp_model': unknown architecture 'vgg99' \(known: preact-resnet/);
  const pickle = path.join(root, 'weights.pt');
  fs.writeFileSync(pickle, Buffer.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20]));
  refusedWith(() => loadModel(pickle), /weights\.pt: a pickled PyTorch object \(torch\.save\), not a model advexp can run: export it with torch\.jit\.script/);
});

function refusedWith(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: Error) => {
    assert.match(e.message, re);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
}

test('issue 12: a raw PyTorch state dict (no metadata, batch-norm counters kept) loads by its tensor names', () => {
  const fixture = path.join(repoRoot(), 'test', 'fixtures', 'archs', 'resnet18-w4.safetensors');
  const st = readSafetensors(fixture);
  assert.ok([...st.tensors.keys()].some((k) => k.endsWith('num_batches_tracked')), 'the fixture keeps the counters');
  const raw = path.join(root, 'resnet18-raw.safetensors');
  writeSafetensors(raw, st.tensors, {});
  const m = loadModel(raw);
  assert.equal(m.arch, 'torchvision-resnet');
  assert.equal(m.config.depth, 18);
  assert.deepEqual(m.input.size, [224, 224]);
  m.model.dispose();
});
