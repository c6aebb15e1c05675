// Creating tensors: from JS arrays, constants, and the seeded libtorch RNG.
import { native, type Dtype, type TypedArray } from './native.js';
import { Tensor, wrap } from './tensor.js';

export interface CreateOptions { dtype?: Dtype; device?: string }

/** Copies a typed array (dtype follows the array type) or number[] (float32) into a tensor. */
export function tensor(values: TypedArray | readonly number[], shape?: readonly number[], opts: CreateOptions = {}): Tensor {
  const arr: TypedArray = ArrayBuffer.isView(values) ? values : Float32Array.from(values as readonly number[]);
  const t = wrap(native.fromArray(arr, [...(shape ?? [arr.length])], opts.device));
  if (opts.dtype === undefined || opts.dtype === t.dtype) return t;
  const c = t.cast(opts.dtype);
  t.dispose();
  return c;
}
/** A scalar float32 tensor. */
export function scalar(v: number, opts: CreateOptions = {}): Tensor { return full([], v, opts); }
export function zeros(shape: readonly number[], opts: CreateOptions = {}): Tensor { return wrap(native.zeros([...shape], opts.dtype, opts.device)); }
export function ones(shape: readonly number[], opts: CreateOptions = {}): Tensor { return wrap(native.ones([...shape], opts.dtype, opts.device)); }
export function full(shape: readonly number[], value: number, opts: CreateOptions = {}): Tensor {
  return wrap(native.full([...shape], value, opts.dtype, opts.device));
}
export function zerosLike(t: Tensor): Tensor { return wrap(native.zeros([...t.shape], t.dtype, t.device)); }
export function arange(start: number, end: number, step = 1, opts: CreateOptions = {}): Tensor {
  return wrap(native.arange(start, end, step, opts.dtype ?? 'int64', opts.device));
}
/** Uniform [0, 1). */
export function rand(shape: readonly number[], opts: CreateOptions = {}): Tensor { return wrap(native.rand([...shape], opts.dtype, opts.device)); }
/** Standard normal. */
export function randn(shape: readonly number[], opts: CreateOptions = {}): Tensor { return wrap(native.randn([...shape], opts.dtype, opts.device)); }
/** Integers uniform in [low, high). */
export function randint(low: number, high: number, shape: readonly number[], opts: CreateOptions = {}): Tensor {
  return wrap(native.randint(low, high, [...shape], opts.dtype ?? 'int64', opts.device));
}
export function randperm(n: number, opts: CreateOptions = {}): Tensor { return wrap(native.randperm(n, opts.dtype ?? 'int64', opts.device)); }
/** Samples 0/1 with the probabilities in p. */
export function bernoulli(p: Tensor): Tensor { return wrap(native.bernoulli(p.h)); }
/** Uniform [low, high) from the seeded generator (initialisers). */
export function uniform(shape: readonly number[], low: number, high: number, opts: CreateOptions = {}): Tensor {
  return wrap(native.uniform_(native.zeros([...shape], opts.dtype, opts.device), low, high));
}
