import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { readCifarBatch, readCifarClassNames, CIFAR10_CLASSES, CIFAR_RECORD_BYTES } from '../../src/data/cifar.js';
import { skipUnlessShared } from '../helpers/shared.js';

const GOLDEN_LABELS_0_15 = [6, 9, 9, 4, 1, 1, 2, 7, 8, 3, 4, 7, 7, 2, 9, 9];
// Per-class counts of the official data_batch_1 (labels in the shared copy are exact).
const BATCH1_COUNTS = [1005, 974, 1032, 1016, 999, 937, 1030, 1001, 1025, 981];

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'advexp-cifar-'));
}

/** Record r: label labels[r], pixel j = (r*7 + j*13) mod 256, so every position is distinguishable. */
function makeBatch(labels: number[]): Buffer {
  const buf = Buffer.alloc(labels.length * CIFAR_RECORD_BYTES);
  labels.forEach((l, r) => {
    buf[r * CIFAR_RECORD_BYTES] = l;
    for (let j = 0; j < 3072; j++) buf[r * CIFAR_RECORD_BYTES + 1 + j] = (r * 7 + j * 13) % 256;
  });
  return buf;
}

function assertFails(fn: () => unknown, file: string, re: RegExp): void {
  assert.throws(fn, (e: Error) => {
    assert.ok(e.message.startsWith(file), e.message);
    assert.ok(!e.message.includes('\n'), e.message);
    assert.match(e.message, re);
    return true;
  });
}

test('data_batch_1: golden labels of records 0..15, values in [0,1]', (t) => {
  const shared = skipUnlessShared(t, 'data/cifar10/data_batch_1.bin');
  if (!shared) return;
  const file = path.join(shared, 'data', 'cifar10', 'data_batch_1.bin');
  const s = readCifarBatch(file, { limit: 16 });
  assert.equal(s.n, 16);
  assert.deepEqual([...s.labels], GOLDEN_LABELS_0_15);
  assert.equal(s.floats().length, 16 * 3 * 32 * 32);
  assert.equal([s.channels, s.height, s.width].join(), '3,32,32');
  assert.deepEqual(s.classNames, [...CIFAR10_CLASSES]);
  assert.ok(s.source.startsWith(file));
  for (const v of s.floats()) assert.ok(v >= 0 && v <= 1 && Number.isInteger(Math.round(v * 255)));
  // The first image is not blank, and channels differ (R, G, B planes are not one plane repeated).
  const r = s.floats().subarray(0, 1024), g = s.floats().subarray(1024, 2048);
  assert.ok(r.some((v) => v > 0) && r.some((v, i) => v !== g[i]));

  // offset: records 8..15 are the tail of the first read.
  const tail = readCifarBatch(file, { offset: 8, limit: 8 });
  assert.deepEqual([...tail.labels], GOLDEN_LABELS_0_15.slice(8));
  assert.deepEqual(tail.floats(), s.floats().subarray(8 * 3072));
});

test('data_batch_1: full read has the official per-class counts', (t) => {
  const shared = skipUnlessShared(t, 'data/cifar10/data_batch_1.bin');
  if (!shared) return;
  const s = readCifarBatch(path.join(shared, 'data', 'cifar10', 'data_batch_1.bin'));
  assert.equal(s.n, 10000);
  assert.equal(s.floats().length, 10000 * 3072);
  const counts = new Array<number>(10).fill(0);
  for (const l of s.labels) counts[l]!++;
  assert.deepEqual(counts, BATCH1_COUNTS);
  assert.deepEqual([...s.labels.subarray(0, 16)], GOLDEN_LABELS_0_15);
  // Near the end of the file too (crosses the reader's chunk boundaries).
  const last = readCifarBatch(path.join(shared, 'data', 'cifar10', 'data_batch_1.bin'), { offset: 9990 });
  assert.equal(last.n, 10);
  assert.deepEqual(last.floats(), s.floats().subarray(9990 * 3072));
});

test('shared class names match the defaults', (t) => {
  const shared = skipUnlessShared(t, 'data/cifar10/batches.meta.txt');
  if (!shared) return;
  assert.deepEqual(readCifarClassNames(path.join(shared, 'data', 'cifar10')), [...CIFAR10_CLASSES]);
});

test('record bytes map to NCHW float pixels', (t) => {
  const dir = tmpDir();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'b.bin');
  const labels = [3, 0, 9];
  const raw = makeBatch(labels);
  fs.writeFileSync(file, raw);
  const s = readCifarBatch(file);
  assert.equal(s.n, 3);
  assert.equal(s.source, file);
  assert.deepEqual([...s.labels], labels);
  assert.deepEqual(s.classNames, [...CIFAR10_CLASSES]); // no meta file beside it
  for (let r = 0; r < 3; r++) {
    for (const [c, y, x] of [[0, 0, 0], [0, 31, 31], [1, 5, 7], [2, 31, 0], [2, 0, 31]] as const) {
      const byte = raw[r * CIFAR_RECORD_BYTES + 1 + c * 1024 + y * 32 + x]!;
      assert.equal(s.floats()[r * 3072 + c * 1024 + y * 32 + x], Math.fround(byte / 255), `r${r} c${c} y${y} x${x}`);
    }
  }
  assert.equal(readCifarBatch(file, { limit: 0 }).n, 0);
  assert.equal(readCifarBatch(file, { offset: 3 }).n, 0);
  const mid = readCifarBatch(file, { offset: 1, limit: 100 });
  assert.equal(mid.n, 2);
  assert.equal(mid.source, `${file}[1:3]`);
  assert.deepEqual(mid.floats(), s.floats().subarray(3072));
});

test('a limit reads only the records it needs', (t) => {
  const dir = tmpDir();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'b.bin');
  fs.writeFileSync(file, makeBatch([1, 2, 200])); // record 2 is corrupt
  assert.deepEqual([...readCifarBatch(file, { limit: 2 }).labels], [1, 2]);
  assertFails(() => readCifarBatch(file), file, /record 2 has label byte 200, expected 0\.\.9/);
});

test('rejects bad files', (t) => {
  const dir = tmpDir();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const missing = path.join(dir, 'missing.bin');
  assertFails(() => readCifarBatch(missing), missing, /cannot open CIFAR batch \(ENOENT\)/);
  assertFails(() => readCifarBatch(dir), dir, /cannot read CIFAR batch|EISDIR/);

  const empty = path.join(dir, 'empty.bin');
  fs.writeFileSync(empty, Buffer.alloc(0));
  assertFails(() => readCifarBatch(empty), empty, /empty file/);

  const short = path.join(dir, 'short.bin');
  fs.writeFileSync(short, makeBatch([1, 2]).subarray(0, 2 * CIFAR_RECORD_BYTES - 1));
  assertFails(() => readCifarBatch(short, { limit: 1 }), short, /size 6145 is not a multiple of the 3073-byte/);

  const bad = path.join(dir, 'bad.bin');
  fs.writeFileSync(bad, makeBatch([0, 10, 1]));
  assertFails(() => readCifarBatch(bad), bad, /record 1 has label byte 10/);
  assertFails(() => readCifarBatch(bad, { offset: 1, limit: 1 }), bad, /record 1 has label byte 10/);

  const ok = path.join(dir, 'ok.bin');
  fs.writeFileSync(ok, makeBatch([0]));
  assertFails(() => readCifarBatch(ok, { offset: 2 }), ok, /offset 2 is past the last of 1 records/);
  assertFails(() => readCifarBatch(ok, { offset: -1 }), ok, /offset -1/);
  assertFails(() => readCifarBatch(ok, { limit: 1.5 }), ok, /limit 1\.5/);
});

test('class names file: trailing blanks ignored, errors name the file', (t) => {
  const dir = tmpDir();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const meta = path.join(dir, 'batches.meta.txt');
  assertFails(() => readCifarClassNames(dir), meta, /cannot read class names \(ENOENT\)/);

  const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];
  fs.writeFileSync(meta, names.join('\r\n') + '  \r\n\n \n');
  assert.deepEqual(readCifarClassNames(dir), names);
  // A batch in the same directory picks the names up.
  fs.writeFileSync(path.join(dir, 'b.bin'), makeBatch([4]));
  assert.deepEqual(readCifarBatch(path.join(dir, 'b.bin')).classNames, names);

  fs.writeFileSync(meta, names.slice(0, 9).join('\n'));
  assertFails(() => readCifarClassNames(dir), meta, /9 class names, expected 10/);
  fs.writeFileSync(meta, ['a', '', ...names.slice(2)].join('\n'));
  assertFails(() => readCifarClassNames(dir), meta, /line 2 is blank/);
});
