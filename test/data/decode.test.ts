// Decoding through sharp (data/decode.ts, and the synchronous readers through decode-sync.ts): the formats and pixel
// kinds the issue lists, each against values known by construction (fixtures encoded by sharp from raw bytes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { decodeImage } from '../../src/data/decode.js';
import { decodeFilesSync } from '../../src/data/decode-sync.js';
import { loadImageFolder } from '../../src/data/images.js';
import { tmpDir } from './make-cifar.js';

const W = 6, H = 4;
/** RGB bytes of a W×H picture with a distinct value per pixel and channel. */
const rgb = Buffer.from(Array.from({ length: W * H * 3 }, (_, i) => (i * 29 + 7) % 256));
const raw = (channels: 1 | 3 = 3, b: Buffer = rgb): Sharp => sharp(b, { raw: { width: W, height: H, channels } });

test('lossless formats decode to the exact RGB bytes: PNG, palette PNG (≤ 256 colours), WebP, AVIF, TIFF', async () => {
  const few = Buffer.from(Array.from({ length: W * H * 3 }, (_, i) => [0, 128, 255][i % 3]! ^ ((i >> 3) & 1) * 64));
  for (const [what, bytes, want] of [
    ['png', await raw().png().toBuffer(), rgb],
    ['palette png', await raw(3, few).png({ palette: true, colours: 16, dither: 0 }).toBuffer(), few],
    ['webp', await raw().webp({ lossless: true }).toBuffer(), rgb],
    ['avif', await raw().avif({ lossless: true }).toBuffer(), rgb],
    ['tiff', await raw().tiff({ compression: 'lzw' }).toBuffer(), rgb],
  ] as const) {
    const img = await decodeImage(bytes, what);
    assert.deepEqual([img.width, img.height], [W, H], what);
    assert.deepEqual(Buffer.from(img.rgb), want, what);
  }
});

test('16-bit PNGs (8-bit values v stored as v·257) decode to v; 16-bit gray gives R = G = B', async () => {
  const deep = await raw().toColourspace('rgb16').png().toBuffer();
  assert.equal((await sharp(deep).metadata()).depth, 'ushort', 'the fixture is 16-bit');
  assert.deepEqual(Buffer.from((await decodeImage(deep, 'deep.png')).rgb), rgb);
  const g = Buffer.from(Array.from({ length: W * H }, (_, i) => (i * 37) % 256));
  const gray = await decodeImage(await raw(1, g).toColourspace('grey16').png().toBuffer(), 'gray16.png');
  for (let p = 0; p < W * H; p++) assert.deepEqual(Array.from(gray.rgb.subarray(3 * p, 3 * p + 3)), [g[p], g[p], g[p]], `pixel ${p}`);
});

test('GIF: the first frame of an animation; JPEG: EXIF orientation applied (a 6×4 picture tagged 6 reads 4×6)', async () => {
  const two = Buffer.concat([Buffer.alloc(W * H * 3, 200), Buffer.alloc(W * H * 3, 40)]);
  const gif = await sharp(two, { raw: { width: W, height: 2 * H, channels: 3, pageHeight: H } }).gif().toBuffer({ resolveWithObject: false });
  assert.equal((await sharp(gif).metadata()).pages, 2, 'the fixture is a 2-frame animation');
  const g = await decodeImage(gif, 'anim.gif');
  assert.deepEqual([g.width, g.height], [W, H]);
  assert.ok(g.rgb.every((v) => Math.abs(v - 200) <= 2), 'first frame');
  const jpeg = await raw().jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer();
  const j = await decodeImage(jpeg, 'tagged.jpg');
  assert.deepEqual([j.width, j.height, j.format], [H, W, 'jpeg']);
});

test('the synchronous readers decode the same: decodeFilesSync, and an image folder of 16-bit gray PNGs is 1 channel', async () => {
  const dir = tmpDir('advexp-decode-');
  try {
    const files: string[] = [];
    for (const [name, p] of [['a.webp', raw().webp({ lossless: true })], ['b.avif', raw().avif({ lossless: true })], ['c.tif', raw().tiff()]] as const) {
      files.push(path.join(dir, name));
      fs.writeFileSync(files.at(-1)!, await p.toBuffer());
    }
    const got = decodeFilesSync(files);
    for (let k = 0; k < files.length; k++) assert.deepEqual(got[k], await decodeImage(fs.readFileSync(files[k]!), files[k]!).then(({ width, height, rgb: b }) => ({ width, height, rgb: b })));
    assert.throws(() => decodeFilesSync([path.join(dir, 'missing.png')]), /missing\.png: cannot read image \(ENOENT\)/);
    for (const c of ['x', 'y']) {
      fs.mkdirSync(path.join(dir, 'f', c), { recursive: true });
      const g = Buffer.from(Array.from({ length: W * H }, (_, i) => (i * 11 + (c === 'x' ? 0 : 5)) % 256));
      fs.writeFileSync(path.join(dir, 'f', c, '1.png'), await raw(1, g).toColourspace('grey16').png().toBuffer());
    }
    const set = loadImageFolder(path.join(dir, 'f'));
    assert.deepEqual([set.n, set.channels, set.height, set.width], [2, 1, H, W]);
    assert.deepEqual(Array.from(set.pixels.subarray(0, 3)), [0, 11, 22]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
