// npm run bench [-- --quick] [--threads 1,2] [--workloads plain,lipschitz,...] [--rounds R]
// Runs every workload on both sides (advexp: bench/ts_bench.ts, PyTorch: bench/torch_bench.py) in
// separate processes with the same environment, alternating the sides so drifts in machine load hit
// both, and keeps each side's best round. Prints images/s and the ratio advexp/PyTorch; writes
// bench/results.json as {"rows": [{"workload", "threads", "advexp", "pytorch", "ratio"}]}.
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeJsonAtomic } from '../src/io/atomic.js';

const here = path.dirname(fileURLToPath(import.meta.url));           // dist/bench
const root = path.resolve(here, '..', '..');
const PYTHON = process.env.ADVEXP_BENCH_PYTHON ?? '/usr/bin/python3';

// script: the pair of per-side scripts (bench/<ts>.ts compiled, bench/<py>.py) that run the workload.
interface Workload { name: string; iters: number; quickIters: number; ts?: string; py?: string }
const WORKLOADS: Workload[] = [
  { name: 'plain', iters: 10, quickIters: 3 },
  { name: 'lipschitz', iters: 6, quickIters: 2 },
  { name: 'infer', iters: 10, quickIters: 4 },
  { name: 'attack', iters: 10, quickIters: 4 },
  // One image, 12 adversarial explanations (true, second, all 10) × 35 steps on the published robust ResNet-44.
  { name: 'ae', iters: 3, quickIters: 1, ts: 'ts_ae.js', py: 'torch_ae.py' },
];

const { values: a } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false }, threads: { type: 'string', default: '1,2' },
    workloads: { type: 'string' }, rounds: { type: 'string' }, out: { type: 'string' },
    // tuned: advexp's default (the addon raises glibc's mmap/trim thresholds) and PyTorch given the same
    // thresholds (--tune-malloc); default: glibc untouched on both sides.
    malloc: { type: 'string', default: 'tuned' },
  },
});
const threads = a.threads!.split(',').map(Number);
const chosen = a.workloads ? WORKLOADS.filter((w) => a.workloads!.split(',').includes(w.name)) : WORKLOADS;
const rounds = Number(a.rounds ?? (a.quick ? 1 : 2));

function runSide(side: 'advexp' | 'pytorch', w: Workload, t: number): number {
  const iters = String(a.quick ? w.quickIters : w.iters);
  const args = ['--workload', w.name, '--threads', String(t), '--iters', iters, '--warmup', a.quick ? '1' : '2'];
  const tuned = a.malloc === 'tuned';
  const r = side === 'advexp'
    ? spawnSync(process.execPath, [path.join(here, w.ts ?? 'ts_bench.js'), ...args],
      { encoding: 'utf8', cwd: root, env: { ...process.env, ADVEXP_MALLOC_TUNE: tuned ? '1' : '0' } })
    : spawnSync(PYTHON, [path.join(root, 'bench', w.py ?? 'torch_bench.py'), ...args, ...(tuned ? ['--tune-malloc'] : [])],
      { encoding: 'utf8', cwd: root });
  if (r.status !== 0) throw new Error(`${side} ${w.name} failed (${r.status}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
  const line = r.stdout.trim().split('\n').pop()!;
  return (JSON.parse(line) as { img_per_s: number }).img_per_s;
}

const rows: { workload: string; threads: number; advexp: number; pytorch: number; ratio: number }[] = [];
if (a.malloc !== 'tuned' && a.malloc !== 'default') throw new Error('--malloc must be tuned or default');
console.log(`advexp vs PyTorch (${PYTHON}), ${rounds} round(s) per side, best kept, malloc ${a.malloc}${a.quick ? ', quick' : ''}`);
console.log('workload     threads   advexp img/s   pytorch img/s   ratio');
for (const t of threads) {
  for (const w of chosen) {
    let best = { advexp: 0, pytorch: 0 };
    for (let r = 0; r < rounds; r++) {
      // Alternate which side goes first each round.
      const order: ('advexp' | 'pytorch')[] = r % 2 === 0 ? ['pytorch', 'advexp'] : ['advexp', 'pytorch'];
      for (const side of order) best[side] = Math.max(best[side], runSide(side, w, t));
    }
    const row = { workload: w.name, threads: t, advexp: +best.advexp.toFixed(2), pytorch: +best.pytorch.toFixed(2), ratio: +(best.advexp / best.pytorch).toFixed(3) };
    rows.push(row);
    console.log(`${w.name.padEnd(12)} ${String(t).padStart(7)} ${row.advexp.toFixed(1).padStart(14)} ${row.pytorch.toFixed(1).padStart(15)} ${row.ratio.toFixed(3).padStart(7)}`);
  }
}
const out = a.out ?? path.join(root, 'bench', 'results.json');
writeJsonAtomic(out, { machine: { cpus: (await import('node:os')).cpus().length, node: process.version }, quick: a.quick, malloc: a.malloc, rows });
console.log(`wrote ${out}`);
