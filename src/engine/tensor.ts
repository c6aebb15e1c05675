// The Tensor type and the scopes that free tensors deterministically.
//
// Every Tensor created while a scope is open belongs to that scope; `tidy(fn)` disposes all of them
// when fn returns, except the tensors fn returns (they move to the enclosing scope). Outside any
// scope a tensor lives until `dispose()`: there is no finaliser (ids into a native slab, see native/src/common.h), so a
// tensor made outside every scope and never disposed stays allocated until the process ends.
// Dropping a handle never breaks autograd: libtorch's graph holds its own references to what
// backward needs, exactly like Python dropping a variable.
import { native, type Dtype, type NativeHandle, type TypedArray } from './native.js';

type Scope = Set<Tensor>;
const scopes: Scope[] = [];

export class Tensor {
  /** @internal */
  readonly h: NativeHandle;
  #shape: number[] | undefined;

  /** @internal Wraps a fresh native handle; registers it with the innermost scope. */
  constructor(h: NativeHandle) {
    this.h = h;
    const scope = scopes[scopes.length - 1];
    if (scope !== undefined) scope.add(this);
  }

  get shape(): readonly number[] {
    return (this.#shape ??= native.shape(this.h));
  }
  get rank(): number { return this.shape.length; }
  get size(): number { return this.shape.reduce((a, b) => a * b, 1); }
  get dtype(): Dtype { return native.dtype(this.h); }
  get device(): string { return native.device(this.h); }
  get isDisposed(): boolean { return !native.isAlive(this.h); }
  get requiresGrad(): boolean { return native.requiresGrad(this.h); }
  /** The accumulated gradient of a leaf (after backward), or null. A new Tensor each call. */
  get grad(): Tensor | null {
    const g = native.tensorGrad(this.h);
    return g === null ? null : new Tensor(g);
  }
  set grad(g: Tensor | null) { native.setTensorGrad(this.h, g === null ? null : g.h); }
  get isLeaf(): boolean { return native.isLeaf(this.h); }

  requiresGrad_(v = true): this { native.setRequiresGrad(this.h, v); return this; }

  /** Frees the native memory now (idempotent). */
  dispose(): void {
    native.dispose(this.h);
    for (const s of scopes) s.delete(this);
  }

  /** Copies the values out as a typed array matching the dtype (bool → Uint8Array). */
  data(): Float32Array;
  data<T extends TypedArray>(): T;
  data(): TypedArray { return native.data(this.h); }
  /** The values as a flat number[] (int64 converted to number). */
  toArray(): number[] { return Array.from(native.data(this.h) as ArrayLike<number | bigint>, Number); }
  item(): number { return native.item(this.h); }

  // ---- elementwise ----
  add(b: Tensor | number): Tensor { return wrap(typeof b === 'number' ? native.addScalar(this.h, b) : native.add(this.h, b.h)); }
  sub(b: Tensor | number): Tensor { return wrap(typeof b === 'number' ? native.subScalar(this.h, b) : native.sub(this.h, b.h)); }
  mul(b: Tensor | number): Tensor { return wrap(typeof b === 'number' ? native.mulScalar(this.h, b) : native.mul(this.h, b.h)); }
  div(b: Tensor | number): Tensor { return wrap(typeof b === 'number' ? native.divScalar(this.h, b) : native.div(this.h, b.h)); }
  pow(b: Tensor | number): Tensor { return wrap(typeof b === 'number' ? native.powScalar(this.h, b) : native.pow(this.h, b.h)); }
  remainder(b: Tensor | number): Tensor { return wrap(typeof b === 'number' ? native.remainderScalar(this.h, b) : native.remainder(this.h, b.h)); }
  eq(b: Tensor | number): Tensor { return wrap(typeof b === 'number' ? native.eqScalar(this.h, b) : native.eq(this.h, b.h)); }
  ne(b: Tensor | number): Tensor { return wrap(typeof b === 'number' ? native.neScalar(this.h, b) : native.ne(this.h, b.h)); }
  lt(b: Tensor | number): Tensor { return wrap(typeof b === 'number' ? native.ltScalar(this.h, b) : native.lt(this.h, b.h)); }
  le(b: Tensor | number): Tensor { return wrap(typeof b === 'number' ? native.leScalar(this.h, b) : native.le(this.h, b.h)); }
  gt(b: Tensor | number): Tensor { return wrap(typeof b === 'number' ? native.gtScalar(this.h, b) : native.gt(this.h, b.h)); }
  ge(b: Tensor | number): Tensor { return wrap(typeof b === 'number' ? native.geScalar(this.h, b) : native.ge(this.h, b.h)); }
  maximum(b: Tensor): Tensor { return wrap(native.maximum(this.h, b.h)); }
  minimum(b: Tensor): Tensor { return wrap(native.minimum(this.h, b.h)); }
  logicalAnd(b: Tensor): Tensor { return wrap(native.logicalAnd(this.h, b.h)); }
  logicalOr(b: Tensor): Tensor { return wrap(native.logicalOr(this.h, b.h)); }
  neg(): Tensor { return wrap(native.neg(this.h)); }
  abs(): Tensor { return wrap(native.abs(this.h)); }
  exp(): Tensor { return wrap(native.exp(this.h)); }
  log(): Tensor { return wrap(native.log(this.h)); }
  log1p(): Tensor { return wrap(native.log1p(this.h)); }
  sqrt(): Tensor { return wrap(native.sqrt(this.h)); }
  rsqrt(): Tensor { return wrap(native.rsqrt(this.h)); }
  square(): Tensor { return wrap(native.square(this.h)); }
  relu(): Tensor { return wrap(native.relu(this.h)); }
  sigmoid(): Tensor { return wrap(native.sigmoid(this.h)); }
  tanh(): Tensor { return wrap(native.tanh(this.h)); }
  sign(): Tensor { return wrap(native.sign(this.h)); }
  floor(): Tensor { return wrap(native.floor(this.h)); }
  round(): Tensor { return wrap(native.round(this.h)); }
  reciprocal(): Tensor { return wrap(native.reciprocal(this.h)); }
  logicalNot(): Tensor { return wrap(native.logicalNot(this.h)); }
  isfinite(): Tensor { return wrap(native.isfinite(this.h)); }
  clamp(min: Tensor | number | null, max: Tensor | number | null = null): Tensor {
    if ((min === null || typeof min === 'number') && (max === null || typeof max === 'number')) return wrap(native.clamp(this.h, min, max));
    if ((min === null || min instanceof Tensor) && (max === null || max instanceof Tensor)) return wrap(native.clampTensor(this.h, min?.h, max?.h));
    throw new Error('clamp: bounds must both be numbers/null or both tensors/null');
  }
  /** A new tensor that shares storage but is cut from the autograd graph. */
  detach(): Tensor { return wrap(native.detach(this.h)); }
  clone(): Tensor { return wrap(native.clone(this.h)); }
  contiguous(): Tensor { return wrap(native.contiguous(this.h)); }
  cast(dtype: Dtype): Tensor { return wrap(native.cast(this.h, dtype)); }
  to(device: string): Tensor { return wrap(native.toDevice(this.h, device)); }

  // ---- reductions (dims omitted: over everything) ----
  sum(dims?: number | number[], keepdim = false): Tensor { return wrap(native.sum(this.h, dl(dims), keepdim)); }
  mean(dims?: number | number[], keepdim = false): Tensor { return wrap(native.mean(this.h, dl(dims), keepdim)); }
  amax(dims?: number | number[], keepdim = false): Tensor { return wrap(native.amax(this.h, dl(dims), keepdim)); }
  amin(dims?: number | number[], keepdim = false): Tensor { return wrap(native.amin(this.h, dl(dims), keepdim)); }
  logsumexp(dims: number | number[], keepdim = false): Tensor { return wrap(native.logsumexp(this.h, dl(dims)!, keepdim)); }
  var(dims: number | number[], unbiased = true, keepdim = false): Tensor {
    return wrap(native.var(this.h, dl(dims)!, unbiased, keepdim));
  }
  max(dim: number, keepdim = false): { values: Tensor; indices: Tensor } {
    const [v, i] = native.maxDim(this.h, dim, keepdim);
    return { values: wrap(v), indices: wrap(i) };
  }
  min(dim: number, keepdim = false): { values: Tensor; indices: Tensor } {
    const [v, i] = native.minDim(this.h, dim, keepdim);
    return { values: wrap(v), indices: wrap(i) };
  }
  argmax(dim?: number, keepdim = false): Tensor { return wrap(native.argmax(this.h, dim ?? null, keepdim)); }
  topk(k: number, dim = -1, largest = true): { values: Tensor; indices: Tensor } {
    const [v, i] = native.topk(this.h, k, dim, largest);
    return { values: wrap(v), indices: wrap(i) };
  }
  sort(dim = -1, descending = false): { values: Tensor; indices: Tensor } {
    const [v, i] = native.sort(this.h, dim, descending);
    return { values: wrap(v), indices: wrap(i) };
  }
  cumsum(dim: number): Tensor { return wrap(native.cumsum(this.h, dim)); }

  // ---- shape and indexing ----
  reshape(shape: readonly number[]): Tensor { return wrap(native.reshape(this.h, [...shape])); }
  permute(dims: number[]): Tensor { return wrap(native.permute(this.h, dims)); }
  transpose(d0: number, d1: number): Tensor { return wrap(native.transpose(this.h, d0, d1)); }
  expand(shape: readonly number[]): Tensor { return wrap(native.expand(this.h, [...shape])); }
  repeat(repeats: number[]): Tensor { return wrap(native.repeat(this.h, repeats)); }
  squeeze(dim: number): Tensor { return wrap(native.squeeze(this.h, dim)); }
  unsqueeze(dim: number): Tensor { return wrap(native.unsqueeze(this.h, dim)); }
  flatten(start = 0, end = -1): Tensor { return wrap(native.flatten(this.h, start, end)); }
  slice(dim: number, start: number, end: number, step = 1): Tensor { return wrap(native.slice(this.h, dim, start, end, step)); }
  select(dim: number, index: number): Tensor { return wrap(native.select(this.h, dim, index)); }
  indexSelect(dim: number, index: Tensor): Tensor { return wrap(native.indexSelect(this.h, dim, index.h)); }
  gather(dim: number, index: Tensor): Tensor { return wrap(native.gather(this.h, dim, index.h)); }
  scatter(dim: number, index: Tensor, src: Tensor | number): Tensor {
    return wrap(typeof src === 'number' ? native.scatterValue(this.h, dim, index.h, src) : native.scatter(this.h, dim, index.h, src.h));
  }
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor { return wrap(native.scatterAdd(this.h, dim, index.h, src.h)); }
  maskedFill(mask: Tensor, value: number): Tensor { return wrap(native.maskedFill(this.h, mask.h, value)); }
  flip(dims: number[]): Tensor { return wrap(native.flip(this.h, dims)); }
  roll(shifts: number[], dims: number[]): Tensor { return wrap(native.roll(this.h, shifts, dims)); }
  /** a[idx] along dim 0, idx an int64 or bool tensor (like Python's a[idx]). */
  index(idx: Tensor): Tensor { return wrap(native.index(this.h, idx.h)); }
  /** A copy of a with a[idx] = values along dim 0. */
  indexPut(idx: Tensor, values: Tensor): Tensor { return wrap(native.indexPut(this.h, idx.h, values.h)); }
  matmul(b: Tensor): Tensor { return wrap(native.matmul(this.h, b.h)); }
  softmax(dim = -1): Tensor { return wrap(native.softmax(this.h, dim)); }
  logSoftmax(dim = -1): Tensor { return wrap(native.logSoftmax(this.h, dim)); }

  // ---- in place: for optimisers and buffers; run them inside noGrad() when touching parameters ----
  add_(b: Tensor | number, alpha = 1): this {
    if (typeof b === 'number') native.addScalar_(this.h, b * alpha); else native.add_(this.h, b.h, alpha);
    return this;
  }
  mul_(b: Tensor | number): this { if (typeof b === 'number') native.mulScalar_(this.h, b); else native.mul_(this.h, b.h); return this; }
  addcmul_(a: Tensor, b: Tensor, value = 1): this { native.addcmul_(this.h, a.h, b.h, value); return this; }
  copy_(src: Tensor): this { native.copy_(this.h, src.h); return this; }
  zero_(): this { native.zero_(this.h); return this; }
  relu_(): this { native.relu_(this.h); return this; }
  fill_(v: number): this { native.fill_(this.h, v); return this; }
  clamp_(min: number | null, max: number | null = null): this { native.clamp_(this.h, min, max); return this; }
  uniform_(from = 0, to = 1): this { native.uniform_(this.h, from, to); return this; }
  normal_(mean = 0, std = 1): this { native.normal_(this.h, mean, std); return this; }

  toString(): string {
    return this.isDisposed ? 'Tensor(disposed)' : `Tensor(${this.dtype}, [${this.shape.join(', ')}], ${this.device})`;
  }
}

/** @internal */
export function wrap(h: NativeHandle): Tensor { return new Tensor(h); }
function dl(dims: number | number[] | undefined): number[] | null {
  return dims === undefined ? null : typeof dims === 'number' ? [dims] : dims;
}

// ---- scopes ----

function collect(v: unknown, out: Set<Tensor>, depth = 0): void {
  if (depth > 6 || v === null || typeof v !== 'object') return;
  if (v instanceof Tensor) { out.add(v); return; }
  if (Array.isArray(v)) { for (const e of v) collect(e, out, depth + 1); return; }
  if (v instanceof Map) { for (const e of v.values()) collect(e, out, depth + 1); return; }
  if (Object.getPrototypeOf(v) === Object.prototype) for (const e of Object.values(v)) collect(e, out, depth + 1);
}

/**
 * Runs fn (synchronous) in a new scope: every tensor created inside is disposed when it returns,
 * except tensors in its return value (Tensor, arrays, plain objects, Maps), which move to the
 * enclosing scope, and tensors passed to keep(). If fn throws, everything created is disposed.
 */
export function tidy<T>(fn: () => T): T {
  const scope: Scope = new Set();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const t of scope) native.dispose(t.h);
    throw e;
  }
  scopes.pop();
  if (result instanceof Promise) throw new Error('tidy(): fn must be synchronous (it returned a Promise)');
  const survivors = new Set<Tensor>();
  collect(result, survivors);
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (survivors.has(t)) parent?.add(t);
    else native.dispose(t.h);
  }
  return result;
}

/** Takes t out of every open scope: it lives until dispose(). For parameters, buffers, state. */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

/** Disposes every tensor found in v (Tensor, arrays, plain objects, Maps). */
export function dispose(v: unknown): void {
  const found = new Set<Tensor>();
  collect(v, found);
  for (const t of found) t.dispose();
}

/** Runs fn with autograd recording off (like torch.no_grad()). */
export function noGrad<T>(fn: () => T): T {
  const prev = native.setGradEnabled(false);
  try {
    return fn();
  } finally {
    native.setGradEnabled(prev);
  }
}

/** Whether autograd records ops now (false inside noGrad()). */
export function isGradEnabled(): boolean { return native.isGradEnabled(); }

/** Runs fn with autograd recording on, e.g. an input-gradient inside an evaluation loop. */
export function enableGrad<T>(fn: () => T): T {
  const prev = native.setGradEnabled(true);
  try {
    return fn();
  } finally {
    native.setGradEnabled(prev);
  }
}

/** Number of live native tensor handles: a leak detector for tests. */
export function liveTensors(): number { return native.liveHandles(); }
