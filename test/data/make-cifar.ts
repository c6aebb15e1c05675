// Test helpers: synthetic CIFAR-10 batch files and temp directories.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import assert from 'node:assert/strict';
import { CIFAR_RECORD_BYTES } from '../../src/data/cifar.js';

export function tmpDir(prefix = 'advexp-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Record r of a batch with `salt`: label labels[r], pixel j = (r·7 + j·13 + salt·31 + (j·j >> 5)) mod 256. */
export function makeBatch(labels: number[], salt = 0): Buffer {
  const buf = Buffer.alloc(labels.length * CIFAR_RECORD_BYTES);
  labels.forEach((l, r) => {
    buf[r * CIFAR_RECORD_BYTES] = l;
    for (let j = 0; j < 3072; j++) buf[r * CIFAR_RECORD_BYTES + 1 + j] = (r * 7 + j * 13 + salt * 31 + ((j * j) >> 5)) % 256;
  });
  return buf;
}

/** Labels 0..9 cycling, n of them, shifted by `shift`. */
export function cyclicLabels(n: number, shift = 0): number[] {
  return Array.from({ length: n }, (_, i) => (i + shift) % 10);
}

/** Learnable synthetic images: class c is a bright square at a class-specific place on a noisy background. */
export function makeLearnableBatch(n: number, seed = 1): Buffer {
  const buf = Buffer.alloc(n * CIFAR_RECORD_BYTES);
  let s = seed >>> 0;
  const rnd = (): number => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; };
  for (let r = 0; r < n; r++) {
    const label = Math.floor(rnd() * 10);
    const at = r * CIFAR_RECORD_BYTES;
    buf[at] = label;
    const cy = 4 + (label % 5) * 5, cx = 6 + Math.floor(label / 5) * 14;
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < 32; y++) {
        for (let x = 0; x < 32; x++) {
          const inSq = Math.abs(y - cy) < 4 && Math.abs(x - cx) < 4;
          buf[at + 1 + c * 1024 + y * 32 + x] = inSq ? 220 : Math.floor(rnd() * 90);
        }
      }
    }
  }
  return buf;
}

/** Asserts fn throws a one-line error that starts with `start` (usually the file name) and matches re. */
export function oneLineError(fn: () => unknown, start: string, re: RegExp): void {
  assert.throws(fn, (e: Error) => {
    assert.ok(e.message.startsWith(start), `${e.message} should start with ${start}`);
    assert.ok(!e.message.includes('\n'), e.message);
    assert.match(e.message, re);
    return true;
  });
}

/**
 * A temp folder (removed at exit) holding a learnable CIFAR batch of `records` images as train.bin, and fresh run
 * folder names inside it: what the training tests start from.
 */
export function trainingFixture(prefix: string, records: number, salt: number): { root: string; data: string; newDir: () => string } {
  const root = tmpDir(prefix);
  process.on('exit', () => fs.rmSync(root, { recursive: true, force: true }));
  const data = path.join(root, 'train.bin');
  fs.writeFileSync(data, makeLearnableBatch(records, salt));
  let runs = 0;
  return { root, data, newDir: () => path.join(root, `run${runs++}`) };
}
