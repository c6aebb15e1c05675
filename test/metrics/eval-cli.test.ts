// advexp eval end to end on a published net (a few images, few steps), and its one-line errors with exit code 2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { PNG } from 'pngjs';
import { repoRoot, skipUnlessShared } from '../helpers/shared.js';
import { araExact, araHistogram } from '../../src/metrics/ara.js';

const cli = path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
const advexp = (args: string[]) => spawnSync(process.execPath, [cli, 'eval', ...args], { encoding: 'utf8' });

test('advexp eval: JSON (ARA exact + histogram, per-record distances, curves, PGD), SVG and PNG plots', (t) => {
  const shared = skipUnlessShared(t, 'models/reference/resnet44-standard.safetensors', 'data/cifar10/data_batch_5.bin');
  if (shared === null) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'advexp-eval-'));
  try {
    const json = path.join(dir, 'out.json');
    const r = advexp(['--model', path.join(shared, 'models', 'reference', 'resnet44-standard.safetensors'),
      '--data', path.join(shared, 'data', 'cifar10', 'data_batch_5.bin'), '--offset', '5000', '--n', '3', '--steps', '20',
      '--pgd-steps', '2', '--threads', '1', '--quiet', '--json', json, '--plot', path.join(dir, 'p.svg'), '--plot', path.join(dir, 'p.png')]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^resnet44-standard +1\.0000 /m); // the table names the model as the plot legend does
    const out = JSON.parse(fs.readFileSync(json, 'utf8'));
    assert.equal(out.n, 3);
    assert.equal(out.accuracy, 1); // records 5000–5002 are classified correctly by this net
    assert.deepEqual(out.image_shape, [3, 32, 32]);
    for (const type of ['attack', 'btr']) {
      const d: number[] = out.distances[type];
      assert.equal(d.length, 3);
      assert.ok(d.every((v) => v > 0 && v < 0.05), `${type} distances ${d}`);
      assert.equal(out.ara[type].exact, araExact(d, 10));
      assert.equal(out.ara[type].histogram, araHistogram(d, 10));
      assert.equal(out.curves[type].eps.length, new Set(d).size + 1);
    }
    assert.equal(out.pgd.linf.eps, 8 / 255);
    assert.equal(out.pgd.l2.eps, 0.5);
    assert.ok(out.pgd.linf.accuracy >= 0 && out.pgd.linf.accuracy <= 1);
    assert.equal(out.settings.steps, 20);
    assert.match(fs.readFileSync(path.join(dir, 'p.svg'), 'utf8'), /^<svg /);
    assert.equal(PNG.sync.read(fs.readFileSync(path.join(dir, 'p.png'))).width, 1440);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['out.json', 'p.png', 'p.svg'], 'no temporary files left');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('advexp eval: bad input is one line on stderr and exit code 2', (t) => {
  const shared = skipUnlessShared(t, 'models/reference/resnet44-standard.safetensors', 'data/cifar10/data_batch_5.bin');
  if (shared === null) return;
  const model = path.join(shared, 'models', 'reference', 'resnet44-standard.safetensors');
  const data = path.join(shared, 'data', 'cifar10', 'data_batch_5.bin');
  const cases: [string[], RegExp][] = [
    [['--model', model], /--data is required/],
    [['--model', model, '--data', data, '--n', '0'], /--n: expected an integer ≥ 1/],
    [['--model', model, '--data', data, '--ara', 'pgd'], /--ara: unknown value 'pgd'/],
    [['--model', model, '--data', data, '--plot', 'x.jpg'], /must end in \.svg or \.png/],
    [['--model', model, '--data', data, '--json', '/nonexistent-dir/x.json'], /does not exist/],
    [['--model', model, '--data', data, '--momentum', '1'], /--momentum: must be in \[0, 1\)/],
    [['--model', model, '--data', data, '--seed', '1', '--offset', '3'], /cannot be combined/],
    [['--model', model, '--data', data, '--offset', '9999', '--n', '5'], /from record 9999: 5 images asked for, but there are 1/],
    [['--model', model, '--data', data, '--bogus'], /Unknown option '--bogus'/],
    [['--model', model, '--data', data, '--autoattack', 'l3'], /--autoattack: unknown norm 'l3'/],
    [['--model', model, '--data', data, '--autoattack', 'linf:0'], /--autoattack: ε must be a number > 0/],
    [['--model', model, '--data', data, '--min-steps', '0'], /--min-steps: expected an integer ≥ 1/],
    [['--model', '/nonexistent.safetensors', '--data', data, '--n', '1'], /no such file/],
    [['--model', model, '--data', data, '--offset', '5000', '--n', '2', '--steps', '4', '--eps', '1e-6', '--pgd', 'none', '--threads', '1', '--quiet'],
      /record\(s\) 5000, 5001 did not cross the boundary within 2 steps: increase --eps or --steps/],
  ];
  for (const [args, re] of cases) {
    const r = advexp(args);
    assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status}, stderr ${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `one line: ${r.stderr}`);
    assert.match(lines[0]!, re);
  }
});

test('advexp eval: Ctrl-C during the run leaves no output and no temporary file', async (t) => {
  const shared = skipUnlessShared(t, 'models/reference/resnet44-standard.safetensors', 'data/cifar10/data_batch_5.bin');
  if (shared === null) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'advexp-eval-int-'));
  try {
    const child = spawn(process.execPath, [cli, 'eval', '--model', path.join(shared, 'models', 'reference', 'resnet44-standard.safetensors'),
      '--data', path.join(shared, 'data', 'cifar10', 'data_batch_5.bin'), '--n', '500', '--threads', '1', '--quiet',
      '--json', path.join(dir, 'out.json'), '--plot', path.join(dir, 'p.png')], { stdio: 'ignore' });
    // 500 images' ARA and PGD take minutes at one thread: no machine finishes them before the signal comes.
    await new Promise((r) => setTimeout(r, 2500));
    child.kill('SIGINT');
    const [code, signal] = await new Promise<[number | null, string | null]>((r) => child.on('exit', (c, s) => r([c, s])));
    assert.ok(signal === 'SIGINT' || code === 130, `interrupted (code ${code}, signal ${signal})`);
    assert.deepEqual(fs.readdirSync(dir), []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('advexp eval --split: scores a training run\'s held-out images (same numbers as those records read directly)', (t) => {
  const shared = skipUnlessShared(t, 'models/reference/resnet44-standard.safetensors', 'data/cifar10/data_batch_5.bin');
  if (shared === null) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'advexp-eval-split-'));
  try {
    const model = path.join(shared, 'models', 'reference', 'resnet44-standard.safetensors');
    const data = path.join(shared, 'data', 'cifar10', 'data_batch_5.bin');
    const split = path.join(dir, 'split.json');
    fs.writeFileSync(split, JSON.stringify({ data, limit: null, n: 10000, seed: 0, val: [5002, 5000, 7, 9000] }));
    const common = ['--model', model, '--data', data, '--n', '2', '--steps', '20', '--pgd', 'none', '--threads', '1', '--quiet'];
    const a = advexp([...common, '--split', split, '--json', path.join(dir, 'a.json')]);
    assert.equal(a.status, 0, a.stderr);
    assert.match(a.stdout, /held-out images of/);
    const one = (offset: number): number[] => {
      const r = advexp([...common, '--n', '1', '--offset', String(offset), '--json', path.join(dir, 'b.json')]);
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(fs.readFileSync(path.join(dir, 'b.json'), 'utf8')).distances.attack;
    };
    const out = JSON.parse(fs.readFileSync(path.join(dir, 'a.json'), 'utf8'));
    assert.deepEqual(out.records, [5002, 5000]);
    assert.equal(out.settings.split, split);
    // Batch composition changes the last bits of the routine's arithmetic, so compare within 1%.
    const expected = [...one(5002), ...one(5000)];
    out.distances.attack.forEach((d: number, i: number) => assert.ok(Math.abs(d - expected[i]!) <= 0.01 * expected[i]!, `${d} vs ${expected[i]}`));

    fs.writeFileSync(split, JSON.stringify({ n: 50000, val: [1, 2] }));
    const bad = advexp([...common, '--split', split]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr.trim(), /^.*drawn from 50000 images, but .*data_batch_5\.bin has 10000: pass the run's --data$/);
    fs.writeFileSync(split, '{"val": 3}');
    assert.match(advexp([...common, '--split', split]).stderr, /not a split file of advexp train/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
