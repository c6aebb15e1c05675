// Issue 18, finding 10: special files as inputs. `predict --data fifo.bin` blocked in open and `--model /dev/zero`
// read until killed at 9.3 GB. Every file a command reads is now checked to be a regular file before it is opened,
// and a safetensors header is read and checked before the body. Each run has a timeout: a regression fails, not hangs.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PreActResNet } from '../../src/nn/index.js';
import { manualSeed } from '../../src/engine/index.js';
import { saveModel } from '../../src/io/model-file.js';
import { readSafetensors, MAX_HEADER_BYTES } from '../../src/io/safetensors.js';
import { readCifarBatch, readCifarClassNames } from '../../src/data/cifar.js';
import { loadDataset } from '../../src/data/load.js';
import { readTarArchive } from '../../src/data/tar.js';
import { makeBatch, cyclicLabels } from '../data/make-cifar.js';
import { advexp, assertUserError } from '../helpers/cli.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'advexp-special-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
const tiny = path.join(tmp, 'tiny.safetensors');
manualSeed(0); // libtorch seeds its default generator at random: the same tiny net every run
saveModel(tiny, new PreActResNet({ depth: 8, widths: [4, 8, 8] }));
const data = path.join(tmp, 'data.bin');
fs.writeFileSync(data, makeBatch(cyclicLabels(4)));
const TIMEOUT = 30_000;

/** A FIFO at tmp/name, or null (and the test marked skipped, loudly) where mkfifo is missing. */
function fifo(t: TestContext, name: string): string | null {
  const f = path.join(tmp, name);
  try {
    if (!fs.existsSync(f)) execFileSync('mkfifo', [f]);
    return f;
  } catch {
    console.warn(`\n*** SKIPPED: mkfifo is not available — test "${t.name}" did not run ***\n`);
    t.skip('SKIPPED: mkfifo is not available');
    return null;
  }
}

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('a FIFO as --data: exit 2 naming the file, no hang (predict, eval, train, explain, gradcam-attack)', (t) => {
  const f = fifo(t, 'fifo.bin');
  if (f === null) return;
  const out = path.join(tmp, 'out-data');
  const cases: string[][] = [
    ['predict', '--model', tiny, '--data', f, '--limit', '1'],
    ['eval', '--model', tiny, '--data', f, '--n', '1', '--steps', '2', '--pgd', 'none'],
    ['train', '--data', f, '--out', out, '--depth', '8', '--widths', '4,8,8', '--val', '0', '--epochs', '1'],
    ['explain', '--model', tiny, '--data', f, '--index', '0', '--out', out, '--methods', 'gradcam'],
    ['gradcam-attack', '--model', tiny, '--data', f, '--n', '1', '--steps', '2', '--out', out],
  ];
  for (const args of cases) {
    const r = advexp([...args, '--threads', '1'], { timeoutMs: TIMEOUT });
    assertUserError(r, args[0]!, new RegExp(esc(f)), /not a (regular file|file or directory)/);
  }
  assert.ok(!fs.existsSync(out), 'no --out folder left behind');
});

test('a FIFO or /dev/zero as --model: exit 2 naming the file, at once', (t) => {
  const f = fifo(t, 'fifo.safetensors');
  if (f === null) return;
  for (const model of [f, ...(fs.existsSync('/dev/zero') ? ['/dev/zero'] : [])]) {
    for (const cmd of [['predict', '--data', data, '--limit', '1'], ['eval', '--data', data, '--n', '1', '--steps', '2', '--pgd', 'none']]) {
      const r = advexp([...cmd, '--model', model, '--threads', '1'], { timeoutMs: TIMEOUT });
      assertUserError(r, `${cmd[0]} --model ${model}`, new RegExp(`${esc(model)}: cannot read file \\(not a regular file\\)`));
    }
  }
});

test('a FIFO as an image file and as --split: exit 2 naming the file', (t) => {
  const img = fifo(t, 'fifo.png');
  if (img === null) return;
  const r = advexp(['explain', img, '--model', tiny, '--out', path.join(tmp, 'o2'), '--methods', 'gradcam', '--threads', '1'], { timeoutMs: TIMEOUT });
  assertUserError(r, 'explain fifo.png', new RegExp(`${esc(img)}: cannot read image \\(not a regular file\\)`));
  const split = fifo(t, 'split.json');
  if (split === null) return;
  const e = advexp(['eval', '--model', tiny, '--data', data, '--split', split, '--n', '1', '--threads', '1'], { timeoutMs: TIMEOUT });
  assertUserError(e, 'eval --split fifo', new RegExp(`${esc(split)}: cannot read split file \\(not a regular file\\)`));
});

test('library readers refuse special files before opening them', (t) => {
  const f = fifo(t, 'lib-fifo');
  if (f === null) return;
  assert.throws(() => readSafetensors(f), /lib-fifo: cannot read file \(not a regular file\)/);
  assert.throws(() => readCifarBatch(f), /lib-fifo: cannot read CIFAR batch \(not a regular file\)/);
  assert.throws(() => loadDataset(f), /lib-fifo: not a file or directory/);
  assert.throws(() => readTarArchive(f), /lib-fifo: cannot read archive \(not a regular file\)/);
  // batches.meta.txt beside a batch, as a FIFO.
  const dir = path.join(tmp, 'meta');
  fs.mkdirSync(dir);
  fs.copyFileSync(data, path.join(dir, 'data_batch_1.bin'));
  execFileSync('mkfifo', [path.join(dir, 'batches.meta.txt')]);
  assert.throws(() => readCifarClassNames(dir), /batches\.meta\.txt: cannot read class names \(not a regular file\)/);
  assert.throws(() => loadDataset(dir), /batches\.meta\.txt: cannot read class names/);
});

test('readSafetensors checks the header length against the cap and the file size before reading the body', () => {
  const big = path.join(tmp, 'huge-header.safetensors');
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(MAX_HEADER_BYTES) + 1n);
  fs.writeFileSync(big, head);
  assert.throws(() => readSafetensors(big), /huge-header\.safetensors: header length 100000001 exceeds the 100000000-byte limit/);
  const past = path.join(tmp, 'past.safetensors');
  const h2 = Buffer.alloc(16);
  h2.writeBigUInt64LE(1000n);
  fs.writeFileSync(past, h2);
  assert.throws(() => readSafetensors(past), /past\.safetensors: header length 1000 runs past the end of the 16-byte file/);
  assert.throws(() => readSafetensors(path.join(tmp, 'short')), /short: cannot read file \(ENOENT\)/);
  fs.writeFileSync(path.join(tmp, 'short'), Buffer.alloc(3));
  assert.throws(() => readSafetensors(path.join(tmp, 'short')), /short: file is 3 bytes, shorter than the 8-byte header length/);
  // A whole file still reads as before.
  assert.ok(readSafetensors(tiny).tensors.has('pipe.0.weight'));
});
