// 1-channel data end to end (issue 13): a tiny grayscale image folder (made here) through train (--val-data,
// --balance, --no-flip, robust mode), eval (clinical metrics, majority-rate ARA, BTR = Attack for K = 2, --split of a
// --val-data run), explain and serve; and the real chest X-rays of ../shared when present (skipped loudly otherwise).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import pngjs from 'pngjs';
import { advexp } from '../helpers/cli.js';
import { skipUnlessShared, repoRoot } from '../helpers/shared.js';
import { tmpDir, startServe, multipart, pngImage } from '../server/fixtures.js';
import { loadDataset } from '../../src/data/load.js';
import { loadModel } from '../../src/io/model-file.js';

/** A w×w 8-bit grayscale PNG (colour type 0): class 1 has a bright disc, class 0 a dark field; seed varies the noise. */
function grayPng(w: number, cls: number, seed: number): Buffer {
  const png = new pngjs.PNG({ width: w, height: w, colorType: 0, inputColorType: 0, bitDepth: 8, inputHasAlpha: false });
  const data = Buffer.alloc(w * w);
  for (let y = 0; y < w; y++) {
    for (let x = 0; x < w; x++) {
      const disc = (x - w / 2) ** 2 + (y - w / 2) ** 2 < (w / 3) ** 2;
      data[y * w + x] = Math.min(255, (cls === 1 && disc ? 200 : 40) + ((x * 7 + y * 13 + seed * 31) % 37));
    }
  }
  (png as unknown as { data: Buffer }).data = data;
  return pngjs.PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false });
}

function grayFolder(dir: string, perClass: [number, number], w = 12): string {
  ['normal', 'pneumonia'].forEach((name, cls) => {
    fs.mkdirSync(path.join(dir, name), { recursive: true });
    for (let i = 0; i < perClass[cls]!; i++) fs.writeFileSync(path.join(dir, name, `${i}.png`), grayPng(w, cls, i + 10 * cls));
  });
  return dir;
}

const tmp = tmpDir('advexp-gray-');
const train = grayFolder(path.join(tmp, 'train'), [4, 12]);
const val = grayFolder(path.join(tmp, 'val'), [3, 5]);
const run = path.join(tmp, 'run');
const model = path.join(run, 'model.safetensors');
// A standard net separates the synthetic classes in a few epochs (the robust tiny run above is too short to).
const stdRun = path.join(tmp, 'std');
const stdModel = path.join(stdRun, 'model.safetensors');

test('grayscale folders load as 1 channel', () => {
  const s = loadDataset(train);
  assert.deepEqual([s.n, s.channels, s.height, s.width], [16, 1, 12, 12]);
  assert.deepEqual(s.classNames, ['normal', 'pneumonia']);
});

test('train: a 1-channel robust run with --val-data, --balance and --no-flip', () => {
  const r = advexp(['train', '--data', train, '--val-data', val, '--out', run, '--mode', 'lipschitz', '--depth', '8', '--widths', '4,4,4',
    '--epochs', '2', '--batch', '8', '--balance', '--no-flip', '--threads', '1', '--quiet'], { timeoutMs: 180_000 });
  assert.equal(r.code, 0, r.stderr);
  const m = loadModel(model);
  try {
    const opts = m.trainingOptions as Record<string, unknown>;
    assert.equal(opts.balance, 'sample', '--balance alone: balanced sampling');
    assert.equal(opts.flip, false);
    assert.equal(opts.val_images, 8, 'the whole validation folder');
    assert.ok(Math.abs((opts.loss_target as number) - 1.5 * Math.LN2 / Math.LN10) < 1e-12, 'K-aware ψ target');
    assert.equal(m.input.channels, 1);
    assert.deepEqual(m.input.size, [12, 12]);
    assert.deepEqual(m.classNames, ['normal', 'pneumonia']);
  } finally {
    m.model.dispose();
  }
  const split = JSON.parse(fs.readFileSync(path.join(run, 'split.json'), 'utf8')) as { val: number[]; valData: string };
  assert.deepEqual(split.val, []);
  assert.equal(split.valData, path.resolve(val));
});

test('train: --val never exceeds the data (default a tenth) and --val with --val-data is refused', () => {
  const r = advexp(['train', '--data', train, '--val-data', val, '--val', '3', '--out', path.join(tmp, 'x')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--val and --val-data cannot be combined/);
  const r2 = advexp(['train', '--data', train, '--val', '16', '--out', path.join(tmp, 'y'), '--epochs', '1', '--threads', '1']);
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /--val 16 leaves no training images/);
  const r3 = advexp(['train', '--data', train, '--out', path.join(tmp, 'z'), '--mode', 'standard', '--depth', '8', '--widths', '2,2,2', '--epochs', '1', '--batch', '4', '--threads', '1', '--quiet']);
  assert.equal(r3.code, 0, r3.stderr);
  const log = fs.readFileSync(path.join(tmp, 'z', 'log.jsonl'), 'utf8');
  assert.match(log, /"nTrain":15,"nVal":1/, 'a tenth of 16 held out');
});

test('eval: clinical metrics, majority-rate ARA, BTR = Attack for two classes; --split of a --val-data run', () => {
  const t = advexp(['train', '--data', train, '--val-data', val, '--out', stdRun, '--mode', 'standard', '--depth', '8', '--widths', '4,4,4',
    '--epochs', '6', '--batch', '4', '--lr', '0.05', '--balance-by', 'sample', '--threads', '1', '--quiet'], { timeoutMs: 180_000 });
  assert.equal(t.code, 0, t.stderr);
  const r = advexp(['eval', '--model', stdModel, '--data', val, '--steps', '40', '--pgd', 'none', '--threads', '1', '--quiet', '--json', '-']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as Record<string, any>;
  assert.equal(j.n, 8);
  assert.deepEqual(j.support, [3, 5]);
  assert.equal(j.confusion.flat().reduce((a: number, b: number) => a + b, 0), 8);
  assert.ok(j.auc === null || (j.auc >= 0 && j.auc <= 1));
  assert.equal(j.majority_rate, 5 / 8);
  assert.deepEqual(j.class_names, ['normal', 'pneumonia']);
  assert.deepEqual(j.distances.btr, j.distances.attack);
  assert.ok(j.ara_majority.attack < j.ara.attack.exact, 'the majority rate 5/8 lies above chance ½');
  assert.ok(j.balanced_accuracy >= 0 && j.balanced_accuracy <= 1);
  assert.match(r.stderr, /balanced accuracy/);
  assert.match(r.stderr, /BTR ARA = Attack ARA/);
  const s = advexp(['eval', '--model', stdModel, '--split', path.join(stdRun, 'split.json'), '--data', train, '--ara', 'none', '--pgd', 'none', '--threads', '1', '--quiet', '--json', '-']);
  assert.equal(s.code, 0, s.stderr);
  assert.equal((JSON.parse(s.stdout) as { n: number }).n, 8, 'the run\'s validation folder');
});

test('explain: panels and JSON of a 1-channel model', () => {
  const out = path.join(tmp, 'explain');
  const r = advexp(['explain', '--model', model, '--data', val, '--index', '0,4', '--targets', 'all', '--methods', 'ae,gradcam,lime', '--delta', '--lime-samples', '50',
    '--segments', '8', '--steps', '5', '--out', out, '--threads', '1', '--quiet'], { timeoutMs: 180_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(fs.statSync(path.join(out, 'explain.png')).size > 0);
  const j = JSON.parse(fs.readFileSync(path.join(out, 'explain.json'), 'utf8')) as unknown;
  assert.match(JSON.stringify(j), /pneumonia/);
});

test('serve: a 1-channel model browses a grayscale folder and explains an RGB upload', async () => {
  const s = await startServe(['--model', model, '--no-default', '--data', val]);
  try {
    const d = await (await fetch(`${s.url}/api/data`)).json() as { records: number; classNames: string[] };
    assert.equal(d.records, 8);
    assert.deepEqual(d.classNames, ['normal', 'pneumonia']);
    const recs = await (await fetch(`${s.url}/api/data/records?offset=0&limit=8`)).json() as { records: { className: string; image: string }[] };
    assert.equal(recs.records.length, 8);
    assert.match(recs.records[0]!.image, /^data:image\/png;base64,/);
    const { payload, headers } = multipart({ methods: 'ae,gradcam', steps: '5' }, [{ field: 'image', filename: 'xray.png', data: pngImage(40, 30) }]);
    const res = await fetch(`${s.url}/api/explain`, { method: 'POST', body: payload, headers });
    const body = await res.json() as { predicted: number; ae: { targets: unknown[] } };
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.ae.targets.length, 2);
  } finally {
    s.proc.kill('SIGTERM');
    await s.exited;
  }
});

test('real chest X-rays (../shared/data/pneumoniamnist) load as 28×28×1 and the shipped X-ray model reads them', async (t) => {
  const shared = skipUnlessShared(t, 'data/pneumoniamnist/val');
  if (shared === null) return;
  const v = loadDataset(path.join(shared, 'data', 'pneumoniamnist', 'val'));
  assert.deepEqual([v.n, v.channels, v.height, v.width], [524, 1, 28, 28]);
  assert.deepEqual(v.classNames, ['normal', 'pneumonia']);
  const shipped = path.join(repoRoot(), 'models', 'xray', 'robust.safetensors');
  if (!fs.existsSync(shipped)) { t.skip(`${shipped} is absent`); return; }
  const r = advexp(['eval', '--model', shipped, '--data', path.join(shared, 'data', 'pneumoniamnist', 'val'), '--ara', 'none', '--pgd', 'none', '--threads', '1', '--quiet', '--json', '-']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { n: number; balanced_accuracy: number; auc: number };
  assert.equal(j.n, 524);
  assert.ok(j.balanced_accuracy > 0.75 && j.auc > 0.85, `balanced accuracy ${j.balanced_accuracy}, AUC ${j.auc}`);
  // serve --model X --data val: the page starts on the X-ray model (the shipped CIFAR-10 default does not fit 2 classes).
  const s = await startServe(['--model', shipped, '--data', path.join(shared, 'data', 'pneumoniamnist', 'val')]);
  try {
    const models = await (await fetch(`${s.url}/api/models`)).json() as { models: { name: string; default: boolean; input: number[] }[] };
    const selected = models.models.find((m) => m.default)!;
    assert.equal(selected.name, 'robust.safetensors');
    assert.deepEqual(selected.input, [1, 28, 28]);
  } finally {
    s.proc.kill('SIGTERM');
    await s.exited;
  }
});
