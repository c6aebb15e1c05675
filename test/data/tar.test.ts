// The tarball path: archives built by GNU tar (ustar, gnu long names, pax) read back exactly like the directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { tarEntries, readTarArchive } from '../../src/data/tar.js';
import { loadDataset } from '../../src/data/load.js';
import { readCifarBatch } from '../../src/data/cifar.js';
import { tmpDir, makeBatch, cyclicLabels, oneLineError } from './make-cifar.js';

function hasTar(): boolean {
  try { execFileSync('tar', ['--version'], { stdio: 'ignore' }); return true; } catch { return false; }
}

const NAMES = ['plane', 'car', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

/** dir/cifar-10-batches-bin with 3 small train batches, a test batch, class names and a readme. */
function makeCifarTree(dir: string): string {
  const root = path.join(dir, 'cifar-10-batches-bin');
  fs.mkdirSync(root);
  fs.writeFileSync(path.join(root, 'data_batch_1.bin'), makeBatch(cyclicLabels(5, 0), 1));
  fs.writeFileSync(path.join(root, 'data_batch_2.bin'), makeBatch(cyclicLabels(3, 4), 2));
  fs.writeFileSync(path.join(root, 'data_batch_3.bin'), makeBatch(cyclicLabels(4, 7), 3));
  fs.writeFileSync(path.join(root, 'test_batch.bin'), makeBatch(cyclicLabels(6, 2), 9));
  fs.writeFileSync(path.join(root, 'batches.meta.txt'), NAMES.join('\n') + '\n\n');
  fs.writeFileSync(path.join(root, 'readme.html'), '<html></html>');
  return root;
}

test('cifar-10-binary.tar.gz made by GNU tar reads exactly like the extracted directory', (t) => {
  if (!hasTar()) { t.skip('no tar executable'); return; }
  const dir = tmpDir();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const root = makeCifarTree(dir);
  const archive = path.join(dir, 'cifar-10-binary.tar.gz');
  execFileSync('tar', ['-czf', archive, '-C', dir, 'cifar-10-batches-bin']);

  const fromTar = loadDataset(archive);
  const fromDir = loadDataset(root);
  assert.equal(fromTar.n, 12);
  assert.deepEqual(fromTar.classNames, NAMES);
  assert.deepEqual(fromDir.classNames, NAMES);
  assert.deepEqual(fromTar.pixels, fromDir.pixels);
  assert.deepEqual(fromTar.labels, fromDir.labels);
  // Batch order 1, 2, 3; pixels equal the independent float reader's.
  const ref = [1, 2, 3].map((i) => readCifarBatch(path.join(root, `data_batch_${i}.bin`)));
  assert.deepEqual([...fromTar.labels], ref.flatMap((r) => [...r.labels]));
  const floats = fromTar.floats();
  let at = 0;
  for (const r of ref) { assert.deepEqual(floats.subarray(at, at + r.floats().length), r.floats()); at += r.floats().length; }

  const testTar = loadDataset(archive, { split: 'test' });
  assert.deepEqual([...testTar.labels], cyclicLabels(6, 2));
  assert.deepEqual(testTar.pixels, loadDataset(root, { split: 'test' }).pixels);
  // A directory holding only the archive, and a parent of the extracted folder, work too.
  assert.deepEqual(loadDataset(dir).labels, fromTar.labels);
  fs.rmSync(archive);
  assert.deepEqual(loadDataset(dir).labels, fromTar.labels);
  // limit stops mid-archive.
  execFileSync('tar', ['-czf', archive, '-C', dir, 'cifar-10-batches-bin']);
  assert.deepEqual([...loadDataset(archive, { limit: 7 }).labels], [...fromTar.labels.subarray(0, 7)]);
});

test('tar formats: ustar prefix, GNU long names and pax paths', (t) => {
  if (!hasTar()) { t.skip('no tar executable'); return; }
  const dir = tmpDir();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const deep = path.join('a'.repeat(60), 'b'.repeat(60), 'c'.repeat(30));
  fs.mkdirSync(path.join(dir, deep), { recursive: true });
  const content = Buffer.from('x'.repeat(1000) + 'END');
  fs.writeFileSync(path.join(dir, deep, 'file-with-a-name.bin'), content);
  for (const format of ['ustar', 'gnu', 'pax']) {
    const out = path.join(dir, `t-${format}.tar`);
    execFileSync('tar', ['-cf', out, `--format=${format}`, '-C', dir, deep]);
    const files = tarEntries(readTarArchive(out), out).filter((e) => e.type === '0');
    assert.equal(files.length, 1, format);
    assert.equal(files[0]!.name, `${deep}/file-with-a-name.bin`, format);
    assert.deepEqual(Buffer.from(files[0]!.data), content, format);
  }
});

test('corrupt archives are one-line errors naming the file', (t) => {
  if (!hasTar()) { t.skip('no tar executable'); return; }
  const dir = tmpDir();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const root = makeCifarTree(dir);
  const tarFile = path.join(dir, 'c.tar');
  execFileSync('tar', ['-cf', tarFile, '-C', dir, 'cifar-10-batches-bin']);
  const raw = fs.readFileSync(tarFile);

  const gz = path.join(dir, 'cut.tar.gz');
  const z = zlib.gzipSync(raw);
  fs.writeFileSync(gz, z.subarray(0, z.length >> 1));
  oneLineError(() => loadDataset(gz), gz, /corrupt gzip data/);

  const notGz = path.join(dir, 'plain.tar.gz');
  fs.writeFileSync(notGz, 'hello');
  oneLineError(() => loadDataset(notGz), notGz, /not a gzip file/);

  const badSum = path.join(dir, 'badsum.tar');
  const b = Buffer.from(raw); b[0]! ^= 0x20; // first header's name
  fs.writeFileSync(badSum, b);
  oneLineError(() => loadDataset(badSum), badSum, /corrupt tar header at byte 0 \(bad checksum\)/);

  const cut = path.join(dir, 'cut.tar');
  fs.writeFileSync(cut, raw.subarray(0, 512 * 4 + 100));
  oneLineError(() => loadDataset(cut), cut, /truncated tar archive/);

  // A member with a bad label byte / wrong length: the error names archive and member.
  fs.writeFileSync(path.join(root, 'data_batch_2.bin'), makeBatch([1, 12, 3]));
  const badLabel = path.join(dir, 'badlabel.tar.gz');
  execFileSync('tar', ['-czf', badLabel, '-C', dir, 'cifar-10-batches-bin']);
  oneLineError(() => loadDataset(badLabel), `${badLabel}:cifar-10-batches-bin/data_batch_2.bin`, /record 1 has label byte 12/);
  fs.writeFileSync(path.join(root, 'data_batch_2.bin'), makeBatch([1, 2]).subarray(1));
  const badLen = path.join(dir, 'badlen.tar.gz');
  execFileSync('tar', ['-czf', badLen, '-C', dir, 'cifar-10-batches-bin']);
  oneLineError(() => loadDataset(badLen), `${badLen}:cifar-10-batches-bin/data_batch_2.bin`, /size 6145 is not a multiple/);

  const empty = path.join(dir, 'empty.tar');
  fs.writeFileSync(empty, Buffer.alloc(1024));
  oneLineError(() => loadDataset(empty), empty, /no data_batch_\*\.bin in the archive/);
});
