// The page and the CLI colour a map the same way (report/colour.ts), and the server and the image loader tell
// PNG from JPEG by the same signature check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PNG } from 'pngjs';
import { overlayDataUrl, deltaToDataUrl, checkImage } from '../../src/server/images.js';
import { heatmapRgb, blend, deltaRgb } from '../../src/report/colour.js';
import { decodeImage } from '../../src/data/decode.js';
import { pngImage } from './fixtures.js';

const byte = (v: number): number => Math.round(Math.min(1, Math.max(0, v)) * 255);

function decodeDataUrl(url: string): PNG {
  const prefix = 'data:image/png;base64,';
  assert.ok(url.startsWith(prefix));
  return PNG.sync.read(Buffer.from(url.slice(prefix.length), 'base64'));
}

test('overlayDataUrl colours a map exactly as the CLI panel does (signed and unsigned)', () => {
  const H = 3, W = 4, P = H * W;
  const image = Float32Array.from({ length: 3 * P }, (_, i) => (i * 37 % 100) / 100);
  for (const signed of [false, true]) {
    const map = Float32Array.from({ length: P }, (_, i) => (signed ? i - 5 : i * 0.5));
    const png = decodeDataUrl(overlayDataUrl(image, 3, H, W, map, { signed }));
    const want = blend(image, heatmapRgb(map, H, W, signed), 0.5);
    for (let p = 0; p < P; p++) {
      for (let c = 0; c < 3; c++) assert.equal(png.data[p * 4 + c], byte(want[c * P + p]!), `signed ${signed}, pixel ${p}, channel ${c}`);
    }
  }
  const delta = Float32Array.from({ length: 3 * P }, (_, i) => (i % 7) * 0.01 - 0.03);
  const d = decodeDataUrl(deltaToDataUrl(delta, 3, H, W, 0.05));
  const dw = deltaRgb(delta, 0.05);
  for (let p = 0; p < P; p++) assert.equal(d.data[p * 4], byte(dw[p]!));
});

test('one signature check: a PNG whose signature is damaged is refused by the loader and the server alike', async () => {
  const good = pngImage(8, 8);
  assert.equal((await decodeImage(good, 'good.png')).format, 'png');
  const bad = Buffer.from(good);
  bad[5] = 0;
  await assert.rejects(decodeImage(bad, 'bad.png'), /bad\.png: not a PNG, JPEG, WebP, AVIF, TIFF or GIF image/);
  await assert.rejects(checkImage(bad), /not a PNG, JPEG, WebP, AVIF, TIFF or GIF image/);
});
