// Loads the C++ binding (native/) and declares its shape. Nothing else in advexp touches it directly:
// everything goes through Tensor and the op functions of this folder.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export type Dtype = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int32' | 'int64' | 'int16' | 'int8' | 'uint8' | 'bool';
export type TypedArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Int16Array | Int8Array | Uint8Array;

/** The opaque libtorch tensor handle owned by one JS object. */
export interface NativeHandle {
  dispose(): void;
  isDisposed(): boolean;
  shape(): number[];
  dtype(): Dtype;
  device(): string;
  numel(): number;
  requiresGrad(): boolean;
  setRequiresGrad(v: boolean): NativeHandle;
  grad(): NativeHandle | null;
  setGrad(g: NativeHandle | null): void;
  isLeaf(): boolean;
  hasGradFn(): boolean;
  data(): TypedArray;
  item(): number;
}

type H = NativeHandle;
type HN = NativeHandle | number;
type Opt<T> = T | null | undefined;

export interface NativeBinding {
  fromArray(a: TypedArray, shape: number[], device?: string): H;
  zeros(shape: number[], dtype?: Dtype, device?: string): H;
  ones(shape: number[], dtype?: Dtype, device?: string): H;
  full(shape: number[], value: number, dtype?: Dtype, device?: string): H;
  arange(start: number, end: number, step: number, dtype?: Dtype, device?: string): H;
  rand(shape: number[], dtype?: Dtype, device?: string): H;
  randn(shape: number[], dtype?: Dtype, device?: string): H;
  randint(low: number, high: number, shape: number[], dtype?: Dtype, device?: string): H;
  randperm(n: number, dtype?: Dtype, device?: string): H;
  bernoulli(p: H): H;
  uniform_(t: H, from: number, to: number): H;
  normal_(t: H, mean: number, std: number): H;
  manualSeed(seed: number): void;
  getRngState(): H;
  setRngState(state: H): void;

  neg(a: H): H; abs(a: H): H; exp(a: H): H; log(a: H): H; log1p(a: H): H; sqrt(a: H): H; rsqrt(a: H): H;
  square(a: H): H; relu(a: H): H; sigmoid(a: H): H; tanh(a: H): H; sign(a: H): H; floor(a: H): H;
  round(a: H): H; reciprocal(a: H): H; logicalNot(a: H): H; isfinite(a: H): H; detach(a: H): H;
  clone(a: H): H; contiguous(a: H): H;
  add(a: HN, b: HN): H; sub(a: HN, b: HN): H; mul(a: HN, b: HN): H; div(a: HN, b: HN): H; pow(a: HN, b: HN): H;
  eq(a: HN, b: HN): H; ne(a: HN, b: HN): H; lt(a: HN, b: HN): H; le(a: HN, b: HN): H; gt(a: HN, b: HN): H;
  ge(a: HN, b: HN): H; remainder(a: HN, b: HN): H;
  maximum(a: H, b: H): H; minimum(a: H, b: H): H; logicalAnd(a: H, b: H): H; logicalOr(a: H, b: H): H;
  clamp(a: H, min: Opt<HN>, max: Opt<HN>): H;
  where(cond: H, a: HN, b: HN): H;
  cast(a: H, dtype: Dtype): H;
  toDevice(a: H, device: string): H;

  sum(a: H, dims: Opt<number[]>, keepdim?: boolean): H;
  mean(a: H, dims: Opt<number[]>, keepdim?: boolean): H;
  amax(a: H, dims: Opt<number[]>, keepdim?: boolean): H;
  amin(a: H, dims: Opt<number[]>, keepdim?: boolean): H;
  logsumexp(a: H, dims: number[], keepdim?: boolean): H;
  var(a: H, dims: number[], unbiased?: boolean, keepdim?: boolean): H;
  maxDim(a: H, dim: number, keepdim?: boolean): [H, H];
  minDim(a: H, dim: number, keepdim?: boolean): [H, H];
  argmax(a: H, dim?: number | null, keepdim?: boolean): H;
  topk(a: H, k: number, dim: number, largest?: boolean): [H, H];
  sort(a: H, dim: number, descending?: boolean): [H, H];
  cumsum(a: H, dim: number): H;

  reshape(a: H, shape: number[]): H; permute(a: H, dims: number[]): H; transpose(a: H, d0: number, d1: number): H;
  expand(a: H, shape: number[]): H; repeat(a: H, repeats: number[]): H; squeeze(a: H, dim: number): H;
  unsqueeze(a: H, dim: number): H; flatten(a: H, start: number, end: number): H;
  slice(a: H, dim: number, start: number, end: number, step?: number): H;
  select(a: H, dim: number, index: number): H;
  indexSelect(a: H, dim: number, index: H): H;
  gather(a: H, dim: number, index: H): H;
  scatter(a: H, dim: number, index: H, src: HN): H;
  scatterAdd(a: H, dim: number, index: H, src: H): H;
  maskedFill(a: H, mask: H, value: number): H;
  cat(ts: H[], dim: number): H; stack(ts: H[], dim: number): H;
  flip(a: H, dims: number[]): H; roll(a: H, shifts: number[], dims: number[]): H;
  pad(a: H, pads: number[], mode: 'constant' | 'replicate' | 'reflect', value?: number): H;
  index(a: H, idx: H): H;
  indexPut(a: H, idx: H, values: H): H;

  conv2d(x: H, w: H, b: Opt<H>, stride: number[], padding: number[], dilation: number[], groups: number): H;
  batchNorm(x: H, w: Opt<H>, b: Opt<H>, rm: Opt<H>, rv: Opt<H>, training: boolean, momentum: number, eps: number): H;
  linear(x: H, w: H, b: Opt<H>): H;
  matmul(a: H, b: H): H;
  avgPool2d(x: H, kernel: number[], stride: number[], padding: number[]): H;
  maxPool2d(x: H, kernel: number[], stride: number[], padding: number[]): H;
  adaptiveAvgPool2d(x: H, size: number[]): H;
  logSoftmax(x: H, dim: number): H;
  softmax(x: H, dim: number): H;
  crossEntropy(logits: H, target: H, reduction: 0 | 1 | 2): H;
  interpolateBilinear(x: H, size: number[], alignCorners: boolean): H;
  interpolateNearest(x: H, size: number[]): H;

  add_(a: H, b: HN, alpha?: number): H; mul_(a: H, b: HN): H; addcmul_(a: H, b: H, c: H, value: number): H;
  copy_(a: H, b: H): H; zero_(a: H): H; fill_(a: H, v: number): H; clamp_(a: H, min: Opt<number>, max: Opt<number>): H;

  grad(outputs: H[], inputs: H[], gradOutputs: Opt<H[]>, retainGraph: Opt<boolean>, createGraph: boolean, allowUnused: boolean): (H | null)[];
  backward(t: H, gradient: Opt<H>, retainGraph: boolean): void;
  setGradEnabled(enabled: boolean): boolean;
  isGradEnabled(): boolean;

  setNumThreads(n: number): void;
  getNumThreads(): number;
  setNumInteropThreads(n: number): void;
  liveHandles(): number;
  cudaAvailable(): boolean;
  parallelInfo(): string;
  version(): string;
}

function locate(): string {
  const override = process.env.ADVEXP_NATIVE;
  if (override) return override;
  // dist/src/engine/native.js and src/engine/native.ts both sit three levels below the package root.
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = path.join(dir, 'native', 'build', 'Release', 'advexp_native.node');
    if (existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  throw new Error('advexp: native addon not built (native/build/Release/advexp_native.node missing): run `npm run build:native`');
}

export const native: NativeBinding = createRequire(import.meta.url)(locate()) as NativeBinding;
