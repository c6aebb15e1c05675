// Issue 18, finding 1: one pixel limit, read from the image's header before anything is decoded, for the CLI's image
// files, image folders (train/eval/serve --data) and the server's uploads. A 69-byte PNG declaring 20000×20000 once
// made `advexp explain` run 60 s at 10.7 GB and exit 0; it is now refused at once with exit 2, naming the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import pngjs from 'pngjs';
import { loadImageFolder } from '../../src/data/images.js';
import { checkImageHeader, decodeImage, readImageBytes, MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE } from '../../src/data/decode.js';
import { loadDataset } from '../../src/data/load.js';
import { checkImage } from '../../src/server/images.js';
import { crc32, jpegBomb, pngBomb } from '../helpers/images.js';
import { advexp, assertUserError } from '../helpers/cli.js';
import { tmpDir } from './make-cifar.js';
import { PreActResNet } from '../../src/nn/index.js';
import { manualSeed } from '../../src/engine/index.js';
import { saveModel } from '../../src/io/model-file.js';

const root = tmpDir('advexp-image-limit-');
process.on('exit', () => fs.rmSync(root, { recursive: true, force: true }));
const LIMIT = /the PNG image is 20000×20000 pixels; at most 8192 a side and 16 megapixels are accepted/;

function smallPng(w: number, h: number): Buffer {
  const png = new pngjs.PNG({ width: w, height: h });
  png.data.fill(120);
  return pngjs.PNG.sync.write(png);
}

const tiny = path.join(root, 'tiny.safetensors');
manualSeed(0); // libtorch seeds its default generator at random: the same tiny net every run
saveModel(tiny, new PreActResNet({ depth: 8, widths: [4, 8, 8] }));

test('the bomb is what the finding describes: a 69-byte PNG with valid CRCs declaring 20000×20000', () => {
  const b = pngBomb();
  assert.equal(b.length, 69);
  assert.equal(b.readUInt32BE(16), 20000);
  assert.equal(b.readUInt32BE(29), crc32(b.subarray(12, 29)), 'IHDR CRC');
});

test('checkImageHeader and decodeImage refuse pictures over the limit before decoding, naming the file', async () => {
  await assert.rejects(checkImageHeader(pngBomb(), 'bomb.png'), (e: Error) => e.message.startsWith('bomb.png: ') && LIMIT.test(e.message));
  await assert.rejects(decodeImage(pngBomb(), 'bomb.png'), (e: Error) => e.message.startsWith('bomb.png: ') && LIMIT.test(e.message));
  await assert.rejects(decodeImage(jpegBomb(), 'bomb.jpg'), /bomb\.jpg: the JPEG image is 60000×60000 pixels; at most/);
  // By area as well as by side: each side fits, the product does not.
  await assert.rejects(checkImageHeader(pngBomb(MAX_IMAGE_SIDE, MAX_IMAGE_SIDE), 'wide.png'), /wide\.png: the PNG image is 8192×8192 pixels/);
  assert.ok(MAX_IMAGE_SIDE * MAX_IMAGE_SIDE > MAX_IMAGE_PIXELS);
  await assert.rejects(checkImageHeader(pngBomb(0, 5), 'empty.png'), /empty\.png: not a valid PNG image/);
  assert.deepEqual(await checkImageHeader(smallPng(40, 30), 'ok.png'), { format: 'png', width: 40, height: 30 });
  assert.equal((await decodeImage(smallPng(40, 30), 'ok.png')).width, 40);
});

test('one limit: the server refuses the same files with the same numbers (400)', async () => {
  for (const [bytes, re] of [[pngBomb(), /20000×20000 pixels; at most 8192 a side and 16 megapixels/], [jpegBomb(), /60000×60000 pixels; at most/]] as const) {
    await assert.rejects(checkImage(bytes), (e: Error & { statusCode?: number }) => e.statusCode === 400 && re.test(e.message));
  }
});

test('image folders: a bomb among the images is refused, naming it (loadImageFolder, loadDataset)', () => {
  const dir = path.join(root, 'folder');
  fs.mkdirSync(path.join(dir, 'cat'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'dog'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'cat', 'a.png'), smallPng(32, 32));
  fs.writeFileSync(path.join(dir, 'dog', 'b.png'), smallPng(32, 32));
  assert.equal(loadImageFolder(dir).n, 2);
  const bomb = path.join(dir, 'dog', 'c.png');
  fs.writeFileSync(bomb, pngBomb());
  for (const load of [() => loadImageFolder(dir), () => loadDataset(dir)]) {
    assert.throws(load, (e: Error) => e.message.startsWith(`${bomb}: `) && LIMIT.test(e.message) && !e.message.includes('\n'));
  }
  fs.rmSync(bomb);
  fs.writeFileSync(path.join(dir, 'dog', 'c.jpg'), jpegBomb());
  assert.throws(() => loadImageFolder(dir), /c\.jpg: the JPEG image is 60000×60000 pixels/);
});

test('readImageBytes: a FIFO or a directory is refused without opening it', (t) => {
  const dir = path.join(root, 'special');
  fs.mkdirSync(dir);
  assert.throws(() => readImageBytes(dir), /special: cannot read image \(not a regular file\)/);
  try {
    execFileSync('mkfifo', [path.join(dir, 'pipe.png')]);
  } catch {
    t.skip('SKIPPED the FIFO case: mkfifo is not available');
    return;
  }
  assert.throws(() => readImageBytes(path.join(dir, 'pipe.png')), /pipe\.png: cannot read image \(not a regular file\)/);
});

test('advexp explain bomb.png: exit 2 naming the file and the size, no --out folder', () => {
  for (const [name, bytes, re] of [['bomb.png', pngBomb(), LIMIT], ['bomb.jpg', jpegBomb(), /the JPEG image is 60000×60000 pixels/]] as const) {
    const file = path.join(root, name);
    fs.writeFileSync(file, bytes);
    const out = path.join(root, `X-${name}`);
    const r = advexp(['explain', file, '--model', tiny, '--out', out, '--methods', 'ae', '--steps', '2', '--threads', '1']);
    assertUserError(r, `explain ${name}`, new RegExp(`^advexp: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `), re);
    assert.ok(!fs.existsSync(out), `${out} was created`);
  }
});

test('advexp train --data FOLDER with a bomb inside: exit 2 naming the file, no --out folder left', () => {
  const dir = path.join(root, 'train-folder');
  for (const c of ['a', 'b']) {
    fs.mkdirSync(path.join(dir, c), { recursive: true });
    for (let i = 0; i < 3; i++) fs.writeFileSync(path.join(dir, c, `${i}.png`), smallPng(32, 32));
  }
  const bomb = path.join(dir, 'b', 'zz.png');
  fs.writeFileSync(bomb, pngBomb());
  const out = path.join(root, 'train-out');
  const r = advexp(['train', '--data', dir, '--out', out, '--depth', '8', '--widths', '4,8,8', '--batch', '2', '--val', '2',
    '--epochs', '1', '--threads', '1', '--quiet']);
  assertUserError(r, 'train over a folder with a bomb', LIMIT, /zz\.png/);
  assert.ok(!fs.existsSync(out), `${out} was left behind`);
  // The same folder without the bomb trains (so the refusal above is the bomb's).
  fs.rmSync(bomb);
  const ok = advexp(['train', '--data', dir, '--out', out, '--depth', '8', '--widths', '4,8,8', '--batch', '2', '--val', '2',
    '--epochs', '1', '--threads', '1', '--quiet', '--mode', 'standard']);
  assert.equal(ok.code, 0, ok.stderr);
});
