// Image folders (one sub-folder per class, like torchvision's ImageFolder) and PNG/JPEG decoding.
// Every image is brought to the model's input by one policy for every command (fitImage): 'crop' (default) is
// torchvision's eval transform, the centre region of the input's aspect ratio (the centre square for a square
// input: Resize(shorter side) then CenterCrop), then resized; 'stretch' resizes the whole picture. Resizing is
// box-filter (area) averaging where it shrinks, bilinear where it grows, then rounded back to bytes as 8-bit image
// libraries do. Channels: a grayscale picture feeds a 1-channel model as it is and a 3-channel one tripled; a colour
// picture feeds a 1-channel model as its luma (ITU-R 601, as PIL's convert('L')). This runs once at load time.
// One pixel limit for every reader (the CLI's image files, image folders, the server's uploads): the size is read
// from the PNG/JPEG header before anything is decoded, since a 69-byte file can claim a 20000×20000 picture.
import * as fs from 'node:fs';
import * as path from 'node:path';
import pngjs from 'pngjs';
import jpeg from 'jpeg-js';
import { tensor, tidy, adaptiveAvgPool2d, interpolate } from '../engine/index.js';
import { errnoOf } from '../io/errors.js';
import { regularFile } from '../io/files.js';
import { ImageDataset } from './dataset.js';
import type { LoadOptions } from './load.js';

export interface DecodedImage { width: number; height: number; /** RGB, row-major, 3 bytes a pixel. */ rgb: Uint8Array }

/** How a picture of another size becomes the model's input. */
export type ResizePolicy = 'crop' | 'stretch';
export const RESIZE_POLICIES: readonly ResizePolicy[] = ['crop', 'stretch'];

/** The target of fitImage: channels and size. */
export interface FitShape { channels: number; height: number; width: number }

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

/** The largest picture decoded anywhere, per side and in pixels (a 16-megapixel photo fits). */
export const MAX_IMAGE_SIDE = 8192;
export const MAX_IMAGE_PIXELS = 4096 * 4096;
/** The largest image file read (a 16-megapixel PNG stored without compression is about 50 MB). */
export const MAX_IMAGE_FILE_BYTES = 256 * 1024 * 1024;

const be16 = (b: Uint8Array, i: number): number => (b[i]! << 8) | b[i + 1]!;
const be32 = (b: Uint8Array, i: number): number => ((b[i]! << 24) >>> 0) + (b[i + 1]! << 16) + (b[i + 2]! << 8) + b[i + 3]!;

/** Width and height from the header, without decoding; null when the header is missing or malformed. */
export function imageSize(b: Uint8Array, kind: ImageKind): { width: number; height: number } | null {
  if (kind === 'png') {
    // Signature, then the IHDR chunk: length (13), type, width, height.
    const isIhdr = (at: number): boolean => b[at + 4] === 0x49 && b[at + 5] === 0x48 && b[at + 6] === 0x44 && b[at + 7] === 0x52;
    if (b.length < 24 || !isIhdr(8)) return null;
    // A later IHDR would override the first in the decoder (found by the fuzz test): walk the chunks and refuse one.
    for (let at = 8 + 12 + be32(b, 8); at + 8 <= b.length; at += 12 + be32(b, at)) {
      if (isIhdr(at)) return null;
      if (b[at + 4] === 0x49 && b[at + 5] === 0x45 && b[at + 6] === 0x4e && b[at + 7] === 0x44) break; // IEND
    }
    return { width: be32(b, 16), height: be32(b, 20) };
  }
  // JPEG: walk the marker segments up to the first start-of-frame (SOF0–SOF15 but DHT C4, JPG C8, DAC CC).
  let i = 2;
  while (i + 4 <= b.length) {
    if (b[i] !== 0xff) return null;
    const m = b[i + 1]!;
    if (m === 0xff) { i++; continue; } // fill byte
    if (m === 0xd8 || m === 0x01 || (m >= 0xd0 && m <= 0xd7)) { i += 2; continue; } // no length
    if (m === 0xd9 || m === 0xda) return null; // end of image / start of scan before any frame header
    const len = be16(b, i + 2);
    if (len < 2) return null;
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      if (i + 9 > b.length) return null;
      return { width: be16(b, i + 7), height: be16(b, i + 5) };
    }
    i += 2 + len;
  }
  return null;
}

/**
 * The one check before any decoding: a PNG/JPEG signature, a size readable from the header, at least one pixel,
 * and at most MAX_IMAGE_SIDE a side and MAX_IMAGE_PIXELS in all. Errors are one line starting with `name`.
 */
export function checkImageHeader(bytes: Uint8Array, name: string): { kind: ImageKind; width: number; height: number } {
  const kind = sniffImage(bytes);
  if (kind === null) throw new Error(`${name}: not a PNG or JPEG image`);
  const K = kind.toUpperCase();
  const size = imageSize(bytes, kind);
  if (size === null) throw new Error(`${name}: not a valid ${K} image (no single readable size in its header)`);
  const { width, height } = size;
  if (width < 1 || height < 1) throw new Error(`${name}: the ${K} image has no pixels (${width}×${height})`);
  if (width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE || width * height > MAX_IMAGE_PIXELS) {
    throw new Error(`${name}: the ${K} image is ${width}×${height} pixels; at most ${MAX_IMAGE_SIDE} a side and ${MAX_IMAGE_PIXELS / 1048576} megapixels are accepted`);
  }
  return { kind, width, height };
}

/** An image file's bytes: a regular file (never a FIFO or a device) of at most MAX_IMAGE_FILE_BYTES, header checked. */
export function readImageFile(file: string): Uint8Array {
  const st = regularFile(file, 'image');
  if (st.size > MAX_IMAGE_FILE_BYTES) throw new Error(`${file}: the file is ${st.size} bytes; image files of at most ${MAX_IMAGE_FILE_BYTES / 1048576} MB are read`);
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new Error(`${file}: cannot read image (${errnoOf(e)})`);
  }
  checkImageHeader(bytes, file);
  return bytes;
}

/**
 * Decodes PNG or JPEG bytes (told apart by their signature) after checkImageHeader: nothing is decoded past the
 * pixel limit. Errors are one line starting with `file`.
 */
export function decodeImage(bytes: Uint8Array, file: string): DecodedImage {
  const { kind } = checkImageHeader(bytes, file);
  const isPng = kind === 'png';
  try {
    if (isPng) {
      const png = pngjs.PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
      return { width: png.width, height: png.height, rgb: rgbaToRgb(png.data, png.width, png.height) };
    }
    const img = jpeg.decode(bytes, {
      useTArray: true, formatAsRGBA: true, tolerantDecoding: false, maxMemoryUsageInMB: 1024, maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6,
    });
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

/**
 * An image folder: every non-hidden sub-folder of `dir` is a class (sorted by name: label i = i-th name);
 * its .png/.jpg/.jpeg files (sorted) are the images, brought to opts.size by opts.resize (fitImage). Without a
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
  if (files.length === 0) throw new Error(`${dir}: no .png/.jpg/.jpeg images in its class sub-folders`);
  const n = Math.min(files.length, opts.limit ?? files.length);
  // Without a size, the first picture's, which every other must share (each file is read once).
  const first = files[0]!.file;
  const own = opts.size === undefined ? checkImageHeader(readImageFile(first), first) : null;
  const [height, width] = opts.size ?? [own!.height, own!.width];
  const plane = height * width;
  // Fitted as RGB first; the channel count is known once every picture has been seen (gray or not).
  const rgb = new Uint8Array(n * 3 * plane);
  const labels = new Int32Array(n);
  let allGray = true;
  for (let i = 0; i < n; i++) {
    const { file, label } = files[i]!;
    const img = decodeImage(readImageFile(file), file);
    if (own !== null && (img.width !== width || img.height !== height)) {
      throw new Error(`${dir}: images differ in size (${path.basename(first)} ${width}×${height}, ${path.basename(file)} ${img.width}×${img.height}): give a size (--size)`);
    }
    allGray &&= isGray(img);
    rgb.set(fitImage(img, { channels: 3, height, width }, opts.resize ?? 'crop', file), i * 3 * plane);
    labels[i] = label;
  }
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
