// Images in and out of the API. In: only PNG and JPEG, told apart by their bytes (never by the name or the
// client's content type), their size read from the header and held to the one pixel limit before anything is decoded
// (a small file can claim a huge picture: data/images.ts checkImageHeader, which the CLI and image folders use too),
// then decoded by data/images.ts, cropped to the centre square and resized to the model's input.
// Out: small PNGs as data: URLs, which the page scales up with nearest-neighbour; maps coloured by report/colour.ts.
import pngjs from 'pngjs';
import { checkImageHeader, decodeImage, resizeToChw, type DecodedImage, type ImageKind } from '../data/images.js';
import { blend, deltaRgb, heatmapRgb } from '../report/colour.js';
import { badRequest } from './errors.js';

export interface ModelInput {
  /** CHW floats in [0, 1], the model's input size. */
  chw: Float32Array;
  /** What was done to the picture, for the page. */
  original: { width: number; height: number; format: ImageKind };
  note: string;
}

/** The centre square of an image (the whole image when it is square). */
export function centreSquare(img: DecodedImage): DecodedImage {
  const s = Math.min(img.width, img.height);
  if (img.width === s && img.height === s) return img;
  const x0 = Math.floor((img.width - s) / 2), y0 = Math.floor((img.height - s) / 2);
  const rgb = new Uint8Array(s * s * 3);
  for (let y = 0; y < s; y++) rgb.set(img.rgb.subarray(((y0 + y) * img.width + x0) * 3, ((y0 + y) * img.width + x0 + s) * 3), y * s * 3);
  return { width: s, height: s, rgb };
}

/** The cheap checks, before any decoding: PNG/JPEG signature, a readable header, a sane size (HttpError 400). */
export function checkImage(bytes: Uint8Array): { kind: ImageKind; size: { width: number; height: number } } {
  if (bytes.length === 0) throw badRequest("the uploaded file 'image' is empty");
  let head: ReturnType<typeof checkImageHeader>;
  try {
    head = checkImageHeader(bytes, 'the upload');
  } catch (e) {
    throw badRequest((e as Error).message);
  }
  return { kind: head.kind, size: { width: head.width, height: head.height } };
}

/**
 * Uploaded bytes → the model's input (HttpError 400 for anything that is not a decodable PNG/JPEG of a sane size).
 * Non-square pictures are cropped to their centre square, then resized (area average down, bilinear up).
 */
export function imageToInput(bytes: Uint8Array, height: number, width: number): ModelInput {
  const { kind, size } = checkImage(bytes);
  let img: DecodedImage;
  try {
    img = decodeImage(bytes, 'upload');
  } catch (e) {
    throw badRequest(`the upload: ${(e as Error).message.replace(/^upload: /, '')}`);
  }
  if (img.width !== size.width || img.height !== size.height) throw badRequest(`the ${kind.toUpperCase()} image header says ${size.width}×${size.height} but it decodes to ${img.width}×${img.height}`);
  const sq = centreSquare(img);
  const bytesChw = resizeToChw(sq, height, width);
  const chw = new Float32Array(bytesChw.length);
  for (let i = 0; i < chw.length; i++) chw[i] = bytesChw[i]! / 255;
  const steps: string[] = [`${img.width}×${img.height} ${kind.toUpperCase()}`];
  if (sq !== img) steps.push(`centre ${sq.width}×${sq.height}`);
  if (sq.width !== width || sq.height !== height) steps.push(`resized to ${width}×${height}`);
  return { chw, original: { width: img.width, height: img.height, format: kind }, note: steps.join(' → ') };
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
  const plane = height * width;
  const rgb = channels === 3 ? image : Float32Array.from({ length: 3 * plane }, (_, i) => image[i % plane]!);
  return chwToDataUrl(blend(rgb, heatmapRgb(map, height, width, opts.signed ?? false), opts.alpha ?? 0.5), 3, height, width);
}
