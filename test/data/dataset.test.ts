// Dataset specs (file, list, directory), limits, the seeded validation split, subsets and the tensor loader.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { splitValidation } from '../../src/data/dataset.js';
import { loadDataset } from '../../src/data/load.js';
import { readCifarBatch, CIFAR10_CLASSES } from '../../src/data/cifar.js';
import { tensor, tidy, liveTensors } from '../../src/engine/index.js';
import { tmpDir, makeBatch, cyclicLabels, oneLineError } from './make-cifar.js';
import { skipUnlessShared } from '../helpers/shared.js';

test('directory of batches: numeric batch order, lists, limits, test split', (t) => {
  const dir = tmpDir();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const f = (n: string): string => path.join(dir, n);
  fs.writeFileSync(f('data_batch_2.bin'), makeBatch([2, 2], 2));
  fs.writeFileSync(f('data_batch_10.bin'), makeBatch([9], 10));
  fs.writeFileSync(f('data_batch_1.bin'), makeBatch([1, 1, 1], 1));
  fs.writeFileSync(f('notes.txt'), 'ignored');
  const all = loadDataset(dir);
  assert.deepEqual([...all.labels], [1, 1, 1, 2, 2, 9]);
  assert.deepEqual(all.classNames, [...CIFAR10_CLASSES]);
  assert.equal(all.pixels.length, 6 * 3072);
  const ref = readCifarBatch(f('data_batch_2.bin'));
  assert.deepEqual(all.floats(3, 5), ref.floats());
  assert.deepEqual([...loadDataset(dir, { limit: 4 }).labels], [1, 1, 1, 2]);
  assert.equal(loadDataset(dir, { limit: 0 }).n, 0);
  const list = loadDataset(`${f('data_batch_10.bin')},${f('data_batch_1.bin')}`);
  assert.deepEqual([...list.labels], [9, 1, 1, 1]);
  oneLineError(() => loadDataset(dir, { split: 'test' }), dir, /no test_batch\.bin here/);
  fs.writeFileSync(f('test_batch.bin'), makeBatch([4, 5], 4));
  assert.deepEqual([...loadDataset(dir, { split: 'test' }).labels], [4, 5]);
});

test('bad data specs are one-line errors naming the path', (t) => {
  const dir = tmpDir();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const missing = path.join(dir, 'nope.bin');
  oneLineError(() => loadDataset(missing), missing, /cannot open data \(ENOENT\)/);
  const short = path.join(dir, 'short.bin');
  fs.writeFileSync(short, makeBatch([1, 2]).subarray(0, 5000));
  oneLineError(() => loadDataset(short), short, /size 5000 is not a multiple of the 3073-byte/);
  const bad = path.join(dir, 'bad.bin');
  fs.writeFileSync(bad, makeBatch([1, 2, 77]));
  oneLineError(() => loadDataset(bad), bad, /record 2 has label byte 77/);
  assert.equal(loadDataset(bad, { limit: 2 }).n, 2); // only what is needed is read and checked
  const empty = path.join(dir, 'emptydir');
  fs.mkdirSync(empty);
  oneLineError(() => loadDataset(empty), empty, /no CIFAR-10 batches .* and no class sub-folders/);
  const good = path.join(dir, 'good.bin');
  fs.writeFileSync(good, makeBatch([1]));
  oneLineError(() => loadDataset(`${good},${missing}`), missing, /cannot open CIFAR batch/);
});

test('seeded validation split: deterministic, disjoint, complete, seed-dependent', () => {
  const a = splitValidation(1000, 100, 7);
  const b = splitValidation(1000, 100, 7);
  const c = splitValidation(1000, 100, 8);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.val, c.val);
  assert.equal(a.val.length, 100);
  assert.equal(a.train.length, 900);
  const seen = new Set([...a.val, ...a.train]);
  assert.equal(seen.size, 1000);
  for (let i = 1; i < a.val.length; i++) assert.ok(a.val[i]! > a.val[i - 1]!);
  // Spread over the whole range, not a block.
  assert.ok(a.val[0]! < 100 && a.val[99]! > 900, `${a.val[0]} … ${a.val[99]}`);
  assert.deepEqual(splitValidation(10, 0, 1).train, Int32Array.from({ length: 10 }, (_, i) => i));
  assert.throws(() => splitValidation(10, 10, 1), /validation size 10 must be an integer in 0\.\.9/);
  assert.throws(() => splitValidation(10, -1, 1), /validation size -1/);
});

test('subset, gather and range: bytes/255 as float32, int64 labels', () => {
  const dir = tmpDir();
  try {
    const file = path.join(dir, 'b.bin');
    fs.writeFileSync(file, makeBatch(cyclicLabels(7, 3), 5));
    const all = loadDataset(file);
    const sub = all.subset([6, 0, 3]);
    assert.deepEqual([...sub.labels], [all.labels[6], all.labels[0], all.labels[3]]);
    assert.deepEqual(sub.pixels.subarray(3072, 6144), all.pixels.subarray(0, 3072));
    assert.throws(() => all.subset([7]), /index 7 outside 0\.\.6/);
    const before = liveTensors();
    const floats = all.floats();
    tidy(() => {
      const { x, y } = all.gather(tensor(BigInt64Array.from([6n, 0n, 3n])));
      assert.deepEqual(x.shape, [3, 3, 32, 32]);
      assert.equal(y.dtype, 'int64');
      assert.deepEqual(y.toArray(), [...sub.labels]);
      assert.deepEqual(x.data().subarray(3072, 6144), floats.subarray(0, 3072));
      const r = all.range(2, 5);
      assert.deepEqual(r.x.data(), floats.subarray(2 * 3072, 5 * 3072));
      assert.deepEqual(all.batch(2, 5).data(), r.x.data());
    });
    assert.equal(liveTensors(), before);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('shared training set: 5 batches, 50,000 images, class names', (t) => {
  const shared = skipUnlessShared(t, 'data/cifar10/data_batch_5.bin');
  if (!shared) return;
  const dir = path.join(shared, 'data', 'cifar10');
  const s = loadDataset(dir, { limit: 20005 });
  assert.equal(s.n, 20005);
  assert.deepEqual(s.classNames, [...CIFAR10_CLASSES]);
  assert.deepEqual([...s.labels.subarray(0, 16)], [6, 9, 9, 4, 1, 1, 2, 7, 8, 3, 4, 7, 7, 2, 9, 9]);
  const b3 = readCifarBatch(path.join(dir, 'data_batch_3.bin'), { limit: 5 });
  assert.deepEqual([...s.labels.subarray(20000)], [...b3.labels]);
  assert.deepEqual(s.subset([20000, 20001, 20002, 20003, 20004]).floats(), b3.floats());
});
