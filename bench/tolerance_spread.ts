// node dist/bench/tolerance_spread.js [--tests dist/test/nn/parity.test.js,...] [--out bench/tolerance-spread.json]
// Measures how far float32 results move between kernel sets, to justify the tests' tolerances against numbers
// computed on another machine (golden.json, PyTorch constants). One machine can run several kernel sets: ATen's
// vectorised kernels are capped by ATEN_CPU_CAPABILITY and oneDNN's convolutions by ONEDNN_MAX_CPU_ISA, so an
// AVX-512 machine also measures what an AVX2-only one computes. Runs the comparing tests once per kernel set with
// ADVEXP_TOLERANCE_LOG (test/helpers/close.ts logs each comparison's scaled error |a − b| / max|ref|), then prints
// per comparison the largest error over all sets and its tolerance's margin (rtol / error; ∞ when identical).
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeJsonAtomic } from '../src/io/atomic.js';

const here = path.dirname(fileURLToPath(import.meta.url));           // dist/bench
const root = path.resolve(here, '..', '..');

// name → environment. ISA names are oneDNN 2.x's; a cap above what the CPU has is the CPU's own set.
const KERNEL_SETS: Record<string, Record<string, string>> = {
  'native': {},
  'AVX2 (ATen AVX2, oneDNN AVX2)': { ATEN_CPU_CAPABILITY: 'avx2', ONEDNN_MAX_CPU_ISA: 'AVX2' },
  'AVX-512 (ATen AVX512, oneDNN AVX512_CORE)': { ATEN_CPU_CAPABILITY: 'avx512', ONEDNN_MAX_CPU_ISA: 'AVX512_CORE' },
  'no AVX (ATen default, oneDNN SSE4.1)': { ATEN_CPU_CAPABILITY: 'default', ONEDNN_MAX_CPU_ISA: 'SSE41' },
};

const { values: a } = parseArgs({
  options: {
    tests: { type: 'string', default: ['nn/parity', 'attack/reference-nets', 'explain/reference-nets'].map((t) => `dist/test/${t}.test.js`).join(',') },
    out: { type: 'string', default: path.join(root, 'bench', 'tolerance-spread.json') },
  },
});

interface Entry { what: string; err: number; rtol: number; atol: number; cpu: string }
const worst = new Map<string, { err: number; rtol: number; set: string; perSet: Record<string, number> }>();
const cpus: Record<string, string> = {};
const failures: string[] = [];
for (const [set, env] of Object.entries(KERNEL_SETS)) {
  const log = path.join(os.tmpdir(), `advexp-tolerance-${process.pid}.jsonl`);
  fs.rmSync(log, { force: true });
  process.stdout.write(`${set}: running ${a.tests!.split(',').length} test file(s)… `);
  const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...a.tests!.split(',')],
    { cwd: root, encoding: 'utf8', env: { ...process.env, ...env, ADVEXP_TOLERANCE_LOG: log } });
  const summary = /# pass (\d+)[\s\S]*# fail (\d+)/.exec(r.stdout);
  console.log(summary ? `${summary[1]} passed, ${summary[2]} failed` : `exit ${r.status}`);
  if (r.status !== 0) failures.push(`${set}: ${(r.stdout.match(/^not ok .*$/gm) ?? []).join('; ')}`);
  const entries: Entry[] = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Entry) : [];
  fs.rmSync(log, { force: true });
  for (const e of entries) {
    cpus[set] = e.cpu;
    const w = worst.get(e.what) ?? { err: -1, rtol: e.rtol, set, perSet: {} };
    w.perSet[set] = Math.max(w.perSet[set] ?? 0, e.err);
    if (e.err > w.err) Object.assign(w, { err: e.err, set });
    worst.set(e.what, w);
  }
}

// Group by the comparison's kind (the name without the net) for a short table: the tightest margin of each kind.
const isControl = (what: string): boolean => what.includes('negative control');
const controls = [...worst.entries()].filter(([what]) => isControl(what)).map(([what, w]) => {
  // The smallest error a wrong op produced, over all kernel sets: it must stay far above its tolerance.
  const least = Math.min(...Object.values(w.perSet));
  return { what, least_scaled_error: least, rtol: w.rtol, times_rtol: least / w.rtol };
});
const r3 = (v: number): number => Number(v.toPrecision(3));
const rows = [...worst.entries()].filter(([what]) => !isControl(what)).map(([what, w]) => ({
  what, max_scaled_error: r3(w.err), rtol: w.rtol, margin: w.err > 0 ? r3(w.rtol / w.err) : null, worst_set: w.set,
  per_set: Object.fromEntries(Object.entries(w.perSet).map(([k, v]) => [k, r3(v)])),
}));
rows.sort((x, y) => (x.margin ?? Infinity) - (y.margin ?? Infinity));
console.log('\ntightest comparisons (margin = rtol / largest scaled error over all kernel sets):');
console.log('margin      error       rtol      comparison (worst kernel set)');
for (const r of rows.slice(0, 25)) {
  console.log(`${(r.margin === null ? '∞' : r.margin.toFixed(1)).padStart(8)}  ${r.max_scaled_error.toExponential(2).padStart(9)}  ${String(r.rtol).padStart(8)}  ${r.what} (${r.worst_set})`);
}
if (controls.length) {
  console.log('\nnegative controls (a deliberately wrong op; the error must be far above the tolerance):');
  for (const c of controls) console.log(`${c.times_rtol.toFixed(0).padStart(8)}× rtol  ${c.least_scaled_error.toExponential(2)}  ${c.what}`);
}
if (failures.length) console.log(`\nfailures:\n  ${failures.join('\n  ')}`);
writeJsonAtomic(a.out!, { cpus, kernel_sets: KERNEL_SETS, tests: a.tests!.split(','), failures, negative_controls: controls, rows });
console.log(`wrote ${a.out}`);
