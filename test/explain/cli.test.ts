// advexp explain, explain-eval and gradcam-attack as a user runs them: real processes, outputs, one-line errors
// with exit 2. Tiny networks and few steps keep this fast.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { PreActResNet } from '../../src/nn/index.js';
import { manualSeed } from '../../src/engine/index.js';
import { saveModel } from '../../src/io/model-file.js';
import { repoRoot } from '../helpers/shared.js';

const cli = path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
function advexp(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args, '--threads', '1'], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'advexp-explain-'));
manualSeed(4);
const tiny = path.join(tmp, 'tiny.safetensors');
const tiny2 = path.join(tmp, 'tiny2.safetensors');
saveModel(tiny, new PreActResNet({ depth: 8, widths: [4, 8, 8] }));
saveModel(tiny2, new PreActResNet({ depth: 8, widths: [4, 8, 8], activation: 'half-huber' }));

const data = path.join(tmp, 'data.bin');
{
  const buf = Buffer.alloc(4 * 3073);
  for (let i = 0; i < 4; i++) { buf[i * 3073] = (i * 3) % 10; for (let j = 1; j < 3073; j++) buf[i * 3073 + j] = (i * 31 + j * 7) % 256; }
  fs.writeFileSync(data, buf);
}
const photo = path.join(tmp, 'photo.png');
{
  const png = new PNG({ width: 50, height: 40 });
  for (let i = 0; i < 50 * 40; i++) { png.data[i * 4] = (i * 5) % 256; png.data[i * 4 + 1] = (i * 3) % 256; png.data[i * 4 + 2] = 90; png.data[i * 4 + 3] = 255; }
  fs.writeFileSync(photo, PNG.sync.write(png));
}
const FAST = ['--steps', '3', '--lime-samples', '20', '--segments', '16', '--smoothgrad-samples', '2', '--ig-steps', '2', '--quiet'];

test('explain: any-size image, every method, panel PNG and JSON with every AE number', () => {
  const out = path.join(tmp, 'e1');
  const r = advexp('explain', photo, '--model', tiny, '--methods', 'ae,gradcam,lime,saliency,smoothgrad,ig', '--targets', 'true,second', ...FAST, '--out', out);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /photo\.png: 50×40 cropped to 40×40, resized to 32×32/);
  const png = PNG.sync.read(fs.readFileSync(path.join(out, 'explain.png')));
  assert.ok(png.width >= 8 * 128 && png.height >= 128, `panel ${png.width}×${png.height}: original + 2 AEs + 5 maps at 4×`);
  const j = JSON.parse(fs.readFileSync(path.join(out, 'explain.json'), 'utf8'));
  assert.deepEqual(j.notes, [`${photo}: 50×40 cropped to 40×40, resized to 32×32`]);
  const ae = j.results[0].ae;
  assert.equal(ae.length, 2);
  for (const e of ae) {
    for (const k of ['image', 'target', 'class', 'p_before', 'p_after', 'rms']) assert.ok(k in e, `AE entry lacks ${k}`);
    assert.ok(e.rms > 0 && e.p_before > 0 && e.p_after > 0, `rms ${e.rms}`);   // (3 steps: RMS(δ) not yet settled at ρ)
  }
  assert.deepEqual(ae.map((e: { kind: string }) => e.kind), ['true', 'second']);
  assert.notEqual(ae[0].target, ae[1].target);
  assert.deepEqual(Object.keys(j.results[0].maps).sort(), ['gradcam', 'ig', 'lime', 'saliency', 'smoothgrad']);
  assert.equal(j.results[0].maps.gradcam[0].map.length, 1024);
  assert.deepEqual(j.results[0].maps.gradcam[0].cam_shape, [8, 8]);
});

test('explain: CIFAR records with --compare-models, all targets', () => {
  const out = path.join(tmp, 'e2');
  const r = advexp('explain', '--data', data, '--index', '1,3', '--compare-models', `${tiny},${tiny2}`, '--targets', 'all', '--methods', 'ae', ...FAST, '--out', out);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(fs.readFileSync(path.join(out, 'explain.json'), 'utf8'));
  assert.equal(j.results.length, 2);
  assert.deepEqual(j.inputs.map((i: { record: number; label: number }) => [i.record, i.label]), [[1, 3], [3, 9]]);
  for (const m of j.results) {
    assert.equal(m.ae.length, 20);
    assert.deepEqual(m.ae.slice(0, 10).map((e: { target: number }) => e.target), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  }
  const png = PNG.sync.read(fs.readFileSync(path.join(out, 'explain.png')));
  assert.ok(png.height >= 4 * 128, 'one row per image and model');
});

test('explain: bad input is one line naming the file or argument, exit 2', () => {
  const notImage = path.join(tmp, 'notes.txt');
  fs.writeFileSync(notImage, 'hello');
  const cases: [string[], RegExp][] = [
    [['explain', photo, '--model', tiny], /--out DIR is required/],
    [['explain', '--model', tiny, '--out', tmp], /no input/],
    [['explain', photo, '--data', data, '--index', '0', '--model', tiny, '--out', tmp], /not both/],
    [['explain', '--data', data, '--model', tiny, '--out', tmp], /--index/],
    [['explain', '--data', data, '--index', '9', '--model', tiny, '--out', tmp], /--index 9: .*data\.bin has 4 record/],
    [['explain', path.join(tmp, 'missing.png'), '--model', tiny, '--out', tmp], /missing\.png/],
    [['explain', notImage, '--model', tiny, '--out', tmp], /notes\.txt: not a PNG, JPEG, WebP, AVIF, TIFF or GIF image/],
    [['explain', photo, '--model', tiny, '--targets', 'third', '--out', tmp], /--targets: 'third'/],
    [['explain', photo, '--model', tiny, '--targets', '12', '--out', tmp], /--targets: '12'.*0\.\.9/],
    [['explain', photo, '--model', tiny, '--methods', 'ae,shap', '--out', tmp], /--methods: unknown value 'shap'/],
    [['explain', photo, '--model', tiny, '--methods', 'gradcam', '--layer', 'pipe.3.9', '--out', tmp], /--layer: layer 'pipe\.3\.9'/],
    [['explain', photo, '--model', tiny, '--rho', '-1', '--out', tmp], /--rho/],
    [['explain', photo, '--model', path.join(tmp, 'nope.safetensors'), '--out', tmp], /nope\.safetensors/],
    [['explain', photo, '--model', tiny, '--out', notImage], /--out .*notes\.txt: exists and is not a directory/],
  ];
  for (const [args, re] of cases) {
    const r = advexp(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}, stderr ${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `${args.join(' ')}: expected one line, got ${r.stderr}`);
    assert.match(lines[0]!, re, args.join(' '));
  }
});

test('explain-eval: table, markdown and JSON; errors exit 2', () => {
  const json = path.join(tmp, 'ev.json'), md = path.join(tmp, 'ev.md');
  const r = advexp('explain-eval', '--model', tiny, '--data', data, '--n', '3', '--methods', 'ae,gradcam,random', '--ae-targets', 'true,second', ...FAST, '--step', '256', '--json', json, '--md', md);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\| tiny \| ae \| 3 \|/);
  const j = JSON.parse(fs.readFileSync(json, 'utf8'));
  assert.deepEqual(j.rows.map((x: { method: string }) => x.method), ['ae', 'gradcam', 'random']);
  const ae = j.rows[0];
  assert.equal(ae.pairs, 6);
  assert.ok(ae.reach >= 0 && ae.reach <= 1 && ae.deletion >= 0 && ae.deletion <= 1 && ae.insertion >= 0 && ae.insertion <= 1);
  assert.equal(j.models[0].methods.gradcam.deletion.length, 3);
  assert.match(fs.readFileSync(md, 'utf8'), /^\| model \| method \|/);
  // Two runs' model.safetensors: table rows and progress lines name them apart.
  for (const run of ['a', 'b']) { fs.mkdirSync(path.join(tmp, run), { recursive: true }); fs.copyFileSync(tiny, path.join(tmp, run, 'model.safetensors')); }
  const two = advexp('explain-eval', '--model', path.join(tmp, 'a', 'model.safetensors'), '--model', path.join(tmp, 'b', 'model.safetensors'), '--data', data, '--n', '2', '--methods', 'random', ...FAST);
  assert.equal(two.code, 0, two.stderr);
  for (const run of ['a', 'b']) {
    assert.match(two.stdout, new RegExp(`\\| ${run}/model \\| random \\|`));
    assert.match(two.stdout, new RegExp(`^${run}/model: accuracy`, 'm'));
  }
  for (const [args, re] of [
    [['explain-eval', '--model', tiny, '--data', data, '--n', '9'], /only 4 record/],
    [['explain-eval', '--model', tiny], /--data is required/],
    [['explain-eval', '--model', tiny, '--data', data, '--methods', 'nope'], /--methods: unknown value 'nope'/],
    [['explain-eval', '--model', tiny, '--data', data, '--ae-targets', 'x'], /--ae-targets: 'x'/],
  ] as [string[], RegExp][]) {
    const e = advexp(...args);
    assert.equal(e.code, 2, `${args.join(' ')}: ${e.stderr}`);
    assert.equal(e.stderr.trim().split('\n').length, 1);
    assert.match(e.stderr, re);
  }
});

test('gradcam-attack: both attacks report class before/after, RMS and map correlation', () => {
  for (const attack of ['keep-cam', 'minimal']) {
    const out = path.join(tmp, `ga-${attack}`);
    const r = advexp('gradcam-attack', '--model', tiny, '--model', tiny2, '--data', data, '--n', '2', '--steps', '4', '--attack', attack, '--out', out);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(fs.readFileSync(path.join(out, 'gradcam-attack.json'), 'utf8'));
    assert.equal(j.settings.attack, attack);
    assert.equal(j.results.length, 2);
    for (const m of j.results) {
      for (const im of m.images) {
        for (const k of ['class_before', 'class_after', 'rms', 'correlation', 'flipped']) assert.ok(k in im, `${k} missing`);
        if (attack === 'keep-cam') assert.ok(im.rms <= 0.01 * 1.001, `rms ${im.rms} within rho`);
      }
    }
    assert.ok(fs.existsSync(path.join(out, 'gradcam-attack.png')));
  }
  const e = advexp('gradcam-attack', '--model', tiny, '--data', data, '--attack', 'pgd', '--out', tmp);
  assert.equal(e.code, 2);
  assert.match(e.stderr, /--attack: expected keep-cam or minimal/);
});
