// Image folders: PNG/JPEG decoding, resizing to the model input, class names, errors naming the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import pngjs from 'pngjs';
import jpeg from 'jpeg-js';
import { loadDataset } from '../../src/data/load.js';
import { loadImageFolder, resizeToChw } from '../../src/data/images.js';
import { tmpDir } from './make-cifar.js';

type Pixel = (x: number, y: number) => [number, number, number];

function writePng(file: string, w: number, h: number, px: Pixel, colorType: 0 | 2 | 6 = 6): void {
  const png = new pngjs.PNG({ width: w, height: h });
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const [r, g, b] = px(x, y);
      const i = (y * w + x) * 4;
      png.data[i] = r; png.data[i + 1] = g; png.data[i + 2] = b; png.data[i + 3] = 255;
    }
  }
  fs.writeFileSync(file, pngjs.PNG.sync.write(png, { colorType }));
}

function writeJpeg(file: string, w: number, h: number, px: Pixel): void {
  const data = Buffer.alloc(w * h * 4);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const [r, g, b] = px(x, y); const i = (y * w + x) * 4;
    data[i] = r; data[i + 1] = g; data[i + 2] = b; data[i + 3] = 255;
  }
  fs.writeFileSync(file, jpeg.encode({ width: w, height: h, data }, 95).data);
}

const at = (chw: Uint8Array, c: number, y: number, x: number, h = 32, w = 32): number => chw[c * h * w + y * w + x]!;

test('image folder: sorted class folders, PNG and JPEG, exact at 32×32, ignores other files', (t) => {
  const dir = tmpDir();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const c of ['zebra', 'ant', 'moth']) fs.mkdirSync(path.join(dir, c));
  fs.mkdirSync(path.join(dir, '.hidden'));
  const grad: Pixel = (x, y) => [x * 8, y * 8, (x + y) * 4];
  writePng(path.join(dir, 'ant', 'b.png'), 32, 32, grad);
  writePng(path.join(dir, 'ant', 'a.PNG'), 32, 32, (x, y) => [255 - x, y, 7]);
  writeJpeg(path.join(dir, 'zebra', 'z.jpg'), 32, 32, () => [200, 100, 50]);
  writePng(path.join(dir, 'moth', 'gray.png'), 32, 32, (x) => [x * 5, x * 5, x * 5], 0);
  fs.writeFileSync(path.join(dir, 'moth', 'notes.txt'), 'not an image');
  const s = loadDataset(dir);
  assert.deepEqual(s.classNames, ['ant', 'moth', 'zebra']);
  assert.deepEqual([...s.labels], [0, 0, 1, 2]);
  assert.equal(s.n, 4);
  assert.equal([s.channels, s.height, s.width].join(), '3,32,32');
  const img = (i: number): Uint8Array => (s.pixels as Uint8Array).subarray(i * 3072, (i + 1) * 3072);
  // a.PNG sorts before b.png; pixels are exact, CHW.
  assert.equal(at(img(0), 0, 3, 5), 250); assert.equal(at(img(0), 1, 3, 5), 3); assert.equal(at(img(0), 2, 3, 5), 7);
  assert.equal(at(img(1), 0, 9, 2), 16); assert.equal(at(img(1), 1, 9, 2), 72); assert.equal(at(img(1), 2, 9, 2), 44);
  // Grayscale PNG → R = G = B.
  for (const c of [0, 1, 2]) assert.equal(at(img(2), c, 4, 10), 50);
  // JPEG of a flat colour: within JPEG's rounding.
  for (const [c, v] of [[0, 200], [1, 100], [2, 50]] as const) assert.ok(Math.abs(at(img(3), c, 16, 16) - v) <= 3, `${at(img(3), c, 16, 16)} vs ${v}`);
  assert.deepEqual([...loadDataset(dir, { limit: 2 }).labels], [0, 0]);
});

test('resizing: area average when shrinking, bilinear when growing, any aspect', (t) => {
  // 64×64 → 32×32 averages 2×2 blocks (checked against a plain JS average, rounded half-to-even like torch).
  const w = 64, h = 64;
  const rgb = new Uint8Array(w * h * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 37 + (i >> 7) * 11) % 256;
  const out = resizeToChw({ width: w, height: h, rgb }, 32, 32);
  for (const [c, y, x] of [[0, 0, 0], [1, 5, 9], [2, 31, 31], [0, 17, 3]] as const) {
    let s = 0;
    for (const [dy, dx] of [[0, 0], [0, 1], [1, 0], [1, 1]] as const) s += rgb[((2 * y + dy) * w + 2 * x + dx) * 3 + c]!;
    const mean = s / 4;
    const rounded = Math.abs(mean - Math.floor(mean) - 0.5) < 1e-9 ? (Math.floor(mean) % 2 === 0 ? Math.floor(mean) : Math.ceil(mean)) : Math.round(mean);
    assert.equal(at(out, c, y, x), rounded, `c${c} y${y} x${x}`);
  }
  // Growing a flat image keeps it flat; a 16×48 (non-square) image becomes 32×32.
  const flat = { width: 16, height: 48, rgb: new Uint8Array(16 * 48 * 3).fill(123) };
  assert.ok(resizeToChw(flat, 32, 32).every((v) => v === 123));
  // Bilinear upsampling of a horizontal ramp stays monotone and spans the range.
  const ramp = new Uint8Array(8 * 8 * 3);
  for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) for (let c = 0; c < 3; c++) ramp[(y * 8 + x) * 3 + c] = x * 30;
  const up = resizeToChw({ width: 8, height: 8, rgb: ramp }, 32, 32);
  for (let x = 1; x < 32; x++) assert.ok(at(up, 0, 10, x) >= at(up, 0, 10, x - 1));
  assert.equal(at(up, 0, 10, 0), 0); assert.equal(at(up, 0, 10, 31), 210);

  const dir = tmpDir();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'only'));
  writePng(path.join(dir, 'only', 'big.png'), 100, 60, () => [10, 20, 30]);
  const s = loadImageFolder(dir, { size: [24, 24] });
  assert.equal(s.height, 24);
  assert.equal(s.pixels.length, 3 * 24 * 24);
  assert.equal(s.pixels[0], 10); assert.equal(s.pixels[24 * 24], 20); assert.equal(s.pixels[2 * 24 * 24 + 5], 30);
});

test('undecodable images are one-line errors naming the file', (t) => {
  const dir = tmpDir();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'a'));
  const fake = path.join(dir, 'a', 'fake.png');
  fs.writeFileSync(fake, 'hello, I am text');
  const check = (file: string, re: RegExp): void => assert.throws(() => loadDataset(dir), (e: Error) => {
    assert.ok(e.message.startsWith(file), e.message);
    assert.ok(!e.message.includes('\n'));
    assert.match(e.message, re);
    return true;
  });
  check(fake, /not a PNG, JPEG, WebP, AVIF, TIFF or GIF image/);
  fs.rmSync(fake);
  const png = path.join(dir, 'a', 'cut.png');
  writePng(png, 32, 32, () => [1, 2, 3]);
  fs.writeFileSync(png, fs.readFileSync(png).subarray(0, 60));
  check(png, /cannot decode PNG image/);
  fs.rmSync(png);
  const jpg = path.join(dir, 'a', 'cut.jpg');
  writeJpeg(jpg, 32, 32, (x) => [x, 2, 3]);
  fs.writeFileSync(jpg, fs.readFileSync(jpg).subarray(0, 200));
  check(jpg, /not a valid JPEG image \(corrupt header/);
  fs.rmSync(jpg);
  assert.throws(() => loadDataset(dir), (e: Error) => e.message.startsWith(dir) && /no image files \(\.png, \.jpg, \.webp, \.avif, \.tif, \.gif\)/.test(e.message));
});
