// Image folders (one sub-folder per class, like torchvision's ImageFolder), fitted to a model's input.
// Every image is brought to the model's input by one policy for every command (fitImage): 'crop' (default) is
// torchvision's eval transform, the centre region of the input's aspect ratio (the centre square for a square
// input: Resize(shorter side) then CenterCrop), then resized; 'stretch' resizes the whole picture. Resizing is
// box-filter (area) averaging where it shrinks, bilinear where it grows, then rounded back to bytes as 8-bit image
// libraries do. Channels: a grayscale picture feeds a 1-channel model as it is and a 3-channel one tripled; a colour
// picture feeds a 1-channel model as its luma (ITU-R 601, as PIL's convert('L')). This runs once at load time.
// Decoding (sharp: PNG, JPEG, WebP, AVIF, TIFF, GIF; the pixel limit) is decode.ts's; the readers here are synchronous and
// decode on a worker thread (decode-sync.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tensor, tidy, adaptiveAvgPool2d, interpolate } from '../engine/index.js';
import { errnoOf } from '../io/errors.js';
import { ImageDataset } from './dataset.js';
import { IMAGE_EXT, type DecodedImage } from './decode.js';
import { syncDecoder } from './decode-sync.js';
import type { LoadOptions } from './load.js';

export type { DecodedImage } from './decode.js';

/** How a picture of another size becomes the model's input. */
export type ResizePolicy = 'crop' | 'stretch';
export const RESIZE_POLICIES: readonly ResizePolicy[] = ['crop', 'stretch'];

/** The target of fitImage: channels and size. */
export interface FitShape { channels: number; height: number; width: number }

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

/** True when every pixel has R = G = B (a grayscale picture, whatever its file's colour type). */
export function isGray(img: DecodedImage): boolean {
  const b = img.rgb;
  for (let i = 0; i < b.length; i += 3) if (b[i] !== b[i + 1] || b[i] !== b[i + 2]) return false;
  return true;
}

/** The centre box of a w×h picture with the aspect ratio of height:width (scaled to cover the target, then cut). */
function cropBox(w: number, h: number, height: number, width: number): { x0: number; y0: number; cw: number; ch: number } {
  const scale = Math.max(height / h, width / w);
  const cw = Math.min(w, Math.round(width / scale)), ch = Math.min(h, Math.round(height / scale));
  return { x0: Math.floor((w - cw) / 2), y0: Math.floor((h - ch) / 2), cw, ch };
}

/** The centre region with the aspect ratio of height:width (the whole image when it has that ratio). */
export function centreCrop(img: DecodedImage, height: number, width: number): DecodedImage {
  const { x0, y0, cw, ch } = cropBox(img.width, img.height, height, width);
  if (cw === img.width && ch === img.height) return img;
  const rgb = new Uint8Array(cw * ch * 3);
  for (let y = 0; y < ch; y++) rgb.set(img.rgb.subarray(((y0 + y) * img.width + x0) * 3, ((y0 + y) * img.width + x0 + cw) * 3), y * cw * 3);
  return { width: cw, height: ch, rgb };
}

/** CHW bytes of 3 channels → `channels` channels: 3 as they are, 1 as luma (exact for gray pictures). */
export function toChannels(chw: Uint8Array, plane: number, channels: number, name: string): Uint8Array {
  if (channels === 3) return chw;
  if (channels !== 1) throw new Error(`${name}: a picture has 1 or 3 channels; the model takes ${channels}`);
  const out = new Uint8Array(plane);
  for (let i = 0; i < plane; i++) {
    // PIL's L = R·299/1000 + G·587/1000 + B·114/1000, rounded; R = G = B gives that value back.
    out[i] = Math.round((chw[i]! * 299 + chw[plane + i]! * 587 + chw[2 * plane + i]! * 114) / 1000);
  }
  return out;
}

/** A decoded picture as the model's input, CHW bytes, by the one resize policy (see the top of this file). */
export function fitImage(img: DecodedImage, shape: FitShape, policy: ResizePolicy = 'crop', name = 'image'): Uint8Array {
  const src = policy === 'crop' ? centreCrop(img, shape.height, shape.width) : img;
  return toChannels(resizeToChw(src, shape.height, shape.width), shape.height * shape.width, shape.channels, name);
}

/** What fitImage did to a picture, for notes: "640×480 cropped to 480×480, resized to 32×32". */
export function fitNote(img: { width: number; height: number }, shape: FitShape, policy: ResizePolicy): string | null {
  const steps: string[] = [];
  let { width: w, height: h } = img;
  if (policy === 'crop') {
    const { cw, ch } = cropBox(w, h, shape.height, shape.width);
    if (cw !== w || ch !== h) steps.push(`cropped to ${cw}×${ch}`);
    [w, h] = [cw, ch];
  }
  if (w !== shape.width || h !== shape.height) steps.push(`${policy === 'stretch' ? 'stretched' : 'resized'} to ${shape.width}×${shape.height}`);
  return steps.length === 0 ? null : `${img.width}×${img.height} ${steps.join(', ')}`;
}

function list(dir: string): fs.Dirent[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    throw new Error(`${dir}: cannot read directory (${errnoOf(e)})`);
  }
}

const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Files a worker round trip decodes together (concurrently; bounds the decoded pictures held at once). */
const DECODE_CHUNK = 64;

/**
 * An image folder: every non-hidden sub-folder of `dir` is a class (sorted by name: label i = i-th name);
 * its image files (.png, .jpg/.jpeg, .webp, .avif, .tif/.tiff, .gif; sorted) are the images, brought to opts.size by opts.resize (fitImage). Without a
 * size, the images' own (all must share it); without channels, 1 when every picture is grayscale, else 3.
 * Other files are ignored; a file with an image extension that does not decode is an error naming it.
 */
export function loadImageFolder(dir: string, opts: LoadOptions = {}): ImageDataset {
  const classes = list(dir).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort(byName);
  if (classes.length === 0) throw new Error(`${dir}: no class sub-folders`);
  const files: { file: string; label: number }[] = [];
  classes.forEach((c, label) => {
    const names = list(path.join(dir, c)).filter((e) => e.isFile() && !e.name.startsWith('.') && IMAGE_EXT.test(e.name)).map((e) => e.name).sort(byName);
    for (const f of names) files.push({ file: path.join(dir, c, f), label });
  });
  if (files.length === 0) throw new Error(`${dir}: no image files (.png, .jpg, .webp, .avif, .tif, .gif) in its class sub-folders`);
  const n = Math.min(files.length, opts.limit ?? files.length);
  // Fitted as RGB first; the channel count is known once every picture has been seen (gray or not). Without a size,
  // the first picture's, which every other must share.
  let size: [number, number] | null = opts.size ?? null;
  let rgb = new Uint8Array(0);
  const labels = new Int32Array(n);
  let allGray = true;
  const decoder = syncDecoder();
  for (let s = 0; s < n; s += DECODE_CHUNK) {
    const chunk = files.slice(s, Math.min(n, s + DECODE_CHUNK));
    const results = decoder.decode(chunk.map((f) => f.file));
    for (let j = 0; j < chunk.length; j++) {
      const r = results[j]!;
      if ('error' in r) throw new Error(r.error);
      const img = r.image, i = s + j, { file, label } = chunk[j]!;
      if (size === null) size = [img.height, img.width];
      else if (opts.size === undefined && (img.width !== size[1] || img.height !== size[0])) {
        throw new Error(`${dir}: images differ in size (${path.basename(files[0]!.file)} ${size[1]}×${size[0]}, ${path.basename(file)} ${img.width}×${img.height}): give a size (--size)`);
      }
      const per = 3 * size[0] * size[1];
      if (i === 0) rgb = new Uint8Array(n * per);
      allGray &&= isGray(img);
      rgb.set(fitImage(img, { channels: 3, height: size[0], width: size[1] }, opts.resize ?? 'crop', file), i * per);
      labels[i] = label;
    }
  }
  const [height, width] = size!;
  const plane = height * width;
  const channels = opts.channels ?? (allGray ? 1 : 3);
  let pixels = rgb;
  if (channels !== 3) {
    pixels = new Uint8Array(n * channels * plane);
    for (let i = 0; i < n; i++) pixels.set(toChannels(rgb.subarray(i * 3 * plane, (i + 1) * 3 * plane), plane, channels, files[i]!.file), i * channels * plane);
  }
  const names = files.slice(0, n).map((f) => path.relative(dir, f.file));
  return new ImageDataset({ pixels, labels, shape: { channels, height, width }, classNames: classes, source: dir, files: names });
}

/**
 * A data set brought to another shape by the one policy (fitImage), e.g. CIFAR-10's 32×32 records for a model that
 * takes 224×224 or 1 channel; the set itself when it already has the shape.
 */
export function fitDataset(set: ImageDataset, shape: FitShape, policy: ResizePolicy = 'crop'): ImageDataset {
  if (set.channels === shape.channels && set.height === shape.height && set.width === shape.width) return set;
  if (set.channels !== 1 && set.channels !== 3) throw new Error(`${set.source}: images of ${set.channels} channels cannot be brought to ${shape.channels}`);
  const per = shape.channels * shape.height * shape.width, plane = set.height * set.width;
  const pixels = new Uint8Array(set.n * per);
  const rgb = new Uint8Array(plane * 3);
  for (let i = 0; i < set.n; i++) {
    const img = set.floats(i, i + 1);
    // CHW floats in [0, 1] back to the HWC bytes fitImage takes (exact for byte-backed sets).
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < 3; c++) rgb[p * 3 + c] = Math.round(img[(set.channels === 1 ? 0 : c) * plane + p]! * 255);
    }
    pixels.set(fitImage({ width: set.width, height: set.height, rgb }, shape, policy, set.source), i * per);
  }
  return new ImageDataset({ pixels, labels: set.labels, shape, classNames: set.classNames, source: set.source, files: set.files ?? undefined });
}
