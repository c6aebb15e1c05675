// Loads the C++ binding (native/) and declares its shape. Nothing else in advexp touches it directly:
// everything goes through Tensor and the op functions of this folder.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export type Dtype = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int32' | 'int64' | 'int16' | 'int8' | 'uint8' | 'bool';
export type TypedArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Int16Array | Int8Array | Uint8Array;

/** A tensor id: the native side owns the tensor in a slab; JS holds this number (see native/src/common.h). */
export type NativeHandle = number;

type H = NativeHandle;
/** A TorchScript module id (native/src/jit.cc's slab of modules). */
type J = number;
type Opt<T> = T | null | undefined;

export interface NativeBinding {
  dispose(t: H): void;
  isAlive(t: H): boolean;
  shape(t: H): number[];
  dtype(t: H): Dtype;
  device(t: H): string;
  numel(t: H): number;
  requiresGrad(t: H): boolean;
  setRequiresGrad(t: H, v: boolean): void;
  tensorGrad(t: H): H | null;
  setTensorGrad(t: H, g: H | null): void;
  isLeaf(t: H): boolean;
  hasGradFn(t: H): boolean;
  data(t: H): TypedArray;
  item(t: H): number;

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
  // Tensor ⊕ tensor, and tensor ⊕ number as the *Scalar twins.
  add(a: H, b: H): H; sub(a: H, b: H): H; mul(a: H, b: H): H; div(a: H, b: H): H; pow(a: H, b: H): H;
  eq(a: H, b: H): H; ne(a: H, b: H): H; lt(a: H, b: H): H; le(a: H, b: H): H; gt(a: H, b: H): H;
  ge(a: H, b: H): H; remainder(a: H, b: H): H;
  addScalar(a: H, b: number): H; subScalar(a: H, b: number): H; mulScalar(a: H, b: number): H;
  divScalar(a: H, b: number): H; powScalar(a: H, b: number): H; eqScalar(a: H, b: number): H;
  neScalar(a: H, b: number): H; ltScalar(a: H, b: number): H; leScalar(a: H, b: number): H;
  gtScalar(a: H, b: number): H; geScalar(a: H, b: number): H; remainderScalar(a: H, b: number): H;
  maximum(a: H, b: H): H; minimum(a: H, b: H): H; logicalAnd(a: H, b: H): H; logicalOr(a: H, b: H): H;
  clamp(a: H, min: Opt<number>, max: Opt<number>): H;
  clampTensor(a: H, min: Opt<H>, max: Opt<H>): H;
  where(cond: H, a: H, b: H): H;
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
  scatter(a: H, dim: number, index: H, src: H): H;
  scatterValue(a: H, dim: number, index: H, value: number): H;
  scatterAdd(a: H, dim: number, index: H, src: H): H;
  maskedFill(a: H, mask: H, value: number): H;
  cat(ts: H[], dim: number): H; stack(ts: H[], dim: number): H;
  flip(a: H, dims: number[]): H; roll(a: H, shifts: number[], dims: number[]): H;
  pad(a: H, pads: number[], mode: 'constant' | 'replicate' | 'reflect', value?: number): H;
  index(a: H, idx: H): H;
  indexPut(a: H, idx: H, values: H): H;

  conv2d(x: H, w: H, b: Opt<H>, stride: number[], padding: number[], dilation: number[], groups: number): H;
  batchNorm(x: H, w: Opt<H>, b: Opt<H>, rm: Opt<H>, rv: Opt<H>, training: boolean, momentum: number, eps: number): H;
  fusedBatchNorm(x: H, w: H, b: H, rm: Opt<H>, rv: Opt<H>, training: boolean, momentum: number, eps: number): H;
  fusedHalfHuber(x: H, d: number): H;
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

  add_(a: H, b: H, alpha?: number): H; addScalar_(a: H, b: number): H; mul_(a: H, b: H): H; mulScalar_(a: H, b: number): H; addcmul_(a: H, b: H, c: H, value: number): H;
  copy_(a: H, b: H): H; relu_(a: H): H; zero_(a: H): H; fill_(a: H, v: number): H; clamp_(a: H, min: Opt<number>, max: Opt<number>): H;

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
  /** at::show_config(): build options and the CPU capability in use. */
  showConfig(): string;
  /** libtorch's autograd profiler (RecordProfile): start writing every op to a Chrome trace file; stop writes it. */
  profileStart(traceFile: string): void;
  profileStop(): void;
  version(): string;
  mallocTuned(): boolean;

  // TorchScript modules (native/src/jit.cc): J is a module id in the binding's module slab.
  jitLoad(file: string): J;
  jitDispose(m: J): void;
  jitLiveModules(): number;
  jitForward(m: J, x: H): H;
  jitTrain(m: J, on: boolean): void;
  jitIsTraining(m: J): boolean;
  jitNamedParameters(m: J): [string, H][];
  jitNamedBuffers(m: J): [string, H][];
  jitChildren(m: J): [string, J, string, boolean][];
  jitNamedModules(m: J): [string, string][];
  jitTypeName(m: J): string;
  jitCallModule(m: J, path: string, x: H): H;
  jitSave(m: J): Uint8Array;
  jitModeBaked(m: J): string[];
  jitCode(m: J): string;
  jitExecutor(set?: { optimize?: boolean; profiling?: boolean }): { optimize: boolean; profiling: boolean };
}

/** Where the addon is: $ADVEXP_NATIVE, else native/build/Release above this file; null when not built. */
export function nativeAddonPath(): string | null {
  const override = process.env.ADVEXP_NATIVE;
  if (override) return override;
  // dist/src/engine/native.js and src/engine/native.ts both sit three levels below the package root.
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = path.join(dir, 'native', 'build', 'Release', 'advexp_native.node');
    if (existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  return null;
}

/** The one message a missing addon gives, wherever it is first needed. */
export const NATIVE_MISSING = 'native addon not built (native/build/Release/advexp_native.node missing). It needs libtorch: '
  + 'install Debian\'s libtorch-dev (apt-get install libtorch-dev g++ make python3) or set LIBTORCH=/path/to/libtorch, '
  + 'then run `npm rebuild advexp` (in a clone: `npm run build:native`)';

function load(): NativeBinding {
  const file = nativeAddonPath();
  if (file === null) throw new Error(NATIVE_MISSING);
  if (!existsSync(file)) throw new Error(`ADVEXP_NATIVE=${file}: no such file`);
  const b = createRequire(import.meta.url)(file) as NativeBinding;
  native = b;
  return b;
}

/** True when the addon can be loaded (it is then loaded). */
export function nativeAvailable(): boolean {
  try {
    void native.version;
    return true;
  } catch {
    return false;
  }
}

/**
 * The binding, loaded on first use so that the pure-TypeScript parts (safetensors, plots, data) import without
 * libtorch. An ESM live binding: the first access through the stand-in replaces it by the real object, so every
 * later call goes straight to the addon.
 */
export let native: NativeBinding = new Proxy({} as NativeBinding, {
  get(_t, key) {
    return Reflect.get(load(), key) as unknown;
  },
});
