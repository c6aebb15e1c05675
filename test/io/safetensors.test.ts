import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import {
  parseSafetensors, readSafetensors, serializeSafetensors, writeSafetensors,
  f32ToF16Bits, f16BitsToF32, f32ToBf16Bits, bf16BitsToF32, MAX_HEADER_BYTES,
  type StTensor,
} from '../../src/io/safetensors.js';
import { skipUnlessShared } from '../helpers/shared.js';

const REFERENCE = ['resnet44-standard', 'resnet44-adv-train', 'resnet44-robust', 'resnet44-all'];

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'advexp-st-'));
}

/** A raw safetensors image from any header text/object and data bytes, for hand-made (often broken) files. */
function rawFile(header: unknown, data: Uint8Array | number = 0, headerLen?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const bytes = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.length + bytes.length);
  new DataView(out.buffer).setBigUint64(0, headerLen ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(bytes, 8 + json.length);
  return out;
}

function bytesOf(t: StTensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** Asserts parse fails with a one-line message that starts with the file name and matches `re`. */
function assertRejects(buf: Uint8Array, re: RegExp): void {
  assert.throws(
    () => parseSafetensors(buf, 'bad.safetensors'),
    (e: Error) => {
      assert.ok(e.message.startsWith('bad.safetensors: '), e.message);
      assert.ok(!e.message.includes('\n'), `multi-line message: ${e.message}`);
      assert.match(e.message, re);
      return true;
    },
  );
}

const f32 = (shape: number[], values: number[]): StTensor => ({ dtype: 'F32', shape, data: Float32Array.from(values) });

test('reads the four reference networks', (t) => {
  const shared = skipUnlessShared(t, 'models/reference');
  if (!shared) return;
  for (const name of REFERENCE) {
    const file = path.join(shared, 'models', 'reference', `${name}.safetensors`);
    const st = readSafetensors(file);
    const robust = name === 'resnet44-robust' || name === 'resnet44-all';
    // Robust nets carry the 43 extra half-Huber `*.d` scalars.
    assert.equal(st.tensors.size, robust ? 263 : 220, name);
    assert.equal([...st.tensors.keys()].some((k) => k.endsWith('.d')), robust, name);
    for (const [k, v] of st.tensors) {
      assert.equal(v.dtype, 'F32', k);
      assert.ok(v.data instanceof Float32Array, k);
      assert.equal(v.data.length, v.shape.reduce((a, b) => a * b, 1), k);
    }
    assert.deepEqual(st.tensors.get('pipe.0.weight')!.shape, [16, 3, 3, 3]);
    assert.deepEqual(st.tensors.get('pipe.7.weight')!.shape, [10, 64, 1, 1]);
    assert.deepEqual(st.tensors.get('pipe.7.bias')!.shape, [10]);
    const off = st.tensors.get('input_offset')!;
    assert.deepEqual(off.shape, [2, 3]);
    const want = [0.4914, 0.4822, 0.4465, 0.247, 0.243, 0.261];
    off.data.forEach((v, i) => assert.ok(Math.abs(Number(v) - want[i]!) < 1e-6, `input_offset[${i}] = ${v}`));
    // Map order is the file's data order: the stem comes right after input_offset.
    assert.deepEqual([...st.tensors.keys()].slice(0, 2), ['input_offset', 'pipe.0.weight']);

    const opts = JSON.parse(st.metadata.training_options!) as Record<string, unknown>;
    assert.equal(opts.robust_additions, robust, name);
    assert.equal(opts.adversarial_training, name === 'resnet44-adv-train' || name === 'resnet44-all', name);
  }
});

test('reference networks round-trip through write + read with identical bytes', (t) => {
  const shared = skipUnlessShared(t, 'models/reference');
  if (!shared) return;
  const dir = tmpDir();
  try {
    for (const name of REFERENCE) {
      const orig = readSafetensors(path.join(shared, 'models', 'reference', `${name}.safetensors`));
      const out = path.join(dir, `${name}.safetensors`);
      writeSafetensors(out, orig.tensors, orig.metadata);
      const back = readSafetensors(out);
      assert.deepEqual(back.metadata, orig.metadata);
      assert.deepEqual([...back.tensors.keys()].sort(), [...orig.tensors.keys()].sort());
      for (const [k, v] of orig.tensors) {
        const w = back.tensors.get(k)!;
        assert.equal(w.dtype, v.dtype, k);
        assert.deepEqual(w.shape, v.shape, k);
        assert.deepEqual(bytesOf(w), bytesOf(v), k);
      }
      // Serialising is a pure function of the content: writing what we read reproduces our file exactly.
      assert.deepEqual(serializeSafetensors(back.tensors, back.metadata), new Uint8Array(fs.readFileSync(out)));
      // Header padded to 8 bytes; the data buffer is exactly as long as the original's.
      const dataLen = (f: string) => {
        const b = fs.readFileSync(f);
        const n = Number(b.readBigUInt64LE(0));
        return [n % 8, b.length - 8 - n];
      };
      const origFile = path.join(shared, 'models', 'reference', `${name}.safetensors`);
      assert.deepEqual(dataLen(out), [0, dataLen(origFile)[1]]);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('all dtypes round-trip, including scalars and empty tensors', () => {
  const tensors: Record<string, StTensor> = {
    f64: { dtype: 'F64', shape: [3], data: Float64Array.from([1.5, -0, Number.MAX_VALUE]) },
    f32: f32([2, 2], [1, -2, 3.25, Infinity]),
    i64: { dtype: 'I64', shape: [2], data: BigInt64Array.from([-(2n ** 63n), 2n ** 63n - 1n]) },
    i32: { dtype: 'I32', shape: [3], data: Int32Array.from([-(2 ** 31), 0, 2 ** 31 - 1]) },
    i16: { dtype: 'I16', shape: [2], data: Int16Array.from([-32768, 32767]) },
    i8: { dtype: 'I8', shape: [2], data: Int8Array.from([-128, 127]) },
    u8: { dtype: 'U8', shape: [1, 3], data: Uint8Array.from([0, 128, 255]) },
    bool: { dtype: 'BOOL', shape: [4], data: Uint8Array.from([1, 0, 0, 1]) },
    f16: { dtype: 'F16', shape: [4], data: Float32Array.from([1, -2, 65504, 2 ** -24]) },
    bf16: { dtype: 'BF16', shape: [3], data: Float32Array.from([1, -3.5, 2 ** 100]) },
    scalar: f32([], [42]),
    empty: f32([0, 3], []),
  };
  const buf = serializeSafetensors(tensors, { note: 'hi', 'ünïcode': '✓' });
  const st = parseSafetensors(buf);
  assert.deepEqual(st.metadata, { note: 'hi', 'ünïcode': '✓' });
  assert.equal(st.tensors.size, Object.keys(tensors).length);
  for (const [k, v] of Object.entries(tensors)) {
    const w = st.tensors.get(k)!;
    assert.equal(w.dtype, v.dtype, k);
    assert.deepEqual(w.shape, v.shape, k);
    assert.equal(w.data.constructor, v.data.constructor, k);
    assert.deepEqual([...w.data], [...v.data], k);
    assert.equal(w.data.byteOffset % (w.data as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT, 0, k);
  }
});

test('writer layout: padded header, aligned data, deterministic order', () => {
  const a = { z: f32([1], [1]), a: { dtype: 'U8', shape: [3], data: Uint8Array.from([1, 2, 3]) } as StTensor,
    m: { dtype: 'F64', shape: [1], data: Float64Array.from([2]) } as StTensor, b: f32([2], [3, 4]) };
  const buf = serializeSafetensors(a, { k: 'v' });
  const n = Number(new DataView(buf.buffer).getBigUint64(0, true));
  assert.equal(n % 8, 0);
  const text = new TextDecoder().decode(buf.subarray(8, 8 + n));
  assert.ok(text.startsWith('{"__metadata__":{"k":"v"},'), text);
  assert.match(text, /} *$/);
  const header = JSON.parse(text) as Record<string, { data_offsets: [number, number] }>;
  // Largest element size first, then by name: every tensor starts aligned to its element size.
  assert.deepEqual(header.m!.data_offsets, [0, 8]);
  assert.deepEqual(header.b!.data_offsets, [8, 16]);
  assert.deepEqual(header.z!.data_offsets, [16, 20]);
  assert.deepEqual(header.a!.data_offsets, [20, 23]);
  // Insertion order does not matter; Map and Record give the same bytes.
  const reversed = new Map(Object.entries(a).reverse());
  assert.deepEqual(serializeSafetensors(reversed, { k: 'v' }), buf);
  // No metadata -> no __metadata__ key; reading gives {}.
  const bare = serializeSafetensors({ x: f32([1], [0]) });
  assert.ok(!new TextDecoder().decode(bare).includes('__metadata__'));
  assert.deepEqual(parseSafetensors(bare).metadata, {});
});

test('reads unaligned data and a header padded by another writer', () => {
  // Header length 27 puts the data at file offset 35: not 4-aligned, so typed arrays must be copies.
  const data = new Uint8Array(new Float32Array([1.5, -2]).buffer);
  let hdr = JSON.stringify({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } });
  while ((8 + hdr.length) % 4 === 0) hdr += ' ';
  const st = parseSafetensors(rawFile(hdr, data));
  assert.deepEqual([...st.tensors.get('x')!.data], [1.5, -2]);
});

test('F16 / BF16 conversions round to nearest even and keep specials', () => {
  assert.equal(f32ToF16Bits(1), 0x3c00);
  assert.equal(f32ToF16Bits(-2), 0xc000);
  assert.equal(f32ToF16Bits(65504), 0x7bff);
  assert.equal(f32ToF16Bits(65520), 0x7c00); // rounds up to Inf
  assert.equal(f32ToF16Bits(2 ** -24), 0x0001); // smallest subnormal
  assert.equal(f32ToF16Bits(2 ** -25), 0x0000); // halfway to 0: ties to even
  assert.equal(f32ToF16Bits(1.5 * 2 ** -24), 0x0002); // halfway 1..2: ties to even
  assert.equal(f32ToF16Bits(2 ** -14 - 2 ** -25), 0x0400); // rounds up into the smallest normal
  assert.equal(f32ToF16Bits(1 + 2 ** -11), 0x3c00); // tie -> even
  assert.equal(f32ToF16Bits(1 + 3 * 2 ** -11), 0x3c02); // tie -> even (up)
  assert.equal(f32ToF16Bits(-Infinity), 0xfc00);
  assert.equal(f32ToF16Bits(-0), 0x8000);
  assert.ok((f32ToF16Bits(NaN) & 0x7c00) === 0x7c00 && (f32ToF16Bits(NaN) & 0x3ff) !== 0);
  for (let h = 0; h < 0x10000; h++) {
    const back = f32ToF16Bits(f16BitsToF32(h));
    if (((h >> 10) & 0x1f) === 0x1f && (h & 0x3ff) !== 0) assert.ok((back & 0x7c00) === 0x7c00 && (back & 0x3ff) !== 0);
    else assert.equal(back, h, `f16 0x${h.toString(16)}`);
  }
  assert.equal(f32ToBf16Bits(1), 0x3f80);
  assert.equal(f32ToBf16Bits(1 + 2 ** -8), 0x3f80); // tie -> even
  assert.equal(f32ToBf16Bits(1 + 3 * 2 ** -8), 0x3f82); // tie -> even (up)
  assert.equal(f32ToBf16Bits(3.4e38), 0x7f80); // rounds to Inf
  assert.ok(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(NaN))));
  for (let h = 0; h < 0x10000; h++) {
    const v = bf16BitsToF32(h);
    if (!Number.isNaN(v)) assert.equal(f32ToBf16Bits(v), h, `bf16 0x${h.toString(16)}`);
  }
});

test('F16 / BF16 files round-trip byte for byte, NaN payloads included', () => {
  const raw = new Uint8Array(2 * 0x10000);
  for (let h = 0; h < 0x10000; h++) { raw[2 * h] = h & 0xff; raw[2 * h + 1] = h >> 8; }
  for (const dtype of ['F16', 'BF16']) {
    const file = rawFile({ x: { dtype, shape: [256, 256], data_offsets: [0, raw.length] } }, raw);
    const st = parseSafetensors(file);
    const again = parseSafetensors(serializeSafetensors(st.tensors));
    const out = serializeSafetensors(again.tensors);
    const n = Number(new DataView(out.buffer, out.byteOffset).getBigUint64(0, true));
    assert.deepEqual(out.subarray(8 + n), raw, dtype);
  }
});

test('writeSafetensors is atomic: no temp files left, a failed write leaves the old file alone', () => {
  const dir = tmpDir();
  try {
    const file = path.join(dir, 'm.safetensors');
    writeSafetensors(file, { w: f32([2], [1, 2]) });
    writeSafetensors(file, { w: f32([2], [3, 4]) }, { v: '2' }); // overwrite
    assert.deepEqual(fs.readdirSync(dir), ['m.safetensors']);
    assert.deepEqual([...readSafetensors(file).tensors.get('w')!.data], [3, 4]);
    const before = fs.readFileSync(file);
    // Invalid input fails before anything touches the disk.
    assert.throws(() => writeSafetensors(file, { w: f32([3], [1, 2]) }), /elements/);
    // A directory in the way of the rename: the temp file is cleaned up.
    const blocked = path.join(dir, 'sub');
    fs.mkdirSync(path.join(blocked, 'x'), { recursive: true });
    assert.throws(() => writeSafetensors(blocked, { w: f32([1], [1]) }), (e: Error) => e.message.startsWith(blocked));
    assert.deepEqual(fs.readdirSync(dir).sort(), ['m.safetensors', 'sub']);
    assert.deepEqual(fs.readFileSync(file), before);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('writer rejects inconsistent tensors', () => {
  assert.throws(() => serializeSafetensors({ w: f32([2, 2], [1, 2, 3]) }), /"w".*3 elements.*needs 4/);
  assert.throws(() => serializeSafetensors({ w: { dtype: 'I32', shape: [1], data: Float32Array.from([1]) } }),
    /I32 needs a Int32Array, got Float32Array/);
  assert.throws(() => serializeSafetensors({ w: { dtype: 'U16' as never, shape: [1], data: new Uint8Array(2) } }),
    /unsupported dtype/);
  assert.throws(() => serializeSafetensors({ w: f32([-1], []) }), /non-negative/);
  assert.throws(() => serializeSafetensors({ __metadata__: f32([1], [1]) }), /reserved/);
  assert.throws(() => serializeSafetensors({ b: { dtype: 'BOOL', shape: [1], data: Uint8Array.from([2]) } }), /0 or 1/);
  assert.throws(() => serializeSafetensors({}, { k: 1 as never }), /metadata "k" is not a string/);
  // A Node Buffer is a Uint8Array.
  assert.equal(parseSafetensors(serializeSafetensors({ u: { dtype: 'U8', shape: [2], data: Buffer.from([7, 8]) } }))
    .tensors.get('u')!.data[1], 8);
});

test('rejects truncated files', () => {
  assertRejects(new Uint8Array(0), /0 bytes, shorter than the 8-byte header length/);
  assertRejects(new Uint8Array(7), /7 bytes/);
  const good = serializeSafetensors({ w: f32([4], [1, 2, 3, 4]) });
  // Cut in the header: the header length now runs past the end.
  assertRejects(good.subarray(0, 20), /header length \d+ runs past the end of the 20-byte file/);
  // Cut in the data: the tensor's end is past the data buffer.
  assertRejects(good.subarray(0, good.length - 1), /"w": data_offsets end 16 is past the 15-byte data buffer/);
  // Missing files are reported by path.
  assert.throws(() => readSafetensors('/nonexistent/x.safetensors'), /^Error: \/nonexistent\/x.safetensors: cannot read file \(ENOENT\)$/);
});

test('rejects an oversized header length', () => {
  assertRejects(rawFile({}, 0, 2n ** 63n), new RegExp(`header length 9223372036854775808 exceeds the ${MAX_HEADER_BYTES}-byte limit`));
  assertRejects(rawFile({}, 0, BigInt(MAX_HEADER_BYTES) + 1n), /exceeds the 100000000-byte limit/);
  assertRejects(rawFile({}, 0, 1000n), /header length 1000 runs past the end/);
});

test('rejects bad header text', () => {
  assertRejects(rawFile('{"a":'), /header is not valid JSON/);
  assertRejects(rawFile('[1,2]'), /header does not start with '\{'/);
  assertRejects(rawFile(' {}'), /header does not start with '\{'/);
  assertRejects(rawFile('"x"'), /header does not start with '\{'/);
  assertRejects(rawFile('{} x'), /not valid JSON/);
  assertRejects(rawFile('{}', 0, 0n), /does not start/);
  const badUtf8 = rawFile('{"\u00ff":1}');
  badUtf8[10] = 0xff; // lone continuation byte
  assertRejects(badUtf8, /not valid UTF-8/);
  // Trailing space padding is allowed; an empty file with only a header is valid.
  assert.equal(parseSafetensors(rawFile('{}      ')).tensors.size, 0);
});

test('rejects bad entries', () => {
  const e = (entry: unknown, bytes = 4) => rawFile({ w: entry }, bytes);
  assertRejects(e({ dtype: 'F8', shape: [1], data_offsets: [0, 4] }), /tensor "w": unsupported dtype "F8"/);
  assertRejects(e({ dtype: 'U16', shape: [2], data_offsets: [0, 4] }), /unsupported dtype "U16"/);
  assertRejects(e({ shape: [1], data_offsets: [0, 4] }), /unsupported dtype undefined/);
  assertRejects(e({ dtype: 'F32', shape: [-1], data_offsets: [0, 4] }), /shape \[-1\] is not an array of non-negative integers/);
  assertRejects(e({ dtype: 'F32', shape: [1.5], data_offsets: [0, 4] }), /shape/);
  assertRejects(e({ dtype: 'F32', shape: '1', data_offsets: [0, 4] }), /shape "1"/);
  assertRejects(e({ dtype: 'F32', shape: [1], data_offsets: [0] }), /data_offsets \[0\] is not \[begin, end\]/);
  assertRejects(e({ dtype: 'F32', shape: [1], data_offsets: [0, '4'] }), /data_offsets/);
  assertRejects(e({ dtype: 'F32', shape: [1] }), /data_offsets undefined/);
  assertRejects(e({ dtype: 'F32', shape: [0], data_offsets: [4, 0] }), /begin 4 > end 0/);
  assertRejects(e({ dtype: 'F32', shape: [2], data_offsets: [0, 8] }), /end 8 is past the 4-byte data buffer/);
  assertRejects(e({ dtype: 'F32', shape: [2], data_offsets: [0, 4] }), /4 bytes, but F32 \[2\] needs 8/);
  assertRejects(e({ dtype: 'F64', shape: [1], data_offsets: [0, 4] }), /needs 8/);
  assertRejects(e({ dtype: 'F32', shape: [2 ** 30, 2 ** 30, 2 ** 30], data_offsets: [0, 4] }), /needs/);
  assertRejects(e('nope'), /tensor "w": entry is not an object/);
  assertRejects(rawFile({ __metadata__: { a: 1 } }), /__metadata__\["a"\] is not a string/);
  assertRejects(rawFile({ __metadata__: ['a'] }), /__metadata__ is not an object/);
});

test('rejects overlapping offsets, holes and duplicates', () => {
  const t = (b: number, e: number) => ({ dtype: 'F32', shape: [(e - b) / 4], data_offsets: [b, e] });
  assertRejects(rawFile({ a: t(0, 8), b: t(4, 12) }, 12), /tensor "b" \[4,12\] overlaps tensor "a" \[0,8\]/);
  assertRejects(rawFile({ a: t(0, 8), b: t(0, 8) }, 8), /overlaps/);
  assertRejects(rawFile({ a: t(0, 4), b: t(8, 12) }, 12), /data bytes \[4,8\) belong to no tensor/);
  assertRejects(rawFile({ a: t(0, 4) }, 8), /data bytes \[4,8\) belong to no tensor/);
  assertRejects(rawFile('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', 1),
    /duplicate key "a"/);
  // Same key names in different objects are fine; empty tensors may share an offset.
  const ok = parseSafetensors(rawFile({ a: t(0, 4), e: t(4, 4), b: t(4, 8), __metadata__: { a: 'x' } }, 8));
  assert.deepEqual([...ok.tensors.keys()], ['a', 'e', 'b']);
});

test('error names the file it came from', (t) => {
  const dir = tmpDir();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'broken.safetensors');
  fs.writeFileSync(file, rawFile({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 4] } }, 4));
  assert.throws(() => readSafetensors(file), (e: Error) => e.message.startsWith(`${file}: tensor "w"`));
});
