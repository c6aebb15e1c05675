// Fuzz test of every input file advexp reads (issue 18): seeded mutations (test/fuzz/mutate.ts: bit flips, byte
// inserts and deletes, truncation, length-field edits, header-JSON and model-config edits, CIFAR label bytes, PNG
// chunks with fixed CRCs, JPEG segments) of small valid files made here: a safetensors file (writeSafetensors), a
// model file (saveModel of a tiny PreActResNet), a CIFAR-10 batch of 4 records, a PNG (pngjs) and a JPEG (jpeg-js).
//
// In process (test/fuzz/worker.ts, a child the test can stop): readSafetensors, loadModel, readCifarBatch and
// loadDataset, decodeImage and loadImageFolder must each return a consistent result or throw an Error whose message
// is one line, names the file and is not a raw TypeError/RangeError; never a crash, a hang (30 s per mutant), a
// non-Error throw, or resident memory above the bound (polled from /proc while it runs, and the child's own peak).
// Through the CLI, a sample of the mutants: `advexp predict --model M --data D --limit 1` (model and CIFAR
// mutants) and `advexp explain IMAGE` (PNG, JPEG) must exit 0, or 2 with the file named on stderr; never another
// code, a signal, a stack trace ("    at " lines), a hang, or a peak RSS above the bound (each CLI process reports
// its own getrusage peak on exit through test/fuzz/report-rss.ts, and is polled while it runs).
//
// Budget: a fixed count in CI (COUNT mutants, a few seconds); ADVEXP_FUZZ_SECONDS=N runs for N seconds instead
// (and samples more mutants through the CLI). ADVEXP_FUZZ_SEED=S changes the seed (printed either way);
// ADVEXP_FUZZ_ONLY=kind:index[,kind:index…] replays single mutants; ADVEXP_FUZZ_MAX_RSS_MB sets the bound (1536).
// A failing mutant's bytes are kept under $TMPDIR/advexp-fuzz-failures-SEED/.
//
// Known issues not fixed in this tree are skipped only with a loud message, and only while a probe shows them
// unfixed: a real PNG just over the pixel limit decoded (finding 1: 'pixels' mutants are then not decoded), model
// configs that do not fit the tensors not refused with a one-line error naming the file (findings 3, 11: configs
// asking for huge networks are then not loaded, and message faults of config-edited mutants are listed, not failed).
// Once the fixes are merged the probes pass and every class is strict.
//
// TorchScript files join the fuzz set when the TorchScript loader lands; they are to be loaded in a child process
// (as the worker does here), since libtorch's loader may abort on hostile input.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { pathToFileURL } from 'node:url';
import { writeSafetensors, readSafetensors } from '../../src/io/safetensors.js';
import * as dataImages from '../../src/data/images.js';
import { repoRoot } from '../helpers/shared.js';
import { tmpDir, tinyModel, cifarFile, pngImage, jpegImage } from '../server/fixtures.js';
import { KINDS, EXT, mutant, crc32, type Kind } from './mutate.js';
import type { Job, MutantReport, ProbeReport, ProbeFiles, LoaderResult, KnownIssue } from './worker.js';

const SEED = process.env.ADVEXP_FUZZ_SEED === undefined ? 18_2019 : Number(process.env.ADVEXP_FUZZ_SEED);
const SECONDS = process.env.ADVEXP_FUZZ_SECONDS === undefined ? null : Number(process.env.ADVEXP_FUZZ_SECONDS);
const COUNT = 300; // 60 of each kind
const MAX_RSS = Number(process.env.ADVEXP_FUZZ_MAX_RSS_MB ?? 1536) * 1024 * 1024;
const MUTANT_TIMEOUT_MS = 30_000;
const CLI_TIMEOUT_MS = 120_000;
const ONLY = process.env.ADVEXP_FUZZ_ONLY === undefined ? null : process.env.ADVEXP_FUZZ_ONLY.split(',').map((s) => {
  const [k, i] = s.split(':');
  const kind = KINDS.indexOf(k as Kind);
  if (kind < 0 || !/^\d+$/.test(i ?? '')) throw new Error(`ADVEXP_FUZZ_ONLY: '${s}' is not kind:index (kinds ${KINDS.join(', ')})`);
  return Number(i) * KINDS.length + kind;
}).sort((a, b) => a - b);
assert.ok(Number.isSafeInteger(SEED), `ADVEXP_FUZZ_SEED: not an integer: ${process.env.ADVEXP_FUZZ_SEED}`);
assert.ok(SECONDS === null || SECONDS > 0, `ADVEXP_FUZZ_SECONDS: not a positive number: ${process.env.ADVEXP_FUZZ_SECONDS}`);

/**
 * The pixel limit of data/images.ts once it has one (finding 1; read by name, so this file compiles before and after
 * it lands), else the server's 4096 × 4096.
 */
const PIXEL_LIMIT = ((): number => {
  const mod = dataImages as unknown as Record<string, unknown>;
  const v = mod.MAX_IMAGE_PIXELS ?? mod.MAX_PIXELS;
  return typeof v === 'number' ? v : 4096 * 4096;
})();

const root = repoRoot();
const workerJs = path.join(root, 'dist', 'test', 'fuzz', 'worker.js');
const cliJs = path.join(root, 'dist', 'src', 'cli', 'main.js');
const rssJs = pathToFileURL(path.join(root, 'dist', 'test', 'fuzz', 'report-rss.js')).href;
const tmp = tmpDir('advexp-fuzz-');
const failDir = path.join(os.tmpdir(), `advexp-fuzz-failures-${SEED}`);
const bases = {} as Record<Kind, string>;
let probeFiles: ProbeFiles;
const mb = (b: number): string => `${Math.round(b / 1048576)} MB`;

before(() => {
  console.log(`fuzz: seed ${SEED} (ADVEXP_FUZZ_SEED), ${SECONDS === null ? `${COUNT} mutants (ADVEXP_FUZZ_SECONDS=N for longer)` : `${SECONDS} s`}, memory bound ${mb(MAX_RSS)}, pixel limit ${PIXEL_LIMIT}`);
  bases.model = tinyModel(path.join(tmp, 'base-model.safetensors'), 5);
  bases.safetensors = path.join(tmp, 'base.safetensors');
  writeSafetensors(bases.safetensors, {
    w: { dtype: 'F32', shape: [2, 3], data: Float32Array.from([1, -2, 3.5, 0, 1e-3, 7]) },
    i: { dtype: 'I64', shape: [3], data: BigInt64Array.from([1n, -1n, 9n]) },
    b: { dtype: 'U8', shape: [4], data: Uint8Array.from([0, 1, 2, 255]) },
    h: { dtype: 'F16', shape: [2, 2], data: Float32Array.from([0.5, -1, 2, 65504]) },
    g: { dtype: 'BF16', shape: [3], data: Float32Array.from([1, 2, 3]) },
    s: { dtype: 'F32', shape: [], data: Float32Array.from([42]) },
    e: { dtype: 'F32', shape: [0, 3], data: new Float32Array(0) },
    q: { dtype: 'BOOL', shape: [2], data: Uint8Array.from([0, 1]) },
  }, { note: 'fuzz base', json: '{"a":[1,2]}' });
  bases.cifar = cifarFile(path.join(tmp, 'base.bin'), 4);
  bases.png = path.join(tmp, 'base.png');
  fs.writeFileSync(bases.png, pngImage(16, 12, 2));
  bases.jpeg = path.join(tmp, 'base.jpg');
  fs.writeFileSync(bases.jpeg, jpegImage(16, 16));

  // Probes (worker.ts probe): a real grey PNG one row over the pixel limit, a 4×4 one whose second IHDR claims as
  // much, model configs that do not fit, a PNG of width 0.
  const side = Math.ceil(Math.sqrt(PIXEL_LIMIT)) + 1;
  probeFiles = { pixels: path.join(tmp, 'probe-pixels.png'), secondIhdr: path.join(tmp, 'probe-second-ihdr.png'), models: [], empty: path.join(tmp, 'probe-empty.png') };
  fs.writeFileSync(probeFiles.pixels, greyPng(side, side));
  fs.writeFileSync(probeFiles.secondIhdr, secondIhdr(greyPng(4, 4), side, side));
  fs.writeFileSync(probeFiles.empty, greyPng(0, 12));
  const st = readSafetensors(bases.model);
  const config = JSON.parse(st.metadata.advexp_model!) as Record<string, unknown>;
  const edits: Record<string, unknown>[] = [{ depth: -1 }, { inputOffset: 'x' }, { depth: 2000 }, { widths: [4, 8, 16.5] }, { classes: 0 }];
  for (const [k, e] of edits.entries()) {
    const f = path.join(tmp, `probe-config-${k}.safetensors`);
    writeSafetensors(f, st.tensors, { ...st.metadata, advexp_model: JSON.stringify({ ...config, ...e }) });
    probeFiles.models.push(f);
  }
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A w×h 8-bit grey PNG, all black (compresses to a few KB whatever its size). */
function greyPng(w: number, h: number): Buffer {
  const chunk = (type: string, data: Buffer): Buffer => {
    const c = Buffer.alloc(12 + data.length);
    c.writeUInt32BE(data.length, 0); c.write(type, 4, 'latin1'); data.copy(c, 8);
    c.writeUInt32BE(crc32(c.subarray(4, 8 + data.length)), 8 + data.length);
    return c;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4); ihdr[8] = 8; ihdr[9] = 0;
  const idat = zlib.deflateSync(Buffer.alloc(h * (w + 1)), { level: 1 });
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]);
}

/** `png` with a copy of its IHDR inserted after the first, claiming w×h (CRC fixed). */
function secondIhdr(png: Buffer, w: number, h: number): Buffer {
  const ihdr = Buffer.from(png.subarray(8, 33));
  ihdr.writeUInt32BE(w, 8); ihdr.writeUInt32BE(h, 12);
  ihdr.writeUInt32BE(crc32(ihdr.subarray(4, 21)), 21);
  return Buffer.concat([png.subarray(0, 33), ihdr, png.subarray(33)]);
}

/** Resident memory of a running process in bytes (0 once it is gone). */
function rssOf(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Polls a child's memory and its progress; kills it past the bound or the time limit, saying why. */
function watch(proc: ChildProcess, stuck: () => boolean): { reason: () => string | null; peak: () => number; stop: () => void } {
  let reason: string | null = null;
  let peak = 0;
  const timer = setInterval(() => {
    const rss = rssOf(proc.pid);
    peak = Math.max(peak, rss);
    if (reason !== null) return;
    if (rss > MAX_RSS) reason = `resident memory ${mb(rss)} above the ${mb(MAX_RSS)} bound`;
    else if (stuck()) reason = 'no answer within the time limit (a hang)';
    if (reason !== null) proc.kill('SIGKILL');
  }, 25);
  return { reason: () => reason, peak: () => peak, stop: () => clearInterval(timer) };
}

interface WorkerRun { reports: MutantReport[]; probe: ProbeReport | null; current: number | null; fault: string | null; maxRss: number; stderr: string }

function runWorker(job: Job): Promise<WorkerRun> {
  const env: NodeJS.ProcessEnv = { ...process.env, ADVEXP_FUZZ_JOB: JSON.stringify(job) };
  delete env.ADVEXP_DEBUG;
  const proc = spawn(process.execPath, ['--max-old-space-size=1024', workerJs], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: WorkerRun = { reports: [], probe: null, current: null, fault: null, maxRss: 0, stderr: '' };
  let since = Date.now();
  let buf = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const l = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      since = Date.now();
      if (l.startsWith('B ')) out.current = Number(l.slice(2));
      else if (l.startsWith('R ')) { out.reports.push(JSON.parse(l.slice(2)) as MutantReport); out.current = null; }
      else if (l.startsWith('P ')) out.probe = JSON.parse(l.slice(2)) as ProbeReport;
      else if (l.startsWith('E ')) out.maxRss = (JSON.parse(l.slice(2)) as { maxRss: number }).maxRss;
    }
  });
  proc.stderr!.on('data', (d: Buffer) => { out.stderr = (out.stderr + d.toString()).slice(-4000); });
  const w = watch(proc, () => Date.now() - since > (out.current === null ? 90_000 : MUTANT_TIMEOUT_MS));
  return new Promise((resolve) => {
    proc.on('close', (code, signal) => {
      w.stop();
      out.maxRss = Math.max(out.maxRss, w.peak());
      if (w.reason() !== null) out.fault = w.reason();
      else if (code !== 0 || signal !== null) out.fault = `the process ended with ${signal ?? `exit code ${code}`}: ${out.stderr.trim().split('\n').slice(-3).join(' | ')}`;
      resolve(out);
    });
  });
}

interface Violation { what: string; why: string; known?: string }

/**
 * Known issues, each with its probe (worker.ts): while the probe fails, mutants tagged `skip` are not tried and
 * loader faults of mutants tagged `tolerate` are listed, not failed, with a loud message. Fixed: strict again.
 */
const KNOWN: Record<KnownIssue, { what: string; skip: string; tolerate?: string }> = {
  pixels: { what: 'finding 1: no pixel limit outside the server (data/images.ts decodeImage)', skip: 'pixels' },
  secondIhdr: { what: 'a PNG whose second IHDR claims a huge picture passes a check of the first (pngjs decodes the second\'s size): 136 bytes cost the server 2 s and 540 MB for 6000×6000 before its 400', skip: 'pixels-second-ihdr' },
  model: { what: 'findings 3/11: model configs are not checked against the tensors (io/model-file.ts loadModel)', skip: 'model-config-size', tolerate: 'model-config' },
  empty: { what: 'a PNG of width or height 0 decodes (data/images.ts decodeImage); libtorch\'s resize then fails without naming the file (loadImageFolder; advexp explain exits 1)', skip: 'empty-image' },
};
const ISSUES = Object.keys(KNOWN) as KnownIssue[];
const unfixed = (): KnownIssue[] => (probe === null ? [] : ISSUES.filter((k) => !probe![k].fixed));
const reports = new Map<number, MutantReport>();
let probe: ProbeReport | null = null;

function describe(kind: Kind, index: number): string {
  try { return mutant(SEED, kind, index, fs.readFileSync(bases[kind])).desc; } catch (e) { return `the mutator threw: ${String(e)}`; }
}

function keep(kind: Kind, index: number, desc: string): string {
  fs.mkdirSync(failDir, { recursive: true });
  const f = path.join(failDir, `${kind}-${index}.${EXT[kind]}`);
  try { fs.writeFileSync(f, mutant(SEED, kind, index, fs.readFileSync(bases[kind])).bytes); } catch { return '(not kept: the mutator threw)'; }
  fs.writeFileSync(`${f}.txt`, `seed ${SEED}, ${kind} #${index}: ${desc}\nreplay: ADVEXP_FUZZ_SEED=${SEED} ADVEXP_FUZZ_ONLY=${kind}:${index} node --test dist/test/fuzz/\n`);
  return f;
}

test('fuzz: every loader answers each mutant with a result or a one-line error naming the file', { timeout: 30 * 60_000 }, async () => {
  const t0 = Date.now();
  const deadline = SECONDS === null ? null : t0 + SECONDS * 1000;
  const violations: Violation[] = [];
  let probed = false;
  let from = 0;
  let maxRss = 0;
  for (let restarts = 0; restarts < 100; restarts++) {
    if (!probed) {
      // First the probes alone: which known issues are fixed here decides which classes are tried.
      const run = await runWorker({ seed: SEED, dir: tmp, bases, from: 0, to: 0, deadline: null, only: null, skip: [], probes: probeFiles, pixelLimit: PIXEL_LIMIT });
      maxRss = Math.max(maxRss, run.maxRss);
      if (run.probe === null) violations.push({ what: 'the probes', why: run.fault ?? 'no probe report' }); // a finding too
      probe = run.probe ?? Object.fromEntries(ISSUES.map((k) => [k, { fixed: false, detail: `probe failed: ${run.fault}` }])) as ProbeReport;
      probed = true;
      continue;
    }
    const skip = unfixed().map((k) => KNOWN[k].skip);
    const run = await runWorker({
      seed: SEED, dir: tmp, bases, from, to: SECONDS === null ? COUNT : null, deadline, only: ONLY, skip, probes: null, pixelLimit: PIXEL_LIMIT,
    });
    maxRss = Math.max(maxRss, run.maxRss);
    for (const r of run.reports) reports.set(r.j, r);
    if (run.fault === null) break;
    if (run.current === null) { violations.push({ what: 'worker', why: run.fault }); break; }
    const kind = KINDS[run.current % KINDS.length]!;
    const index = Math.floor(run.current / KINDS.length);
    const desc = describe(kind, index);
    violations.push({ what: `${kind} #${index} (${desc})`, why: `${run.fault}; kept as ${keep(kind, index, desc)}` });
    from = run.current + 1;
  }
  assert.ok(probe !== null, 'the probes ran');
  const open = unfixed();

  // Judge every loader's answer; faults of a known issue's class are listed while its probe fails.
  const notes: string[] = [];
  for (const r of [...reports.values()].sort((a, b) => a.j - b.j)) {
    for (const l of r.results) {
      if (l.outcome !== 'violation') continue;
      const v: Violation = { what: `${r.kind} #${r.index} (${r.desc})`, why: `${l.loader}: ${l.why}${l.message === undefined ? '' : `: "${l.message}"`}` };
      const issue = open.find((k) => KNOWN[k].tolerate !== undefined && r.tags.includes(KNOWN[k].tolerate!));
      if (issue !== undefined) v.known = issue;
      else v.why += `; kept as ${keep(r.kind, r.index, r.desc)}`;
      violations.push(v);
    }
    for (const l of r.results) {
      if (l.outcome === 'error' && /is not iterable|Cannot read propert|is not a function|Maximum call stack|Invalid array length|Invalid typed array length|outside the bounds/.test(l.message ?? '')) {
        notes.push(`${r.kind} #${r.index}: ${l.loader}: "${l.message}"`);
      }
    }
  }

  // What ran, per kind.
  const all = [...reports.values()];
  const rows = KINDS.map((k) => {
    const rs = all.filter((r) => r.kind === k);
    const ran = rs.filter((r) => !r.skipped);
    const worst = (r: MutantReport): LoaderResult['outcome'] => (['violation', 'error', 'ok'] as const).find((o) => r.results.some((l) => l.outcome === o)) ?? 'ok';
    const count = (o: LoaderResult['outcome']): number => ran.filter((r) => worst(r) === o).length;
    return `${k}: ${ran.length} tried (${count('ok')} loaded, ${count('error')} refused, ${count('violation')} faulty), ${rs.length - ran.length} skipped`;
  });
  console.log(`fuzz: ${all.length} mutants in ${((Date.now() - t0) / 1000).toFixed(1)} s, worker peak RSS ${mb(maxRss)}\n  ${rows.join('\n  ')}`);
  const loud = (s: string): void => console.log(`\n*** KNOWN ISSUE, not fixed in this tree: ${s} ***\n`);
  for (const k of open) {
    const skipped = all.filter((r) => r.skipped && r.tags.includes(KNOWN[k].skip)).length;
    const tolerated = violations.filter((v) => v.known === k);
    loud(`${KNOWN[k].what}. Probe: ${probe[k].detail}. ${skipped} mutant(s) of class '${KNOWN[k].skip}' not tried`
      + (KNOWN[k].tolerate === undefined ? '' : `; ${tolerated.length} fault(s) of class '${KNOWN[k].tolerate}' listed, not failed:\n    ${tolerated.slice(0, 12).map((v) => `${v.what}: ${v.why}`).join('\n    ')}`));
  }
  if (notes.length > 0) console.log(`fuzz: ${notes.length} refusals quote a raw JavaScript message inside a proper one (not failed), e.g.:\n    ${notes.slice(0, 3).join('\n    ')}`);

  const real = violations.filter((v) => v.known === undefined);
  assert.ok(maxRss <= MAX_RSS, `worker peak RSS ${mb(maxRss)} above the ${mb(MAX_RSS)} bound`);
  assert.equal(real.length, 0, `${real.length} mutant(s) broke the contract (seed ${SEED}):\n${real.slice(0, 30).map((v) => `  ${v.what}: ${v.why}`).join('\n')}`);
  assert.ok(all.filter((r) => !r.skipped).length >= (ONLY?.length ?? (SECONDS === null ? COUNT * 0.7 : 1)), 'most mutants were tried');
});

interface CliRun { code: number | null; signal: string | null; stdout: string; stderr: string; peak: number; fault: string | null }

function runCli(args: string[]): Promise<CliRun> {
  const env: NodeJS.ProcessEnv = { ...process.env, ADVEXP_FUZZ_RSS_FD: '3' };
  delete env.ADVEXP_DEBUG;
  delete env.ADVEXP_FUZZ_JOB;
  const proc = spawn(process.execPath, ['--max-old-space-size=1024', '--import', rssJs, cliJs, ...args], { env, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
  let stdout = '', stderr = '', rss = '';
  proc.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
  proc.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  (proc.stdio[3] as NodeJS.ReadableStream).on('data', (d: Buffer) => { rss += d.toString(); });
  const t0 = Date.now();
  const w = watch(proc, () => Date.now() - t0 > CLI_TIMEOUT_MS);
  return new Promise((resolve) => {
    proc.on('close', (code, signal) => {
      w.stop();
      const self = Number(rss.trim()) * 1024;
      resolve({ code, signal, stdout, stderr, peak: Math.max(w.peak(), Number.isFinite(self) ? self : 0), fault: w.reason() });
    });
  });
}

test('fuzz through the CLI: predict and explain exit 0, or 2 naming the file; no stack trace, signal, hang or memory blow-up', { timeout: 30 * 60_000 }, async () => {
  const perKind = SECONDS === null ? 1 : Math.max(1, Math.round(SECONDS / 20));
  const open = unfixed();
  const excluded = open.flatMap((k) => [KNOWN[k].skip, ...(KNOWN[k].tolerate === undefined ? [] : [KNOWN[k].tolerate!])]);
  // Prefer mutants the loaders refused for model and CIFAR files (the error path), and ones they accepted for images
  // (the whole explain pipeline on an odd picture), plus one of the other kind for model files; fresh ones if the
  // in-process test did not run.
  const pickFrom = (kind: Kind, want: 'error' | 'ok', n: number): number[] => {
    const rs = [...reports.values()].filter((r) => r.kind === kind && !r.skipped && r.results.every((l) => l.outcome === want))
      .filter((r) => !r.tags.some((t) => excluded.includes(t)));
    const got = rs.sort((a, b) => a.index - b.index).slice(0, n).map((r) => r.index);
    for (let i = 1_000_000; got.length < n; i++) got.push(i);
    return got;
  };
  const plan: { kind: Kind; index: number }[] = [
    ...pickFrom('model', 'error', perKind).map((index) => ({ kind: 'model' as const, index })),
    ...pickFrom('model', 'ok', perKind).map((index) => ({ kind: 'model' as const, index })),
    ...pickFrom('cifar', 'error', perKind).map((index) => ({ kind: 'cifar' as const, index })),
    ...pickFrom('png', 'ok', perKind).map((index) => ({ kind: 'png' as const, index })),
    ...pickFrom('jpeg', 'ok', perKind).map((index) => ({ kind: 'jpeg' as const, index })),
  ];
  const problems: string[] = [];
  for (const { kind, index } of plan) {
    const m = mutant(SEED, kind, index, fs.readFileSync(bases[kind]));
    const file = path.join(tmp, `cli-${kind}-${index}.${EXT[kind]}`);
    fs.writeFileSync(file, m.bytes);
    const out = path.join(tmp, `cli-out-${kind}-${index}`);
    const args = kind === 'png' || kind === 'jpeg'
      ? ['explain', file, '--model', bases.model, '--out', out, '--methods', 'ae', '--steps', '2', '--threads', '1', '--quiet']
      : ['predict', '--model', kind === 'model' ? file : bases.model, '--data', kind === 'cifar' ? file : bases.cifar, '--limit', '1', '--threads', '1'];
    const r = await runCli(args);
    const what = `${kind} #${index} (${m.desc}): advexp ${args[0]}`;
    const bad: string[] = [];
    if (r.fault !== null) bad.push(r.fault);
    else if (r.signal !== null) bad.push(`killed by ${r.signal}`);
    else if (r.code !== 0 && r.code !== 2) bad.push(`exit code ${r.code}`);
    else if (r.code === 2 && !r.stderr.includes(file)) bad.push('exit 2 without naming the file');
    if (/^\s{4}at /m.test(r.stderr + r.stdout)) bad.push('a stack trace');
    if (r.peak > MAX_RSS) bad.push(`peak RSS ${mb(r.peak)} above the bound`);
    console.log(`fuzz cli: ${what}: ${r.signal ?? `exit ${r.code}`}, peak ${mb(r.peak)}${r.code === 2 ? `: ${r.stderr.trim().split('\n')[0]!.slice(0, 160)}` : ''}`);
    if (bad.length > 0) problems.push(`${what}: ${bad.join(', ')}; stderr: ${r.stderr.trim().slice(0, 400)}; kept as ${keep(kind, index, m.desc)}`);
  }
  assert.equal(problems.length, 0, `seed ${SEED}:\n  ${problems.join('\n  ')}`);
});
