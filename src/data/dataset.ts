// The one labelled image set of advexp: CIFAR-10 binaries and tarballs (cifar.ts), image folders (images.ts) and
// images made in memory all become an ImageDataset, which knows its size, its image shape, its labels and class
// names, and where it came from (for error messages). Consumers (training, attacks, metrics, the server) take
// batches as tensors and never assume a shape. Also: subsets and the seeded validation split.
import { Tensor, tensor, tidy, seededRandom } from '../engine/index.js';

export interface ImageShape { readonly channels: number; readonly height: number; readonly width: number }

export interface ImageDatasetInit {
  /**
   * NCHW values of all images: bytes (pixel value = byte / 255, as read from files), or floats in [0, 1]
   * (images made in memory, e.g. perturbed ones).
   */
  pixels: Uint8Array | Float32Array;
  labels: Int32Array;
  shape: ImageShape;
  classNames: string[];
  /** Where the images came from (file path, record range), for messages and records. */
  source: string;
  /** Each image's file (image folders: relative to the folder), or absent for record-based data. */
  files?: readonly string[] | undefined;
}

/** Exact float32 of b/255 for every byte (the same value as libtorch's uint8 → float32 cast divided by 255). */
const BYTE_TO_UNIT = (() => {
  const t = new Float32Array(256);
  for (let b = 0; b < 256; b++) t[b] = b / 255;
  return t;
})();

export class ImageDataset {
  readonly pixels: Uint8Array | Float32Array;
  readonly labels: Int32Array;
  readonly shape: ImageShape;
  readonly classNames: string[];
  readonly source: string;
  /** Each image's file, relative to its folder (image folders), or null (CIFAR records, images in memory). */
  readonly files: readonly string[] | null;

  constructor(init: ImageDatasetInit) {
    const { shape } = init;
    for (const k of ['channels', 'height', 'width'] as const) {
      if (!Number.isSafeInteger(shape[k]) || shape[k] < 1) throw new Error(`${init.source}: image ${k} must be a positive integer, got ${shape[k]}`);
    }
    const per = shape.channels * shape.height * shape.width;
    if (init.pixels.length !== init.labels.length * per) {
      throw new Error(`${init.source}: ${init.pixels.length} values for ${init.labels.length} images of ${shape.channels}×${shape.height}×${shape.width}`);
    }
    this.pixels = init.pixels;
    this.labels = init.labels;
    this.shape = { channels: shape.channels, height: shape.height, width: shape.width };
    this.classNames = init.classNames;
    this.source = init.source;
    if (init.files !== undefined && init.files.length !== init.labels.length) throw new Error(`${init.source}: ${init.files.length} file names for ${init.labels.length} images`);
    this.files = init.files ?? null;
  }

  /** Float images in [0, 1] with their labels (class names default to the label numbers). */
  static fromFloats(images: Float32Array, labels: Int32Array, shape: ImageShape, source = 'images in memory', classNames?: string[]): ImageDataset {
    return new ImageDataset({ pixels: images, labels, shape, source, classNames: classNames ?? defaultClassNames(labels) });
  }

  get n(): number { return this.labels.length; }
  get channels(): number { return this.shape.channels; }
  get height(): number { return this.shape.height; }
  get width(): number { return this.shape.width; }
  /** Values per image, C·H·W. */
  get imageSize(): number { return this.shape.channels * this.shape.height * this.shape.width; }

  /** Images [start, end) as float32 NCHW in [0, 1]: a fresh array for bytes, a view for float storage. */
  floats(start = 0, end = this.n): Float32Array {
    this.#checkRange(start, end);
    const per = this.imageSize;
    if (this.pixels instanceof Float32Array) return this.pixels.subarray(start * per, end * per);
    const out = new Float32Array((end - start) * per);
    const src = this.pixels.subarray(start * per, end * per);
    for (let i = 0; i < out.length; i++) out[i] = BYTE_TO_UNIT[src[i]!]!;
    return out;
  }

  /** Images [start, end) as a float32 tensor [end − start, C, H, W] in [0, 1]. */
  batch(start: number, end: number): Tensor {
    this.#checkRange(start, end);
    const per = this.imageSize;
    const dims = [end - start, this.channels, this.height, this.width];
    const part = this.pixels.subarray(start * per, end * per);
    if (part instanceof Float32Array) return tensor(part, dims);
    return tidy(() => tensor(part, dims).cast('float32').div(255));
  }

  /** Images [start, end) as a float32 tensor and their labels as int64 [end − start]. */
  range(start: number, end: number): { x: Tensor; y: Tensor } {
    return tidy(() => ({ x: this.batch(start, end), y: tensor(this.labels.subarray(start, end), [end - start]).cast('int64') }));
  }

  /** The images at `indices` (in that order; a list or an integer tensor) as a float32 tensor [k, C, H, W], and their labels as int64 [k]. */
  gather(indices: ArrayLike<number> | Tensor): { x: Tensor; y: Tensor } {
    const part = this.subset(indices instanceof Tensor ? indices.toArray() : indices, this.source);
    return part.range(0, part.n);
  }

  /** The images at `indices` (in that order), copied. */
  subset(indices: ArrayLike<number>, source?: string): ImageDataset {
    const per = this.imageSize;
    const pixels = this.pixels instanceof Float32Array ? new Float32Array(indices.length * per) : new Uint8Array(indices.length * per);
    const labels = new Int32Array(indices.length);
    for (let i = 0; i < indices.length; i++) {
      const j = indices[i]!;
      if (!Number.isInteger(j) || j < 0 || j >= this.n) throw new Error(`subset: index ${j} outside 0..${this.n - 1}`);
      pixels.set(this.pixels.subarray(j * per, (j + 1) * per), i * per);
      labels[i] = this.labels[j]!;
    }
    const files = this.files === null ? undefined : Array.from(indices, (j) => this.files![j]!);
    return new ImageDataset({ pixels, labels, shape: this.shape, classNames: this.classNames, source: source ?? `${this.source} (subset of ${indices.length})`, files });
  }

  /** Class name of a label (the number itself when the set has no name for it). */
  className(label: number): string { return this.classNames[label] ?? String(label); }

  #checkRange(start: number, end: number): void {
    if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start <= end && end <= this.n)) {
      throw new Error(`${this.source}: image range [${start}, ${end}) outside 0..${this.n}`);
    }
  }
}

function defaultClassNames(labels: Int32Array): string[] {
  let k = 0;
  for (const l of labels) k = Math.max(k, l + 1);
  return Array.from({ length: k }, (_, i) => String(i));
}

/** What attacks, predictions and metrics take: a labelled set, or a float image tensor [N, C, H, W]. */
export type ImageInput = ImageDataset | Tensor;

/** Number of images and their shape, for either kind of input. */
export function inputShape(input: ImageInput): { n: number } & ImageShape {
  if (input instanceof ImageDataset) return { n: input.n, ...input.shape };
  if (input.rank !== 4) throw new Error(`images must be [N, C, H, W], got [${input.shape.join(', ')}]`);
  const [n, channels, height, width] = input.shape as [number, number, number, number];
  return { n, channels, height, width };
}

/** Images [start, start + count) of either kind of input as a float tensor (detached for tensors). */
export function inputBatch(input: ImageInput, start: number, count: number): Tensor {
  return input instanceof ImageDataset ? input.batch(start, start + count) : input.slice(0, start, start + count).detach();
}

export interface Split { train: Int32Array; val: Int32Array }

/**
 * Seeded validation split of n items: `val` of them, drawn by a Fisher–Yates shuffle from `seed`, go to
 * validation; the rest to training. Both index lists are ascending. Same (n, val, seed) → same split.
 */
export function splitValidation(n: number, val: number, seed: number): Split {
  if (!Number.isSafeInteger(val) || val < 0 || (val > 0 && val >= n)) {
    throw new Error(`validation size ${val} must be an integer in 0..${n - 1} (the data has ${n} images)`);
  }
  const idx = new Int32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  const rnd = seededRandom(seed);
  // Partial Fisher–Yates: the first `val` slots are a uniform random sample.
  for (let i = 0; i < val; i++) {
    const j = i + Math.floor(rnd() * (n - i));
    const t = idx[i]!; idx[i] = idx[j]!; idx[j] = t;
  }
  const v = idx.slice(0, val).sort();
  const isVal = new Uint8Array(n);
  for (const i of v) isVal[i] = 1;
  const train = new Int32Array(n - val);
  let k = 0;
  for (let i = 0; i < n; i++) if (!isVal[i]) train[k++] = i;
  return { train, val: v };
}
