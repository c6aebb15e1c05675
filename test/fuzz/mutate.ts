// Seeded mutations of valid input files for the fuzz test (inputs.test.ts): generic byte-level damage (bit flips,
// interesting bytes, inserts, deletes, truncation, duplicated and overwritten ranges) and format-aware edits that get
// past the first checks and reach the deeper ones (safetensors: the header length field and the header's JSON, model
// files: the architecture in the metadata, CIFAR: label bytes and record counts, PNG: chunk lengths and contents with
// the CRC fixed, IHDR fields, JPEG: segment lengths, frame headers, tables and scan data).
//
// Mutant `index` of a kind depends only on (seed, kind, index) and the base file, so a failure is replayed by its
// seed and index alone. Plain JS (no engine import): the parent and the worker both use it.
import { seededRandom } from '../../src/engine/random.js';

export const KINDS = ['safetensors', 'model', 'cifar', 'png', 'jpeg'] as const;
export type Kind = (typeof KINDS)[number];

export const EXT: Record<Kind, string> = { safetensors: 'safetensors', model: 'safetensors', cifar: 'bin', png: 'png', jpeg: 'jpg' };

export interface Mutant {
  kind: Kind;
  index: number;
  bytes: Buffer;
  /** What was done, in order (for the failure report). */
  desc: string;
}

type Rng = () => number;

class Gen {
  constructor(readonly r: Rng) {}
  int(n: number): number { return Math.floor(this.r() * n); }
  range(lo: number, hi: number): number { return lo + this.int(hi - lo + 1); }
  pick<T>(xs: readonly T[]): T { return xs[this.int(xs.length)]!; }
  bytes(n: number): Buffer { const b = Buffer.alloc(n); for (let i = 0; i < n; i++) b[i] = this.int(256); return b; }
}

/** 32-bit mix of the seed, the kind and the index (splitmix-style), so nearby indices give unrelated streams. */
function streamSeed(seed: number, kind: Kind, index: number): number {
  let h = (seed ^ Math.imul(KINDS.indexOf(kind) + 1, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** Big-endian writes that never throw: the value wrapped to its width, nothing written past the end. */
function put32(b: Buffer, v: number, at: number): void { if (at >= 0 && at + 4 <= b.length) b.writeUInt32BE(v >>> 0, at); }
function put16(b: Buffer, v: number, at: number): void { if (at >= 0 && at + 2 <= b.length) b.writeUInt16BE(v & 0xffff, at); }

// ---- generic byte-level mutations ----

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, 0x20, 0x0a];

function generic(g: Gen, b: Buffer): [Buffer, string] {
  const len = b.length;
  const at = (): number => g.int(Math.max(1, len));
  switch (g.int(8)) {
    case 0: {
      const out = Buffer.from(b);
      const n = g.range(1, 8);
      const where: number[] = [];
      for (let k = 0; k < n && len > 0; k++) { const p = at(); out[p]! ^= 1 << g.int(8); where.push(p); }
      return [out, `flip ${n} bit(s) at ${where.join(',')}`];
    }
    case 1: {
      if (len === 0) return [b, 'nothing'];
      const out = Buffer.from(b); const p = at(); const v = g.pick(INTERESTING);
      out[p] = v;
      return [out, `byte ${p} = 0x${v.toString(16)}`];
    }
    case 2: {
      const p = g.int(len + 1); const ins = g.bytes(g.range(1, 32));
      return [Buffer.concat([b.subarray(0, p), ins, b.subarray(p)]), `insert ${ins.length} random byte(s) at ${p}`];
    }
    case 3: {
      const p = at(); const n = g.range(1, 32);
      return [Buffer.concat([b.subarray(0, p), b.subarray(p + n)]), `delete ${n} byte(s) at ${p}`];
    }
    case 4: {
      const n = g.int(len);
      return [b.subarray(0, n), `truncate to ${n} of ${len} bytes`];
    }
    case 5: {
      const p = at(); const n = g.range(1, 64); const q = g.int(len + 1);
      return [Buffer.concat([b.subarray(0, q), b.subarray(p, p + n), b.subarray(q)]), `copy ${n} byte(s) from ${p} to ${q}`];
    }
    case 6: {
      const out = Buffer.from(b); const p = at(); const n = Math.min(g.range(1, 32), len - p);
      g.bytes(n).copy(out, p);
      return [out, `overwrite ${n} byte(s) at ${p} with random ones`];
    }
    default: {
      const add = g.bytes(g.range(1, 4096));
      return [Buffer.concat([b, add]), `append ${add.length} random byte(s)`];
    }
  }
}

// ---- safetensors and model files: the length field and the header's JSON ----

function splitSafetensors(b: Buffer): { header: Record<string, unknown>; data: Buffer } | null {
  if (b.length < 8) return null;
  const n = Number(b.readBigUInt64LE(0));
  if (8 + n > b.length) return null;
  try {
    const header: unknown = JSON.parse(b.subarray(8, 8 + n).toString('utf8'));
    if (header === null || typeof header !== 'object' || Array.isArray(header)) return null;
    return { header: header as Record<string, unknown>, data: b.subarray(8 + n) };
  } catch {
    return null;
  }
}

/** Header text + data, the length field set to the text's byte length (optionally space-padded to 8). */
function joinSafetensors(g: Gen, text: string, data: Buffer): Buffer {
  let t = Buffer.from(text, 'utf8');
  if (g.int(2) === 0) t = Buffer.concat([t, Buffer.alloc((8 - (t.length % 8)) % 8, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(t.length));
  return Buffer.concat([len, t, data]);
}

const BIG = [-1, 0, 1, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, 1e21, 1e300, 0.5, 1.5, -0.0];

function hostileDtype(g: Gen): unknown { return g.pick(['F32', 'F64', 'I64', 'I32', 'U8', 'BOOL', 'F16', 'BF16', 'I8', 'X', 'f32', '', 7, null, ['F32'], { a: 1 }]); }

function hostileShape(g: Gen, shape: unknown): unknown {
  const s = Array.isArray(shape) ? (shape as unknown[]).slice() : [];
  switch (g.int(9)) {
    case 0: return [];
    case 1: return [0];
    case 2: return [g.pick(BIG)];
    case 3: return s.map((d) => (typeof d === 'number' ? g.pick([d + 1, d - 1, d * 2, 0, d * 1000]) : d));
    case 4: return [...s, g.pick([1, 2, 0, 1e6])];
    case 5: return s.slice(1);
    case 6: return Array.from({ length: g.range(8, 64) }, () => g.pick([1, 2, 65536, 2 ** 30]));
    case 7: return g.pick([null, 'x', { 0: 2 }, [[2]], ['2'], [true]]);
    default: return s.reverse();
  }
}

function hostileOffsets(g: Gen, offs: unknown, dataLen: number): unknown {
  const [b, e] = Array.isArray(offs) && offs.length === 2 && offs.every((o) => typeof o === 'number') ? (offs as [number, number]) : [0, 0];
  return g.pick([
    [0, 0], [b, e + 1], [b - 1, e], [e, b], [-1, e], [b, 2 ** 53], [b, 1e300], [b], [b, e, 0], null, [`${b}`, `${e}`],
    [b + 0.5, e], [b + 4, e + 4], [0, dataLen], [dataLen, dataLen + 4], [b, e - 4], [0, e - b], [b, b],
  ]);
}

/** The header's JSON, edited as an object (then re-serialised with a correct length field). */
function headerEdit(g: Gen, b: Buffer, kind: Kind): [Buffer, string] | null {
  const parts = splitSafetensors(b);
  if (parts === null) return null;
  const { header, data } = parts;
  const keys = Object.keys(header).filter((k) => k !== '__metadata__');
  const key = keys.length > 0 ? g.pick(keys) : '__none__';
  const entry = header[key] as Record<string, unknown> | undefined;
  let desc: string;
  const choice = kind === 'model' && g.int(3) === 0 ? 100 : g.int(11);
  switch (choice) {
    case 0: { if (entry) entry.dtype = hostileDtype(g); desc = `tensor '${key}' dtype := ${JSON.stringify(entry?.dtype)}`; break; }
    case 1: { if (entry) entry.shape = hostileShape(g, entry.shape); desc = `tensor '${key}' shape := ${JSON.stringify(entry?.shape)?.slice(0, 80)}`; break; }
    case 2: { if (entry) entry.data_offsets = hostileOffsets(g, entry.data_offsets, data.length); desc = `tensor '${key}' data_offsets := ${JSON.stringify(entry?.data_offsets)}`; break; }
    case 3: { delete header[key]; desc = `delete tensor '${key}'`; break; }
    case 4: {
      const name = g.pick(['copy', '__proto__', 'constructor', '', 'a\nb', 'x'.repeat(5000), key + '.extra']);
      Object.defineProperty(header, name, { value: entry === undefined ? {} : { ...entry }, enumerable: true, configurable: true, writable: true });
      desc = `add tensor '${name.slice(0, 20)}' copying '${key}'`;
      break;
    }
    case 5: {
      const v = g.pick<unknown>([{ k: 1 }, 'str', null, [], { k: {} }, { k: 'line\nbreak' }, { __proto__x: 'y' }, 5]);
      header.__metadata__ = v;
      desc = `__metadata__ := ${JSON.stringify(v)}`;
      break;
    }
    case 6: {
      // A repeated key in the text (JSON.parse keeps the last; the reader must refuse it).
      const text = JSON.stringify(header);
      const dup = `${JSON.stringify(key)}:${JSON.stringify(entry ?? {})},`;
      return [joinSafetensors(g, `{${dup}${text.slice(1)}`, data), `duplicate key '${key}' in the header text`];
    }
    case 7: {
      const v = g.pick(['[]', 'null', '"x"', '1', '{}', '{"a":', '{"a":1}}', '\u00ff{}', '{"__metadata__":{}}']);
      return [joinSafetensors(g, v, data), `header text := ${JSON.stringify(v)}`];
    }
    case 8: {
      // A number anywhere in the text (tensors' shapes and offsets, numbers inside metadata strings) made hostile.
      const text = JSON.stringify(header);
      const nums = [...text.matchAll(/\d+(\.\d+)?/g)];
      if (nums.length === 0) return null;
      const m = g.pick(nums);
      const v = g.pick(['0', '99999999999', '18446744073709551616', '1e400', '0.5', '-1', '4294967296', '1e21', '9007199254740993']);
      const t = text.slice(0, m.index) + v + text.slice(m.index! + m[0].length);
      return [joinSafetensors(g, t, data), `number '${m[0]}' at header char ${m.index} := ${v}`];
    }
    case 9: {
      const text = JSON.stringify(header);
      const cut = g.int(text.length);
      return [joinSafetensors(g, text.slice(0, cut), data), `header text cut at char ${cut}`];
    }
    case 100: return modelConfigEdit(g, header, data);
    default: {
      // A whitespace-padded or a UTF-8-damaged header.
      const text = JSON.stringify(header);
      const v = g.pick([' '.repeat(g.range(1, 16)) + text, text + '\u0000', text.replace('"', '"\ud800'), text + '\n'.repeat(3)]);
      return [joinSafetensors(g, v, data), 'header text re-padded or damaged'];
    }
  }
  return [joinSafetensors(g, JSON.stringify(header), data), desc];
}

const CONFIG_EDITS: Record<string, unknown[]> = {
  depth: [-1, 0, 1, 2, 7, 9, 14, 20, 8.5, 110, 2000, 120002, 1e9, '8', null],
  widths: [[], [4], [4, 8], [4, 8, 8, 8], [0, 8, 8], [-4, 8, 8], [4, 8, 16.5], [4, 8, 9], [4, 8, 1e5], [4, 8, 4096], 'x', null, [[4], 8, 8]],
  classes: [0, -1, 1, 9, 11, 10.5, 1e6, 1e12, '10', null],
  activation: ['sigmoid', '', 'relu', 'half-huber', 'Relu', 5, null],
  inputChannels: [0, 1, 4, -3, 2.5, 1e6, null],
  inputOffset: ['x', [], [[0.5, 0.5, 0.5]], [[1, 2, 3], [0, 0, 0]], [[1, 2], [3, 4]], [['a', 'b', 'c'], [1, 1, 1]], [[NaN, 1, 1], [1, 1, 1]], null, 7],
};

/** The architecture in `__metadata__.advexp_model` (or the class names), edited. */
function modelConfigEdit(g: Gen, header: Record<string, unknown>, data: Buffer): [Buffer, string] | null {
  const meta = header.__metadata__ as Record<string, string> | null | undefined;
  if (meta === undefined || meta === null || typeof meta !== 'object' || typeof meta.advexp_model !== 'string') return null;
  if (g.int(6) === 0) {
    const v = g.pick(['not json', '[]', '["a","b"]', JSON.stringify(Array.from({ length: 12 }, (_, i) => `c${i}`)), '[1,2,3,4,5,6,7,8,9,10]', '{"a":1}', '["a\\nb","c","d","e","f","g","h","i","j","k"]']);
    meta.class_names = v;
    return [joinSafetensors(g, JSON.stringify(header), data), `class_names := ${v.slice(0, 60)}`];
  }
  let config: Record<string, unknown>;
  try { config = JSON.parse(meta.advexp_model) as Record<string, unknown>; } catch { return null; }
  const field = g.pick(Object.keys(CONFIG_EDITS));
  let desc: string;
  if (g.int(8) === 0) {
    delete config[field];
    desc = `advexp_model: delete '${field}'`;
  } else {
    const v = g.pick(CONFIG_EDITS[field]!);
    config[field] = v;
    desc = `advexp_model: ${field} := ${JSON.stringify(v)}`;
  }
  meta.advexp_model = g.int(10) === 0 ? JSON.stringify(config).slice(0, -1) : JSON.stringify(config);
  return [joinSafetensors(g, JSON.stringify(header), data), desc];
}

function lengthFieldEdit(g: Gen, b: Buffer): [Buffer, string] {
  if (b.length < 8) return generic(g, b);
  const n = b.readBigUInt64LE(0);
  const len = BigInt(b.length);
  const v = g.pick([n - 1n, n + 1n, n - 8n, n + 8n, 0n, 1n, len - 8n, len, len + 1n, 2n ** 32n + n, 2n ** 63n, 2n ** 64n - 1n, 100_000_001n, BigInt(g.int(2 ** 32))]);
  const out = Buffer.from(b);
  out.writeBigUInt64LE(BigInt.asUintN(64, v));
  return [out, `header length ${n} := ${BigInt.asUintN(64, v)}`];
}

// ---- CIFAR batches ----

const RECORD = 3073;

function cifarEdit(g: Gen, b: Buffer): [Buffer, string] {
  const n = Math.floor(b.length / RECORD);
  switch (g.int(4)) {
    case 0: {
      const out = Buffer.from(b); const r = g.int(Math.max(1, n)); const v = g.range(10, 255);
      if (r * RECORD < out.length) out[r * RECORD] = v;
      return [out, `record ${r} label byte := ${v}`];
    }
    case 1: { const k = g.int(n + 1) * RECORD + g.pick([-1, 1, -RECORD + 1, 0]); const c = Math.max(0, Math.min(b.length, k)); return [b.subarray(0, c), `cut to ${c} bytes`]; }
    case 2: { const add = g.bytes(g.pick([1, RECORD - 1, RECORD, RECORD + 1])); return [Buffer.concat([b, add]), `append ${add.length} byte(s)`]; }
    default: return [Buffer.alloc(0), 'empty file'];
  }
}

// ---- PNG: chunks, with the CRC fixed so edits reach the decoder ----

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; t[n] = c >>> 0; }
  return t;
})();

export function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

interface Chunk { at: number; length: number; type: string }

function pngChunks(b: Buffer): Chunk[] {
  const out: Chunk[] = [];
  let p = 8;
  while (p + 12 <= b.length) {
    const length = b.readUInt32BE(p);
    const type = b.subarray(p + 4, p + 8).toString('latin1');
    out.push({ at: p, length, type });
    if (p + 12 + length > b.length) break;
    p += 12 + length;
  }
  return out;
}

/** Recomputes every complete chunk's CRC (type + data). */
export function fixPngCrcs(b: Buffer): Buffer {
  const out = Buffer.from(b);
  for (const c of pngChunks(out)) {
    const end = c.at + 8 + c.length;
    if (end + 4 <= out.length) out.writeUInt32BE(crc32(out.subarray(c.at + 4, end)), end);
  }
  return out;
}

function pngEdit(g: Gen, b: Buffer): [Buffer, string] {
  const chunks = pngChunks(b);
  if (chunks.length === 0) return generic(g, b);
  const c = g.pick(chunks);
  const out = Buffer.from(b);
  switch (g.int(6)) {
    case 0: {
      const v = g.pick([0, 1, c.length - 1, c.length + 1, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, g.int(2 ** 32)]) >>> 0;
      put32(out, v, c.at);
      return [out, `${c.type} chunk length ${c.length} := ${v}`];
    }
    case 1: {
      // IHDR (any of them, when a duplicate was made): width, height, bit depth, colour type, compression, filter,
      // interlace.
      const all = chunks.filter((k) => k.type === 'IHDR');
      if (all.length === 0) return generic(g, b);
      const ihdr = g.pick(all);
      const field = g.int(7);
      const d = ihdr.at + 8;
      let desc: string;
      if (field < 2) {
        const v = g.pick([0, 1, 2, 3, 7, 17, 31, 64, 255, 1000, 4097, 20000, 65535, 2 ** 31 - 1, 2 ** 32 - 1]) >>> 0;
        put32(out, v, d + 4 * field);
        desc = `IHDR${all.length > 1 ? ` #${all.indexOf(ihdr) + 1}` : ''} ${field === 0 ? 'width' : 'height'} := ${v}`;
      } else {
        const v = g.pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 16, 255]);
        out[d + 6 + field] = v;
        desc = `IHDR ${['bit depth', 'colour type', 'compression', 'filter', 'interlace'][field - 2]} := ${v}`;
      }
      return [fixPngCrcs(out), desc + ' (CRC fixed)'];
    }
    case 2: {
      // Damage inside one chunk's data, CRC fixed: reaches zlib, filters, palettes.
      if (c.length === 0) return generic(g, b);
      const n = g.range(1, 8);
      for (let k = 0; k < n; k++) { const p = c.at + 8 + g.int(c.length); if (p < out.length) out[p]! ^= 1 << g.int(8); }
      return [fixPngCrcs(out), `${n} bit flip(s) inside ${c.type} (CRC fixed)`];
    }
    case 3: {
      const end = Math.min(b.length, c.at + 12 + c.length);
      return [Buffer.concat([b.subarray(0, c.at), b.subarray(end)]), `drop the ${c.type} chunk`];
    }
    case 4: {
      const end = Math.min(b.length, c.at + 12 + c.length);
      return [Buffer.concat([b.subarray(0, end), b.subarray(c.at, end), b.subarray(end)]), `duplicate the ${c.type} chunk`];
    }
    default: {
      // A chunk of a known critical type inserted with random contents (CRC fixed).
      const type = g.pick(['PLTE', 'IDAT', 'tRNS', 'IEND', 'IHDR', 'gAMA']);
      const data = g.bytes(g.pick([0, 1, 3, 13, 256, 769]));
      const chunk = Buffer.alloc(12 + data.length);
      chunk.writeUInt32BE(data.length, 0); chunk.write(type, 4, 'latin1'); data.copy(chunk, 8);
      chunk.writeUInt32BE(crc32(chunk.subarray(4, 8 + data.length)), 8 + data.length);
      return [Buffer.concat([b.subarray(0, c.at), chunk, b.subarray(c.at)]), `insert a ${type} chunk of ${data.length} random byte(s) before ${c.type}`];
    }
  }
}

// ---- JPEG: marker segments ----

interface Segment { at: number; marker: number; length: number }

function jpegSegments(b: Buffer): { segs: Segment[]; scan: number } {
  const segs: Segment[] = [];
  let p = 2;
  while (p + 4 <= b.length && b[p] === 0xff) {
    const marker = b[p + 1]!;
    const length = b.readUInt16BE(p + 2);
    segs.push({ at: p, marker, length });
    if (marker === 0xda) return { segs, scan: p + 2 + length };
    p += 2 + length;
  }
  return { segs, scan: -1 };
}

function jpegEdit(g: Gen, b: Buffer): [Buffer, string] {
  const { segs, scan } = jpegSegments(b);
  if (segs.length === 0) return generic(g, b);
  const s = g.pick(segs);
  const name = `FF${s.marker.toString(16).toUpperCase()}`;
  const out = Buffer.from(b);
  switch (g.int(6)) {
    case 0: {
      const v = g.pick([0, 1, 2, s.length - 1, s.length + 1, 0xffff, g.int(0x10000)]);
      put16(out, v, s.at + 2);
      return [out, `${name} segment length ${s.length} := ${v}`];
    }
    case 1: {
      const sof = segs.find((k) => k.marker >= 0xc0 && k.marker <= 0xc2);
      if (sof === undefined) return generic(g, b);
      const field = g.int(5);
      if (field < 2) {
        const v = g.pick([0, 1, 7, 33, 255, 4097, 8192, 16384, 65535]);
        put16(out, v, sof.at + 5 + 2 * field);
        return [out, `SOF ${field === 0 ? 'height' : 'width'} := ${v}`];
      }
      if (field === 2) { const v = g.pick([0, 1, 2, 4, 5, 255]); out[sof.at + 9] = v; return [out, `SOF component count := ${v}`]; }
      if (field === 3) { const v = g.pick([0, 12, 16, 255]); out[sof.at + 4] = v; return [out, `SOF precision := ${v}`]; }
      const v = g.pick([0x00, 0x10, 0x01, 0x44, 0xff, 0x41]); out[sof.at + 11] = v;
      return [out, `SOF first component sampling := 0x${v.toString(16)}`];
    }
    case 2: {
      const n = g.range(1, 6);
      for (let k = 0; k < n; k++) { const p = s.at + 4 + g.int(Math.max(1, s.length - 2)); if (p < out.length) out[p]! ^= 1 << g.int(8); }
      return [out, `${n} bit flip(s) inside the ${name} segment`];
    }
    case 3: {
      if (scan < 0 || scan >= b.length - 2) return generic(g, b);
      const n = g.range(1, 16);
      for (let k = 0; k < n; k++) { const p = scan + g.int(b.length - 2 - scan); out[p]! ^= 1 << g.int(8); }
      return [out, `${n} bit flip(s) in the scan data`];
    }
    case 4: {
      const end = Math.min(b.length, s.at + 2 + s.length);
      return [Buffer.concat([b.subarray(0, s.at), b.subarray(end)]), `drop the ${name} segment`];
    }
    default: {
      const end = Math.min(b.length, s.at + 2 + s.length);
      return [Buffer.concat([b.subarray(0, end), b.subarray(s.at, end), b.subarray(end)]), `duplicate the ${name} segment`];
    }
  }
}

function formatEdit(g: Gen, kind: Kind, b: Buffer): [Buffer, string] {
  switch (kind) {
    case 'safetensors':
    case 'model': {
      if (g.int(4) === 0) return lengthFieldEdit(g, b);
      return headerEdit(g, b, kind) ?? generic(g, b);
    }
    case 'cifar': return cifarEdit(g, b);
    case 'png': return pngEdit(g, b);
    case 'jpeg': return jpegEdit(g, b);
  }
}

/** Mutant `index` of `base`: one to three edits, format-aware ones more often than byte-level damage. */
export function mutant(seed: number, kind: Kind, index: number, base: Buffer): Mutant {
  const g = new Gen(seededRandom(streamSeed(seed, kind, index)));
  let bytes = base;
  const steps: string[] = [];
  const n = g.pick([1, 1, 1, 2, 3]);
  for (let k = 0; k < n; k++) {
    const [b, d] = g.int(5) < 3 ? formatEdit(g, kind, bytes) : generic(g, bytes);
    bytes = b;
    steps.push(d);
  }
  return { kind, index, bytes, desc: steps.join('; ') };
}

// ---- what a mutant claims (to recognise the classes of known, not yet fixed issues) ----

/** Pixels each IHDR in a PNG's bytes claims, in file order (pngjs honours a second one: it replaces the first). */
export function pngClaims(b: Buffer): number[] {
  const out: number[] = [];
  for (let p = b.indexOf('IHDR'); p >= 0 && p + 12 <= b.length; p = b.indexOf('IHDR', p + 1)) out.push(b.readUInt32BE(p + 4) * b.readUInt32BE(p + 8));
  return out;
}

/** The largest picture any IHDR (PNG) or SOF0–2 frame header (JPEG) in the bytes claims, in pixels. */
export function claimedPixels(kind: Kind, b: Buffer): number {
  let best = 0;
  if (kind === 'png') {
    best = Math.max(0, ...pngClaims(b));
  } else if (kind === 'jpeg') {
    for (let p = 0; p + 9 <= b.length; p++) {
      if (b[p] === 0xff && b[p + 1]! >= 0xc0 && b[p + 1]! <= 0xc2) best = Math.max(best, b.readUInt16BE(p + 5) * b.readUInt16BE(p + 7));
    }
  }
  return best;
}

/** True when any IHDR in the bytes claims a width or a height of 0. */
export function claimsEmptyPng(b: Buffer): boolean {
  for (let p = b.indexOf('IHDR'); p >= 0 && p + 12 <= b.length; p = b.indexOf('IHDR', p + 1)) {
    if (b.readUInt32BE(p + 4) === 0 || b.readUInt32BE(p + 8) === 0) return true;
  }
  return false;
}

/** A model file's `advexp_model` config, when the header still parses that far (null otherwise). */
export function modelConfig(b: Buffer): Record<string, unknown> | null {
  const parts = splitSafetensors(b);
  const meta = parts?.header.__metadata__ as Record<string, unknown> | undefined;
  if (meta === undefined || meta === null || typeof meta.advexp_model !== 'string') return null;
  try {
    const c: unknown = JSON.parse(meta.advexp_model);
    return c !== null && typeof c === 'object' && !Array.isArray(c) ? c as Record<string, unknown> : null;
  } catch {
    return null;
  }
}

/** True when a config asks for a network far larger than a tiny file's tensors (finding 3's memory class). */
export function configIsLarge(c: Record<string, unknown>): boolean {
  const nums = [c.depth, c.classes, c.inputChannels, ...(Array.isArray(c.widths) ? c.widths as unknown[] : [])];
  const big = (v: unknown, lim: number): boolean => typeof v === 'number' && Math.abs(v) > lim;
  return big(c.depth, 200) || big(c.classes, 10_000) || big(c.inputChannels, 64) || nums.slice(3).some((w) => big(w, 512));
}
