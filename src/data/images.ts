// Image folders (one sub-folder per class, like torchvision's ImageFolder) and PNG/JPEG decoding.
// Every image is resized to the model's input: box-filter (area) averaging where it shrinks, bilinear where it
// grows, then rounded back to bytes as 8-bit image libraries do. This runs once at load time, not per batch.
import * as fs from 'node:fs';
import * as path from 'node:path';
import pngjs from 'pngjs';
import jpeg from 'jpeg-js';
import { tensor, tidy, adaptiveAvgPool2d, interpolate } from '../engine/index.js';
import { errnoOf } from '../io/errors.js';
import { ImageDataset } from './dataset.js';
import type { LoadOptions } from './load.js';

export interface DecodedImage { width: number; height: number; /** RGB, row-major, 3 bytes a pixel. */ rgb: Uint8Array }

const IMAGE_EXT = /\.(png|jpe?g)$/i;

function rgbaToRgb(rgba: Uint8Array, w: number, h: number): Uint8Array {
  const out = new Uint8Array(w * h * 3);
  for (let i = 0, j = 0; i < w * h; i++, j += 4) {
    out[i * 3] = rgba[j]!; out[i * 3 + 1] = rgba[j + 1]!; out[i * 3 + 2] = rgba[j + 2]!;
  }
  return out;
}

export type ImageKind = 'png' | 'jpeg';

/** PNG or JPEG by the file's signature (never its name or a claimed content type); null for anything else. */
export function sniffImage(b: Uint8Array): ImageKind | null {
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 && b[4] === 0x0d && b[5] === 0x0a && b[6] === 0x1a && b[7] === 0x0a) return 'png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  return null;
}

/** Decodes PNG or JPEG bytes (told apart by their signature). Errors are one line starting with `file`. */
export function decodeImage(bytes: Uint8Array, file: string): DecodedImage {
  const kind = sniffImage(bytes);
  if (kind === null) throw new Error(`${file}: not a PNG or JPEG image`);
  const isPng = kind === 'png';
  try {
    if (isPng) {
      const png = pngjs.PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
      return { width: png.width, height: png.height, rgb: rgbaToRgb(png.data, png.width, png.height) };
    }
    const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, tolerantDecoding: false, maxMemoryUsageInMB: 1024 });
    if (!(img.width > 0 && img.height > 0)) throw new Error('no image data');
    return { width: img.width, height: img.height, rgb: rgbaToRgb(img.data, img.width, img.height) };
  } catch (e) {
    const msg = String((e as Error).message ?? e).split('\n')[0];
    throw new Error(`${file}: cannot decode ${isPng ? 'PNG' : 'JPEG'} image (${msg})`);
  }
}

/**
 * Resizes an RGB image to [height, width], returning CHW bytes. Shrinking averages whole source areas
 * (adaptive average pooling), growing interpolates bilinearly (half-pixel centres); equal sizes copy exactly.
 */
export function resizeToChw(img: DecodedImage, height: number, width: number): Uint8Array {
  const { width: w, height: h, rgb } = img;
  const plane = w * h;
  const chw = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    chw[i] = rgb[i * 3]!; chw[plane + i] = rgb[i * 3 + 1]!; chw[2 * plane + i] = rgb[i * 3 + 2]!;
  }
  if (h === height && w === width) return Uint8Array.from(chw);
  const values = tidy(() => {
    let x = tensor(chw, [1, 3, h, w]);
    const mh = Math.min(h, height), mw = Math.min(w, width);
    if (mh !== h || mw !== w) x = adaptiveAvgPool2d(x, [mh, mw]);
    if (mh !== height || mw !== width) x = interpolate(x, [height, width], 'bilinear', false);
    return x.round().clamp(0, 255).data();
  });
  return Uint8Array.from(values);
}

function list(dir: string): fs.Dirent[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    throw new Error(`${dir}: cannot read directory (${errnoOf(e)})`);
  }
}

const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * An image folder: every non-hidden sub-folder of `dir` is a class (sorted by name: label i = i-th name);
 * its .png/.jpg/.jpeg files (sorted) are the images, resized to opts.size (default 32×32), RGB.
 * Other files are ignored; a file with an image extension that does not decode is an error naming it.
 */
export function loadImageFolder(dir: string, opts: LoadOptions = {}): ImageDataset {
  const [height, width] = opts.size ?? [32, 32];
  const classes = list(dir).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort(byName);
  if (classes.length === 0) throw new Error(`${dir}: no class sub-folders`);
  const files: { file: string; label: number }[] = [];
  classes.forEach((c, label) => {
    const names = list(path.join(dir, c)).filter((e) => e.isFile() && !e.name.startsWith('.') && IMAGE_EXT.test(e.name)).map((e) => e.name).sort(byName);
    for (const f of names) files.push({ file: path.join(dir, c, f), label });
  });
  if (files.length === 0) throw new Error(`${dir}: no .png/.jpg/.jpeg images in its class sub-folders`);
  const n = Math.min(files.length, opts.limit ?? files.length);
  const per = 3 * height * width;
  const pixels = new Uint8Array(n * per);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const { file, label } = files[i]!;
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(file);
    } catch (e) {
      throw new Error(`${file}: cannot read image (${errnoOf(e)})`);
    }
    pixels.set(resizeToChw(decodeImage(bytes, file), height, width), i * per);
    labels[i] = label;
  }
  return new ImageDataset({ pixels, labels, shape: { channels: 3, height, width }, classNames: classes, source: dir });
}
