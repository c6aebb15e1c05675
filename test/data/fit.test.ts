// The one resize policy (issue 12): 'crop' is torchvision's eval transform (the centre region of the input's aspect
// ratio, then resize), 'stretch' resizes the whole picture; grayscale pictures stay 1 channel; image folders keep
// their own size unless told; CIFAR records are fitted to another model's input by the same function.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import pngjs from 'pngjs';
import { centreCrop, fitImage, fitDataset, fitNote, isGray, toChannels, loadImageFolder, type DecodedImage } from '../../src/data/images.js';
import { loadDataset } from '../../src/data/load.js';
import { tmpDir, makeBatch, cyclicLabels } from './make-cifar.js';

/** A w×h RGB picture whose pixel (x, y) is rgb(x, y). */
function picture(w: number, h: number, rgb: (x: number, y: number) => [number, number, number]): DecodedImage {
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out.set(rgb(x, y), (y * w + x) * 3);
  return { width: w, height: h, rgb: out };
}

function writePng(file: string, img: DecodedImage, colorType: 0 | 2 = 2): void {
  const png = new pngjs.PNG({ width: img.width, height: img.height });
  for (let p = 0; p < img.width * img.height; p++) {
    png.data[p * 4] = img.rgb[p * 3]!; png.data[p * 4 + 1] = img.rgb[p * 3 + 1]!; png.data[p * 4 + 2] = img.rgb[p * 3 + 2]!; png.data[p * 4 + 3] = 255;
  }
  fs.writeFileSync(file, pngjs.PNG.sync.write(png, { colorType }));
}

test('crop: the centre region of the target aspect ratio, as torchvision Resize(shorter side) + CenterCrop', () => {
  // 6×4 picture, x coded in red: the centre 4×4 square is columns 1..4.
  const img = picture(6, 4, (x, y) => [x * 10, y * 10, 0]);
  const sq = centreCrop(img, 2, 2);
  assert.equal(sq.width, 4);
  assert.equal(sq.height, 4);
  assert.deepEqual([sq.rgb[0], sq.rgb[3 * 3]], [10, 40]);
  // A wide target (2×4, ratio 2) from a 6×4 picture keeps the full width and the centre 3 rows.
  const wide = centreCrop(img, 2, 4);
  assert.deepEqual([wide.width, wide.height], [6, 3]);
  // Same ratio: the picture itself.
  assert.equal(centreCrop(img, 2, 3), img);
  // Fitting a 6×4 picture to 4×4 by crop copies the centre exactly; stretch resamples all six columns.
  const crop = fitImage(img, { channels: 3, height: 4, width: 4 }, 'crop');
  assert.deepEqual(Array.from(crop.subarray(0, 4)), [10, 20, 30, 40]);
  const stretch = fitImage(img, { channels: 3, height: 4, width: 4 }, 'stretch');
  assert.notDeepEqual(Array.from(stretch.subarray(0, 4)), [10, 20, 30, 40]);
  assert.equal(fitNote(img, { channels: 3, height: 4, width: 4 }, 'crop'), '6×4 cropped to 4×4');
  assert.equal(fitNote(img, { channels: 3, height: 2, width: 2 }, 'crop'), '6×4 cropped to 4×4, resized to 2×2');
  assert.equal(fitNote(img, { channels: 3, height: 4, width: 6 }, 'crop'), null);
});

test('channels: gray pictures give their value exactly; colour pictures give PIL\'s luma; 3 channels tripled', () => {
  const gray = picture(2, 1, (x) => [x ? 200 : 17, x ? 200 : 17, x ? 200 : 17]);
  assert.ok(isGray(gray));
  assert.deepEqual(Array.from(fitImage(gray, { channels: 1, height: 1, width: 2 })), [17, 200]);
  const colour = picture(1, 1, () => [255, 0, 0]);
  assert.ok(!isGray(colour));
  // PIL: L = R·299/1000 + G·587/1000 + B·114/1000 = 76.245 → 76.
  assert.deepEqual(Array.from(fitImage(colour, { channels: 1, height: 1, width: 1 })), [76]);
  assert.throws(() => toChannels(new Uint8Array(3), 1, 4, 'x.png'), /x\.png: a picture has 1 or 3 channels; the model takes 4/);
});

test('image folder: grayscale PNGs load as 1 channel at their own size; mixed sizes need a size', (t) => {
  const dir = tmpDir();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const c of ['normal', 'pneumonia']) fs.mkdirSync(path.join(dir, c));
  const g = (v: number): DecodedImage => picture(28, 28, (x, y) => [(x + y + v) % 256, (x + y + v) % 256, (x + y + v) % 256]);
  writePng(path.join(dir, 'normal', 'a.png'), g(0), 0);
  writePng(path.join(dir, 'pneumonia', 'b.png'), g(9), 0);
  writePng(path.join(dir, 'pneumonia', 'c.png'), g(20), 2); // an RGB file of a gray picture is still gray
  const set = loadImageFolder(dir);
  assert.deepEqual(set.shape, { channels: 1, height: 28, width: 28 });
  assert.deepEqual(Array.from(set.labels), [0, 1, 1]);
  assert.deepEqual(set.files, [path.join('normal', 'a.png'), path.join('pneumonia', 'b.png'), path.join('pneumonia', 'c.png')]);
  assert.equal(set.pixels[28 * 28 + 5], 14); // image b, pixel (5, 0): 5 + 0 + 9
  // As 3 channels for an RGB model: each plane equal to the gray one.
  const rgb = loadDataset(dir, { channels: 3 });
  assert.equal(rgb.channels, 3);
  assert.equal(rgb.pixels[5], rgb.pixels[28 * 28 + 5]);
  // A subset keeps the file names.
  assert.deepEqual(set.subset([2, 0]).files, [path.join('pneumonia', 'c.png'), path.join('normal', 'a.png')]);
  writePng(path.join(dir, 'normal', 'z.png'), picture(30, 28, () => [1, 1, 1]), 0);
  assert.throws(() => loadImageFolder(dir), /images differ in size \(a\.png 28×28, z\.png 30×28\): give a size \(--size\)/);
  assert.equal(loadImageFolder(dir, { size: [28, 28] }).n, 4);
});

test('a CIFAR batch is fitted to another model\'s input by the same policy (another size, 1 channel)', (t) => {
  const dir = tmpDir();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'b.bin');
  fs.writeFileSync(file, makeBatch(cyclicLabels(3)));
  const own = loadDataset(file);
  const big = loadDataset(file, { size: [64, 64] });
  assert.deepEqual(big.shape, { channels: 3, height: 64, width: 64 });
  assert.deepEqual(Array.from(big.labels), Array.from(own.labels));
  const one = loadDataset(file, { channels: 1 });
  assert.deepEqual(one.shape, { channels: 1, height: 32, width: 32 });
  // Pixel 0 of record 0 as luma of its RGB bytes.
  const p = 32 * 32;
  const [r, g, b] = [own.pixels[0]!, own.pixels[p]!, own.pixels[2 * p]!];
  assert.equal(one.pixels[0], Math.round((r * 299 + g * 587 + b * 114) / 1000));
  assert.equal(fitDataset(own, own.shape), own, 'no copy when the shape fits');
});
