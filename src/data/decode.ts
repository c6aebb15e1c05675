// Image files → RGB bytes, through sharp (libvips, prebuilt inside its npm packages): PNG (8/16-bit, palette,
// gray, alpha dropped), JPEG (EXIF orientation applied), WebP, AVIF, TIFF, GIF (the first frame). One pixel limit
// for every reader (the CLI's image files, image folders, the server's uploads): the size is read from the header
// before anything is decoded, since a 69-byte file can claim a 20000×20000 picture, and libvips is told the same
// limit. Other formats libvips knows (SVG, PDF, HEIC, raw) are refused: they are not pictures a classifier is fed.
// This module is asynchronous, as sharp is; decode-sync.ts gives the data layer's synchronous readers the same
// decoding on a worker thread. It imports nothing from the engine, so the worker stays light.
import * as fs from 'node:fs';
import type { Metadata, Sharp, SharpOptions } from 'sharp';
import { errnoOf } from '../io/errors.js';
import { regularFile } from '../io/files.js';

export interface DecodedImage { width: number; height: number; /** RGB, row-major, 3 bytes a pixel. */ rgb: Uint8Array }

/** The formats read, by sharp's name for them ('heif' only with AV1 compression: AVIF). */
export type ImageFormat = 'png' | 'jpeg' | 'webp' | 'avif' | 'tiff' | 'gif';
const FORMAT_NAMES: Record<ImageFormat, string> = { png: 'PNG', jpeg: 'JPEG', webp: 'WebP', avif: 'AVIF', tiff: 'TIFF', gif: 'GIF' };
export const IMAGE_FORMATS_TEXT = 'PNG, JPEG, WebP, AVIF, TIFF or GIF';
/** File names image folders take (other files are ignored). */
export const IMAGE_EXT = /\.(png|jpe?g|webp|avif|tiff?|gif)$/i;

/** The largest picture decoded anywhere, per side and in pixels (a 16-megapixel photo fits). */
export const MAX_IMAGE_SIDE = 8192;
export const MAX_IMAGE_PIXELS = 4096 * 4096;
/** The largest image file read (a 16-megapixel PNG stored without compression is about 50 MB). */
export const MAX_IMAGE_FILE_BYTES = 256 * 1024 * 1024;

type SharpFn = (input: Uint8Array, options?: SharpOptions) => Sharp;
let loaded: Promise<SharpFn> | null = null;
/** sharp, loaded on first use (importing this module for its constants needs no native library). */
function sharpLib(): Promise<SharpFn> {
  loaded ??= import('sharp').then((m) => {
    // Decoded pictures are used once: libvips' operation cache would only hold memory.
    m.default.cache(false);
    return m.default as unknown as SharpFn;
  });
  return loaded;
}

/**
 * The one check before any decoding: a format read here, a size readable from the header, at least one pixel, and
 * at most MAX_IMAGE_SIDE a side and MAX_IMAGE_PIXELS in all. Errors are one line starting with `name`.
 */
export async function checkImageHeader(bytes: Uint8Array, name: string): Promise<{ format: ImageFormat; width: number; height: number }> {
  const sharp = await sharpLib();
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (e) {
    const msg = firstLine(e);
    if (/unsupported image format/i.test(msg)) throw new Error(`${name}: not a ${IMAGE_FORMATS_TEXT} image`);
    const claimed = signatureFormat(bytes);
    const why = msg.replace(/^Input buffer (has |contains )?/i, '').replace(/:\s*$/, '');
    throw new Error(`${name}: not a valid ${claimed === null ? '' : `${FORMAT_NAMES[claimed]} `}image (${why})`);
  }
  const format = meta.format === 'heif' ? (meta.compression === 'av1' ? 'avif' : null) : meta.format in FORMAT_NAMES ? meta.format as ImageFormat : null;
  if (format === null) throw new Error(`${name}: ${meta.format === 'heif' ? 'HEIC' : String(meta.format).toUpperCase()} files are not read (images are read as ${IMAGE_FORMATS_TEXT})`);
  const F = FORMAT_NAMES[format];
  const { width, height } = meta;
  if (!(width >= 1 && height >= 1)) throw new Error(`${name}: the ${F} image has no pixels (${width}×${height})`);
  if (width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE || width * height > MAX_IMAGE_PIXELS) {
    throw new Error(`${name}: the ${F} image is ${width}×${height} pixels; at most ${MAX_IMAGE_SIDE} a side and ${MAX_IMAGE_PIXELS / 1048576} megapixels are accepted`);
  }
  return { format, width, height };
}

/** An image file's bytes: a regular file (never a FIFO or a device) of at most MAX_IMAGE_FILE_BYTES. */
export function readImageBytes(file: string): Uint8Array {
  const st = regularFile(file, 'image');
  if (st.size > MAX_IMAGE_FILE_BYTES) throw new Error(`${file}: the file is ${st.size} bytes; image files of at most ${MAX_IMAGE_FILE_BYTES / 1048576} MB are read`);
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new Error(`${file}: cannot read image (${errnoOf(e)})`);
  }
}

/**
 * Decodes an image's bytes to 8-bit sRGB: EXIF orientation applied (width and height are the upright picture's),
 * alpha dropped, gray as R = G = B, 16-bit scaled to 8. Only the formats read here reach the decoder (told by their
 * first bytes; anything else goes through checkImageHeader, which names it and refuses SVG, PDF, HEIC), and libvips
 * holds the pixel limit on its header read before any pixel is decoded: one libvips call per picture (a separate
 * header read cost a third more on small pictures). On any failure checkImageHeader gives the one-line reason
 * (size, header); otherwise the decoder's. Errors start with `file`.
 */
export async function decodeImage(bytes: Uint8Array, file: string): Promise<DecodedImage & { format: ImageFormat }> {
  const format = signatureFormat(bytes) ?? (await checkImageHeader(bytes, file)).format;
  const sharp = await sharpLib();
  let decoded: { data: Buffer; info: { width: number; height: number; channels: number } };
  try {
    decoded = await sharp(bytes, { limitInputPixels: MAX_IMAGE_PIXELS, failOn: 'error', autoOrient: true })
      .removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  } catch (e) {
    await checkImageHeader(bytes, file);
    throw new Error(`${file}: cannot decode ${FORMAT_NAMES[format]} image (${firstLine(e)})`);
  }
  const { data, info } = decoded;
  // The area limit held while decoding; the side limit is checked here (a picture within the area is small).
  if (info.width > MAX_IMAGE_SIDE || info.height > MAX_IMAGE_SIDE) await checkImageHeader(bytes, file);
  if (info.channels !== 3 || data.length !== info.width * info.height * 3) throw new Error(`${file}: cannot decode ${FORMAT_NAMES[format]} image (decoded to ${info.channels} channel(s))`);
  return { width: info.width, height: info.height, rgb: new Uint8Array(data.buffer, data.byteOffset, data.length), format };
}

/** Reads and decodes an image file (readImageBytes, then decodeImage). */
export async function decodeImageFile(file: string): Promise<DecodedImage & { format: ImageFormat }> {
  return decodeImage(readImageBytes(file), file);
}

/** The format a file's first bytes announce (which formats reach the decoder, and error messages). */
function signatureFormat(b: Uint8Array): ImageFormat | null {
  const ascii = (at: number, text: string): boolean => [...text].every((ch, k) => b[at + k] === ch.charCodeAt(0));
  if (b[0] === 0x89 && ascii(1, 'PNG')) return 'png';
  if (b[0] === 0xff && b[1] === 0xd8) return 'jpeg';
  if (ascii(0, 'GIF8')) return 'gif';
  if (ascii(0, 'RIFF') && ascii(8, 'WEBP')) return 'webp';
  if (ascii(0, 'II*\0') || ascii(0, 'MM\0*')) return 'tiff';
  if (ascii(4, 'ftypavi')) return 'avif';
  return null;
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0]!.trim();
}
