// A small reader for (gzipped) tar archives, enough for the official `cifar-10-binary.tar.gz`:
// POSIX ustar and old-GNU headers, GNU long names ('L'), pax extended headers ('x' path=), header checksums.
// The archive is decompressed in memory with node:zlib; entries are views into that buffer (no copies).
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { errnoOf } from '../io/errors.js';
import { regularFile } from '../io/files.js';

export interface TarEntry {
  /** Path inside the archive, '/'-separated, as stored (prefix + name, or the long/pax name). */
  name: string;
  /** '0' regular file, '5' directory, '2' symlink, … ('\0' is normalised to '0'). */
  type: string;
  /** The entry's bytes: a view into the archive buffer. */
  data: Uint8Array;
}

const BLOCK = 512;

function cstring(b: Uint8Array, start: number, len: number): string {
  let end = start;
  while (end < start + len && b[end] !== 0) end++;
  return Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('utf8');
}

/** Octal (NUL/space terminated) or GNU base-256 numeric field. NaN when malformed. */
function numeric(b: Uint8Array, start: number, len: number): number {
  if ((b[start]! & 0x80) !== 0) {
    let v = b[start]! & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + b[start + i]!;
    return v;
  }
  const s = cstring(b, start, len).trim();
  if (s === '') return 0;
  return /^[0-7]+$/.test(s) ? parseInt(s, 8) : NaN;
}

function isZeroBlock(b: Uint8Array, at: number): boolean {
  for (let i = at; i < at + BLOCK; i++) if (b[i] !== 0) return false;
  return true;
}

function checksumOk(b: Uint8Array, at: number): boolean {
  const stored = numeric(b, at + 148, 8);
  let unsigned = 0, signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const v = i >= 148 && i < 156 ? 0x20 : b[at + i]!;
    unsigned += v;
    signed += v > 127 ? v - 256 : v;
  }
  return stored === unsigned || stored === signed;
}

/** pax records "LEN key=value\n"; returns the path, if any. */
function paxPath(data: Uint8Array): string | undefined {
  const text = Buffer.from(data.buffer, data.byteOffset, data.length).toString('utf8');
  let pos = 0, found: string | undefined;
  while (pos < text.length) {
    const sp = text.indexOf(' ', pos);
    if (sp < 0) break;
    const len = Number(text.slice(pos, sp));
    if (!Number.isInteger(len) || len <= 0) break;
    const rec = text.slice(sp + 1, pos + len - 1);
    const eq = rec.indexOf('=');
    if (eq > 0 && rec.slice(0, eq) === 'path') found = rec.slice(eq + 1);
    pos += len;
  }
  return found;
}

/**
 * The entries of an uncompressed tar image, in archive order. Throws a one-line Error starting with `source`
 * for a bad header checksum, a malformed size, or an entry running past the end (a truncated archive).
 */
export function tarEntries(buf: Uint8Array, source: string): TarEntry[] {
  const out: TarEntry[] = [];
  let pos = 0;
  let longName: string | undefined;
  let paxName: string | undefined;
  while (pos + BLOCK <= buf.length) {
    if (isZeroBlock(buf, pos)) break; // end of archive
    if (!checksumOk(buf, pos)) throw new Error(`${source}: corrupt tar header at byte ${pos} (bad checksum)`);
    const size = numeric(buf, pos + 124, 12);
    if (!Number.isSafeInteger(size) || size < 0) throw new Error(`${source}: corrupt tar header at byte ${pos} (bad size field)`);
    let type = String.fromCharCode(buf[pos + 156]!);
    if (type === '\0') type = '0';
    const magic = cstring(buf, pos + 257, 6);
    const prefix = magic === 'ustar' ? cstring(buf, pos + 345, 155) : '';
    const stored = cstring(buf, pos + 0, 100);
    const start = pos + BLOCK;
    if (start + size > buf.length) throw new Error(`${source}: truncated tar archive (entry '${prefix ? prefix + '/' : ''}${stored}' needs ${size} bytes at byte ${start}, archive has ${buf.length})`);
    const data = buf.subarray(start, start + size);
    pos = start + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'L') { longName = cstring(data, 0, data.length); continue; }
    if (type === 'x') { paxName = paxPath(data); continue; }
    if (type === 'g') continue;
    const name = paxName ?? longName ?? (prefix ? `${prefix}/${stored}` : stored);
    longName = paxName = undefined;
    out.push({ name, type, data });
  }
  return out;
}

/** Reads and gunzips a .tar.gz / .tgz (or reads a plain .tar) into memory; errors name the file. */
export function readTarArchive(file: string): Uint8Array {
  regularFile(file, 'archive');
  let raw: Buffer;
  try {
    raw = fs.readFileSync(file);
  } catch (e) {
    throw new Error(`${file}: cannot read archive (${errnoOf(e)})`);
  }
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      return zlib.gunzipSync(raw, { maxOutputLength: 2 ** 31 - 1 });
    } catch (e) {
      throw new Error(`${file}: corrupt gzip data (${(e as Error).message.split('\n')[0]})`);
    }
  }
  if (/\.(tgz|gz)$/i.test(file)) throw new Error(`${file}: not a gzip file`);
  return raw;
}
