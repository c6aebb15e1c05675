// Images in and out of the API. In: PNG, JPEG, WebP, AVIF, TIFF or GIF, told apart by their bytes (never by the name
// or the client's content type), their size read from the header and held to the one pixel limit before anything is
// decoded (a small file can claim a huge picture: data/decode.ts checkImageHeader, which the CLI and image folders
// use too), then decoded by data/decode.ts and fitted to the model's input by the policy every command uses (fitImage).
// Out: small PNGs as data: URLs, which the page scales up with nearest-neighbour; maps coloured by report/colour.ts.
import pngjs from 'pngjs';
import { fitImage, fitNote, type FitShape, type ResizePolicy } from '../data/images.js';
import { checkImageHeader, decodeImage, type DecodedImage, type ImageFormat } from '../data/decode.js';
import { asRgb, blend, deltaRgb, heatmapRgb } from '../report/colour.js';
import { badRequest } from './errors.js';

export interface ModelInput {
  /** CHW floats in [0, 1], the model's input size. */
  chw: Float32Array;
  /** What was done to the picture, for the page. */
  original: { width: number; height: number; format: ImageFormat };
  note: string;
}

/** The cheap checks, before any decoding: a format read here, a readable header, a sane size (HttpError 400). */
export async function checkImage(bytes: Uint8Array): Promise<{ format: ImageFormat; size: { width: number; height: number } }> {
  if (bytes.length === 0) throw badRequest("the uploaded file 'image' is empty");
  let head: Awaited<ReturnType<typeof checkImageHeader>>;
  try {
    head = await checkImageHeader(bytes, 'the upload');
  } catch (e) {
    throw badRequest((e as Error).message);
  }
  return { format: head.format, size: { width: head.width, height: head.height } };
}

/**
 * Uploaded bytes → the model's input (HttpError 400 for anything that is not a decodable image of a sane size),
 * upright by its EXIF orientation, fitted by the one resize policy of every command (data/images.ts fitImage).
 */
export async function imageToInput(bytes: Uint8Array, shape: FitShape, policy: ResizePolicy): Promise<ModelInput> {
  await checkImage(bytes);
  let img: DecodedImage & { format: ImageFormat };
  try {
    img = await decodeImage(bytes, 'upload');
  } catch (e) {
    throw badRequest(`the upload: ${(e as Error).message.replace(/^upload: /, '')}`);
  }
  const kind = img.format;
  const bytesChw = fitImage(img, shape, policy, 'upload');
  const chw = new Float32Array(bytesChw.length);
  for (let i = 0; i < chw.length; i++) chw[i] = bytesChw[i]! / 255;
  const note = fitNote(img, shape, policy);
  return { chw, original: { width: img.width, height: img.height, format: kind }, note: `${img.width}×${img.height} ${kind.toUpperCase()}${note === null ? '' : ` ${note.replace(/^\d+×\d+ /, '')}`}` };
}

/** RGBA bytes → PNG data: URL. */
export function rgbaToDataUrl(rgba: Uint8Array, width: number, height: number): string {
  const png = new pngjs.PNG({ width, height });
  png.data = Buffer.from(rgba.buffer, rgba.byteOffset, rgba.byteLength);
  return `data:image/png;base64,${pngjs.PNG.sync.write(png).toString('base64')}`;
}

/** A CHW image (values clamped to [0, 1], 1 or 3 channels) → RGBA bytes. */
export function chwToRgba(chw: Float32Array, channels: number, height: number, width: number): Uint8Array {
  const plane = height * width;
  const out = new Uint8Array(plane * 4);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) {
      const v = chw[(channels === 1 ? 0 : c) * plane + i]!;
      out[i * 4 + c] = Math.round(Math.min(1, Math.max(0, Number.isFinite(v) ? v : 0)) * 255);
    }
    out[i * 4 + 3] = 255;
  }
  return out;
}

export function chwToDataUrl(chw: Float32Array, channels: number, height: number, width: number): string {
  return rgbaToDataUrl(chwToRgba(chw, channels, height, width), width, height);
}

/** A perturbation shown around mid-grey: 0.5 + δ / (2·scale), so ±scale spans the full range. */
export function deltaToDataUrl(delta: Float32Array, channels: number, height: number, width: number, scale: number): string {
  return chwToDataUrl(deltaRgb(delta, scale), channels, height, width);
}

/**
 * A heat map (H×W) blended over a CHW image with weight `alpha`, coloured as the CLI's panels colour it
 * (report/colour.ts: unsigned maps scaled by their maximum, signed ones blue–white–red around 0).
 */
export function overlayDataUrl(image: Float32Array, channels: number, height: number, width: number, map: Float32Array,
  opts: { alpha?: number; signed?: boolean } = {}): string {
  const rgb = asRgb(image, channels, height * width);
  return chwToDataUrl(blend(rgb, heatmapRgb(map, height, width, opts.signed ?? false), opts.alpha ?? 0.5), 3, height, width);
}
