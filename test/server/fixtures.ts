// Fixtures for the server and browser tests, made by the tests themselves: tiny models, a small CIFAR file, PNG and
// JPEG pictures, a folder of saved eval results, and multipart bodies built by hand (so every malformed case can be
// sent exactly as a misbehaving client would).
import fs from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import pngjs from 'pngjs';
import jpeg from 'jpeg-js';
import { manualSeed } from '../../src/engine/index.js';
import { PreActResNet } from '../../src/nn/index.js';
import { saveModel } from '../../src/io/model-file.js';
import { makeBatch, cyclicLabels } from '../data/make-cifar.js';
import { repoRoot } from '../helpers/shared.js';

export function tmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A tiny pre-activation ResNet saved to `file` (seeded, so two seeds give two different nets). */
export function tinyModel(file: string, seed: number): string {
  manualSeed(seed);
  const net = new PreActResNet({ depth: 8, widths: [4, 8, 8] });
  saveModel(file, net, { class_names: JSON.stringify(['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']) });
  net.dispose();
  return file;
}

/** A CIFAR-10 binary batch of n records, labels cycling 0..9. */
export function cifarFile(file: string, n: number): string {
  fs.writeFileSync(file, makeBatch(cyclicLabels(n)));
  return file;
}

/** A w×h RGB test picture: a gradient with a bright disc, as PNG. */
export function pngImage(w: number, h: number, seed = 0): Buffer {
  const png = new pngjs.PNG({ width: w, height: h });
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 4;
      const inDisc = (x - w / 2) ** 2 + (y - h / 2) ** 2 < (Math.min(w, h) / 4) ** 2;
      png.data[i] = inDisc ? 230 : (x * 255 / w + seed * 40) % 256;
      png.data[i + 1] = inDisc ? 200 : (y * 255 / h) % 256;
      png.data[i + 2] = inDisc ? 40 : ((x + y) * 127 / (w + h) + seed * 13) % 256;
      png.data[i + 3] = 255;
    }
  }
  return pngjs.PNG.sync.write(png);
}

export function jpegImage(w: number, h: number): Buffer {
  const data = Buffer.alloc(w * h * 4);
  for (let i = 0; i < w * h; i++) { data[i * 4] = (i * 3) % 256; data[i * 4 + 1] = (i * 7) % 256; data[i * 4 + 2] = 128; data[i * 4 + 3] = 255; }
  return jpeg.encode({ data, width: w, height: h }, 90).data;
}

/** A PNG whose header claims width × height but which holds no real image data. */
export function pngClaiming(width: number, height: number): Buffer {
  const b = Buffer.from(pngImage(4, 4));
  b.writeUInt32BE(width, 16);
  b.writeUInt32BE(height, 20);
  return b;
}

/** A folder like `advexp eval --json r.json --plot r.png` leaves, plus things that must not be listed. */
export function resultsDir(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const one = (model: string, acc: number): Record<string, unknown> => ({
    model: `/somewhere/${model}`, n: 100, accuracy: acc, ara: { attack: { exact: 0.0123, histogram: 0.0124 }, btr: { exact: 0.0234, histogram: 0.0235 } },
    distances: { attack: [0.1, 0.2] }, curves: {}, pgd: { linf: { eps: 8 / 255, steps: 40, accuracy: 0.25 }, l2: { eps: 0.5, steps: 50, accuracy: 0.4 } }, seconds: 3,
  });
  fs.writeFileSync(path.join(dir, 'eval-two.json'), JSON.stringify({ models: [one('a.safetensors', 0.81), one('b.safetensors', 0.72)], settings: { steps: 450, eps: 20, data: '/data/test_batch.bin' } }));
  fs.writeFileSync(path.join(dir, 'eval-one.json'), JSON.stringify({ ...one('c.safetensors', 0.9), settings: { steps: 450 } }));
  fs.writeFileSync(path.join(dir, 'notes.json'), JSON.stringify({ hello: 'world' }));
  fs.writeFileSync(path.join(dir, 'broken.json'), '{ not json');
  fs.writeFileSync(path.join(dir, 'ara.png'), pngImage(120, 80, 3));
  fs.writeFileSync(path.join(dir, 'ara.svg'), '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10" fill="red"/></svg>');
  fs.writeFileSync(path.join(dir, 'readme.txt'), 'not a result');
  fs.writeFileSync(path.join(dir, '.hidden.json'), '{}');
  try { fs.symlinkSync('/etc/passwd', path.join(dir, 'passwd.json')); } catch { /* no symlinks here: nothing to check */ }
  return dir;
}

export interface FilePart { field: string; filename: string; type?: string; data: Buffer }

/** A multipart/form-data body and its content-type header. */
export function multipart(fields: Record<string, string | string[]>, files: FilePart[] = []): { payload: Buffer; headers: Record<string, string> } {
  const boundary = `----advexp-test-${Math.random().toString(16).slice(2)}`;
  const chunks: Buffer[] = [];
  for (const [k, vs] of Object.entries(fields)) {
    for (const v of Array.isArray(vs) ? vs : [vs]) {
      chunks.push(Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`));
    }
  }
  for (const f of files) {
    chunks.push(Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="${f.field}"; filename="${f.filename}"\r\ncontent-type: ${f.type ?? 'application/octet-stream'}\r\n\r\n`));
    chunks.push(f.data, Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

export interface Served { proc: ChildProcess; url: string; out: () => string; err: () => string; exited: Promise<number | null> }

/** Starts `advexp serve …` on a free port and resolves once it prints its address. */
export function startServe(args: string[], timeoutMs = 60_000): Promise<Served> {
  const cli = path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
  const proc = spawn(process.execPath, [cli, 'serve', '--port', '0', '--threads', '1', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`serve did not start: ${out}${err}`)); }, timeoutMs);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+?)\/? /.exec(out);
      if (m) { clearTimeout(timer); resolve({ proc, url: m[1]!, out: () => out, err: () => err, exited }); }
    });
    proc.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`serve exited with ${code} before listening: ${out}${err}`)); });
  });
}
