// Safetensors reader/writer over plain typed arrays (no engine dependency).
//
// Format (huggingface/safetensors): 8-byte little-endian u64 N, then N bytes of UTF-8 JSON (starting with '{',
// optionally right-padded with spaces), then the data buffer. Each JSON entry is
// {"dtype", "shape", "data_offsets": [begin, end]} with offsets relative to the data buffer; the optional
// "__metadata__" entry is a string->string map. The data buffer must be fully covered by the tensors, with no
// overlaps and no holes (the spec forbids holes to rule out polyglot files). All data is little-endian, row-major.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { errnoOf } from './errors.js';
import { writeFileAtomic } from './atomic.js';

export type StDtype = 'F32' | 'F64' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export type StData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Int16Array | Int8Array;

export interface StTensor {
  dtype: StDtype;
  shape: number[];
  /** F16/BF16 are decoded to (and encoded from) Float32Array; BOOL is a Uint8Array of 0/1 bytes. */
  data: StData;
}

export interface StFile {
  /** In data-buffer order (the order the file stores them). */
  tensors: Map<string, StTensor>;
  /** The `__metadata__` map, as-is ({} when absent). */
  metadata: Record<string, string>;
}

/** Same cap as the Rust reference (MAX_HEADER_SIZE): refuses absurd headers before allocating anything. */
export const MAX_HEADER_BYTES = 100_000_000;

const DTYPE_BYTES: Record<StDtype, number> = {
  F64: 8, I64: 8, F32: 4, I32: 4, F16: 2, BF16: 2, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

const METADATA_KEY = '__metadata__';

const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function dtypeByteSize(dtype: StDtype): number {
  return DTYPE_BYTES[dtype];
}

function isDtype(x: unknown): x is StDtype {
  return typeof x === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_BYTES, x);
}

/** Number of elements; shape [] is a scalar (1 element). May exceed 2^53 for hostile shapes: callers check. */
function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** One-line message: JSON fragments and names could carry newlines. */
function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ');
}

function fail(name: string, msg: string): never {
  throw new Error(oneLine(`${name}: ${msg}`));
}

/** Swap bytes in place for element size `size` (only used on big-endian hosts). */
function byteswap(bytes: Uint8Array, size: number): void {
  if (size === 1) return;
  for (let i = 0; i < bytes.length; i += size) {
    for (let a = i, b = i + size - 1; a < b; a++, b--) {
      const t = bytes[a]!;
      bytes[a] = bytes[b]!;
      bytes[b] = t;
    }
  }
}

// ---- half-precision conversions (bit-exact; NaN payloads kept so F16/BF16 round-trip byte-for-byte) ----

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

function halfToFloatBits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0; // Inf / NaN (payload kept)
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0; // 112 = 127 - 15
  if (mant === 0) return sign >>> 0; // +-0
  // Subnormal half: normalise into a float32 normal.
  let e = 113;
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

/** float32 bits -> IEEE half bits, round-to-nearest-even (what numpy/torch do). */
function floatBitsToHalf(f: number): number {
  const sign = (f >>> 16) & 0x8000;
  const exp = (f >>> 23) & 0xff;
  const mant = f & 0x7fffff;
  if (exp === 0xff) {
    if (mant === 0) return sign | 0x7c00;
    const m = mant >>> 13;
    return sign | 0x7c00 | (m === 0 ? 0x200 : m); // keep NaN a NaN even if the payload's top bits are 0
  }
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow -> Inf
  if (e <= 0) {
    if (e < -10) return sign; // underflows to 0 even after rounding
    const m = mant | 0x800000; // implicit bit
    const shift = 14 - e; // 24-bit significand down to the subnormal half's 10 bits
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1) !== 0)) h++;
    return sign | h; // a carry into bit 10 correctly yields the smallest normal
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) !== 0)) h++; // carry may roll into exponent/Inf: correct
  return sign | h;
}

function floatBitsToBf16(f: number): number {
  if ((f & 0x7f800000) === 0x7f800000 && (f & 0x7fffff) !== 0) {
    const h = f >>> 16;
    return (h & 0x7f) === 0 ? h | 0x40 : h; // keep NaN a NaN after truncation
  }
  const lsb = (f >>> 16) & 1;
  return ((f + 0x7fff + lsb) >>> 16) & 0xffff; // round-to-nearest-even; overflow rounds to Inf as it should
}

/** Exposed for tests and for engines that need the same rounding. */
export function f32ToF16Bits(x: number): number {
  f32Scratch[0] = x;
  return floatBitsToHalf(u32Scratch[0]!);
}
export function f16BitsToF32(h: number): number {
  u32Scratch[0] = halfToFloatBits(h & 0xffff);
  return f32Scratch[0]!;
}
export function f32ToBf16Bits(x: number): number {
  f32Scratch[0] = x;
  return floatBitsToBf16(u32Scratch[0]!);
}
export function bf16BitsToF32(h: number): number {
  u32Scratch[0] = (h & 0xffff) << 16;
  return f32Scratch[0]!;
}

// ---- reading ----

/** Copies `bytes` (little-endian) into a freshly allocated, aligned typed array of the dtype's JS type. */
function decodeData(dtype: StDtype, bytes: Uint8Array, n: number): StData {
  if (dtype === 'F16' || dtype === 'BF16') {
    const out = new Float32Array(n);
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) {
      const h = bytes[2 * i]! | (bytes[2 * i + 1]! << 8);
      bits[i] = dtype === 'F16' ? halfToFloatBits(h) : (h << 16) >>> 0;
    }
    return out;
  }
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  if (!HOST_LE) byteswap(copy, DTYPE_BYTES[dtype]);
  const buf = copy.buffer;
  switch (dtype) {
    case 'F32': return new Float32Array(buf, 0, n);
    case 'F64': return new Float64Array(buf, 0, n);
    case 'I64': return new BigInt64Array(buf, 0, n);
    case 'I32': return new Int32Array(buf, 0, n);
    case 'I16': return new Int16Array(buf, 0, n);
    case 'I8': return new Int8Array(buf, 0, n);
    case 'U8':
    case 'BOOL': return copy;
  }
}

/**
 * Finds a repeated key within one JSON object. JSON.parse silently keeps the last duplicate, and the spec disallows
 * duplicates (two readers could otherwise disagree about a file). Assumes `text` is already valid JSON.
 */
function findDuplicateKey(text: string): string | null {
  const stack: (Set<string> | null)[] = []; // a Set per open object, null per open array
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '{') { stack.push(new Set()); i++; continue; }
    if (c === '[') { stack.push(null); i++; continue; }
    if (c === '}' || c === ']') { stack.pop(); i++; continue; }
    if (c !== '"') { i++; continue; }
    let j = i + 1;
    while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
    const raw = text.slice(i, j + 1);
    i = j + 1;
    let k = i;
    while (k < text.length && /\s/.test(text[k]!)) k++;
    const top = stack[stack.length - 1];
    if (text[k] === ':' && top) {
      const key = JSON.parse(raw) as string;
      if (top.has(key)) return key;
      top.add(key);
    }
  }
  return null;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Defines rather than assigns so keys like "__proto__" survive as ordinary entries. */
function setEntry<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Parses and fully validates a safetensors image. `name` prefixes every error message. */
export function parseSafetensors(buf: Uint8Array, name = '<buffer>'): StFile {
  if (buf.length < 8) fail(name, `file is ${buf.length} bytes, shorter than the 8-byte header length`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n64 = view.getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES)) fail(name, `header length ${n64} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const n = Number(n64);
  if (8 + n > buf.length) fail(name, `header length ${n} runs past the end of the ${buf.length}-byte file`);
  if (n === 0 || buf[8] !== 0x7b) fail(name, `header does not start with '{'`);

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(buf.subarray(8, 8 + n));
  } catch {
    fail(name, 'header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    fail(name, `header is not valid JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(header)) fail(name, 'header JSON is not an object');
  const dup = findDuplicateKey(text);
  if (dup !== null) fail(name, `header has duplicate key ${JSON.stringify(dup)}`);

  const dataStart = 8 + n;
  const dataLen = buf.length - dataStart;
  const metadata: Record<string, string> = {};
  type Entry = { key: string; dtype: StDtype; shape: number[]; begin: number; end: number };
  const entries: Entry[] = [];

  for (const [key, value] of Object.entries(header)) {
    const what = `tensor ${JSON.stringify(key)}`;
    if (key === METADATA_KEY) {
      if (!isPlainObject(value)) fail(name, `${METADATA_KEY} is not an object`);
      for (const [mk, mv] of Object.entries(value)) {
        if (typeof mv !== 'string') fail(name, `${METADATA_KEY}[${JSON.stringify(mk)}] is not a string`);
        setEntry(metadata, mk, mv);
      }
      continue;
    }
    if (!isPlainObject(value)) fail(name, `${what}: entry is not an object`);
    const { dtype, shape, data_offsets: offs } = value;
    if (!isDtype(dtype)) fail(name, `${what}: unsupported dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      fail(name, `${what}: shape ${JSON.stringify(shape)} is not an array of non-negative integers`);
    }
    if (
      !Array.isArray(offs) || offs.length !== 2 ||
      !offs.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)
    ) {
      fail(name, `${what}: data_offsets ${JSON.stringify(offs)} is not [begin, end] of non-negative integers`);
    }
    const [begin, end] = offs as [number, number];
    if (begin > end) fail(name, `${what}: data_offsets begin ${begin} > end ${end}`);
    if (end > dataLen) fail(name, `${what}: data_offsets end ${end} is past the ${dataLen}-byte data buffer`);
    const count = numel(shape as number[]);
    const want = count * DTYPE_BYTES[dtype];
    if (!Number.isSafeInteger(want) || want !== end - begin) {
      fail(name, `${what}: ${end - begin} bytes, but ${dtype} ${JSON.stringify(shape)} needs ${want}`);
    }
    entries.push({ key, dtype, shape: (shape as number[]).slice(), begin, end });
  }

  // Sort by (begin, end) so empty tensors sit before a tensor sharing their offset, as in the Rust reference.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: Entry | null = null;
  for (const e of entries) {
    if (e.begin < pos) {
      fail(name, `tensor ${JSON.stringify(e.key)} [${e.begin},${e.end}] overlaps tensor ${JSON.stringify(prev!.key)} [${prev!.begin},${prev!.end}]`);
    }
    if (e.begin > pos) fail(name, `data bytes [${pos},${e.begin}) belong to no tensor (holes are not allowed)`);
    pos = e.end;
    prev = e;
  }
  if (pos !== dataLen) fail(name, `data bytes [${pos},${dataLen}) belong to no tensor (holes are not allowed)`);

  const tensors = new Map<string, StTensor>();
  for (const e of entries) {
    const bytes = buf.subarray(dataStart + e.begin, dataStart + e.end);
    tensors.set(e.key, { dtype: e.dtype, shape: e.shape, data: decodeData(e.dtype, bytes, numel(e.shape)) });
  }
  return { tensors, metadata };
}

/**
 * Reads and validates a .safetensors file (synchronously). The file type is checked before it is opened (a FIFO or
 * a device such as /dev/zero is refused, never read), and the 8-byte header length is checked against the cap and
 * the file's size before the rest is read; then exactly the file's size is read.
 */
export function readSafetensors(file: string): StFile {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    fail(file, `cannot read file (${errnoOf(e)})`);
  }
  if (!st.isFile()) fail(file, 'cannot read file (not a regular file)');
  const size = st.size;
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    fail(file, `cannot read file (${errnoOf(e)})`);
  }
  try {
    const readAt = (buf: Uint8Array, at: number, pos: number): void => {
      for (let got = 0; got < buf.length - at;) {
        let r: number;
        try {
          r = fs.readSync(fd, buf, at + got, buf.length - at - got, pos + got);
        } catch (e) {
          fail(file, `cannot read file (${errnoOf(e)})`);
        }
        if (r === 0) fail(file, `unexpected end of file at byte ${pos + got} (the file shrank while being read)`);
        got += r;
      }
    };
    if (size < 8) fail(file, `file is ${size} bytes, shorter than the 8-byte header length`);
    const head = new Uint8Array(8);
    readAt(head, 0, 0);
    const n64 = new DataView(head.buffer).getBigUint64(0, true);
    if (n64 > BigInt(MAX_HEADER_BYTES)) fail(file, `header length ${n64} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
    if (8 + Number(n64) > size) fail(file, `header length ${n64} runs past the end of the ${size}-byte file`);
    // The header fits: read the header and the body, the file's size and no more.
    const buf = Buffer.allocUnsafe(size);
    buf.set(head, 0);
    readAt(buf, 8, 8);
    return parseSafetensors(buf, file);
  } finally {
    fs.closeSync(fd);
  }
}

// ---- writing ----

const DATA_CTOR: Record<StDtype, new (length: number) => StData> = {
  F32: Float32Array, F16: Float32Array, BF16: Float32Array, F64: Float64Array, I64: BigInt64Array,
  I32: Int32Array, I16: Int16Array, I8: Int8Array, U8: Uint8Array, BOOL: Uint8Array,
};

function dataTypeName(data: unknown): string {
  return ArrayBuffer.isView(data) ? (data as object).constructor.name : typeof data;
}

/** Little-endian bytes of one tensor's data. */
function encodeData(t: StTensor): Uint8Array {
  const n = t.data.length;
  if (t.dtype === 'F16' || t.dtype === 'BF16') {
    const src = t.data as Float32Array;
    const bits = new Uint32Array(src.buffer, src.byteOffset, n); // Float32Array is always 4-aligned
    const out = new Uint8Array(2 * n);
    for (let i = 0; i < n; i++) {
      const h = t.dtype === 'F16' ? floatBitsToHalf(bits[i]!) : floatBitsToBf16(bits[i]!);
      out[2 * i] = h & 0xff;
      out[2 * i + 1] = h >>> 8;
    }
    return out;
  }
  const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  if (HOST_LE) return bytes;
  const copy = bytes.slice();
  byteswap(copy, DTYPE_BYTES[t.dtype]);
  return copy;
}

/**
 * Serialises tensors (+ optional string metadata) to a safetensors image. Layout follows the Rust reference:
 * tensors ordered by dtype size (largest first) then name, so every tensor starts aligned to its element size, and
 * the header is space-padded to a multiple of 8 bytes. The output depends only on the content, not on map order.
 */
export function serializeSafetensors(
  tensors: Map<string, StTensor> | Record<string, StTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const list: [string, StTensor][] = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  for (const [key, t] of list) {
    const what = `serializeSafetensors: tensor ${JSON.stringify(key)}`;
    if (key === METADATA_KEY) throw new Error(`${what}: name is reserved`);
    if (!isDtype(t.dtype)) throw new Error(oneLine(`${what}: unsupported dtype ${JSON.stringify(t.dtype)}`));
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new Error(oneLine(`${what}: shape ${JSON.stringify(t.shape)} is not an array of non-negative integers`));
    }
    // instanceof, so a Node Buffer passes as a Uint8Array.
    if (!(t.data instanceof DATA_CTOR[t.dtype])) {
      throw new Error(`${what}: dtype ${t.dtype} needs a ${DATA_CTOR[t.dtype].name}, got ${dataTypeName(t.data)}`);
    }
    if (t.data.length !== numel(t.shape)) {
      throw new Error(`${what}: data has ${t.data.length} elements, shape [${t.shape.join(',')}] needs ${numel(t.shape)}`);
    }
    // torch/numpy treat other bytes as undefined behaviour for bool, so refuse to produce them.
    if (t.dtype === 'BOOL' && (t.data as Uint8Array).some((b) => b > 1)) {
      throw new Error(`${what}: BOOL data must be 0 or 1`);
    }
  }
  const meta = metadata ?? {};
  for (const [k, v] of Object.entries(meta)) {
    if (typeof v !== 'string') throw new Error(oneLine(`serializeSafetensors: metadata ${JSON.stringify(k)} is not a string`));
  }

  // Code-unit comparison, not localeCompare: locale-independent and stable across machines.
  list.sort(([ka, a], [kb, b]) => DTYPE_BYTES[b.dtype] - DTYPE_BYTES[a.dtype] || (ka < kb ? -1 : ka > kb ? 1 : 0));

  const parts: string[] = [];
  if (Object.keys(meta).length > 0) parts.push(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(meta)}`);
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [key, t] of list) {
    const bytes = encodeData(t);
    const entry = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    parts.push(`${JSON.stringify(key)}:${JSON.stringify(entry)}`);
    chunks.push(bytes);
    offset += bytes.length;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const headerLen = Math.ceil(json.length / 8) * 8; // 8 + N is then 8-aligned, so the data buffer starts aligned

  const out = new Uint8Array(8 + headerLen + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  let pos = 8 + headerLen;
  for (const c of chunks) {
    out.set(c, pos);
    pos += c.length;
  }
  return out;
}

/**
 * Writes atomically: a temp file in the same directory (same filesystem, so rename is atomic), fsync'd, then renamed
 * over `file`. A crash or error never leaves a half-written `file`.
 */
export function writeSafetensors(
  file: string,
  tensors: Map<string, StTensor> | Record<string, StTensor>,
  metadata?: Record<string, string>,
): void {
  const bytes = serializeSafetensors(tensors, metadata); // validate before touching the disk
  try {
    writeFileAtomic(file, bytes);
  } catch (e) {
    fail(file, `cannot write file (${errnoOf(e)})`);
  }
}
