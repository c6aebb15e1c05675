// npm run bench [-- --quick] [--threads 1,2] [--workloads plain,lipschitz,...] [--rounds R]
//                [--ara-images 1000] [--ara-steps 450] [--epoch-images 45000]
// Runs every workload on both sides (advexp: bench/ts_bench.ts, PyTorch: bench/torch_bench.py) in
// separate processes with the same environment, alternating the sides so drifts in machine load hit
// both, and keeps each side's best round (median workloads: at least 3 rounds, each side's median). Prints images/s and the ratio advexp/PyTorch; writes
// bench/results.json as {"rows": [{"workload", "threads", "advexp", "pytorch", "ratio"}]}.
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeJsonAtomic } from '../src/io/atomic.js';
import { cpuInfo, cpuSummary } from '../src/engine/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));           // dist/bench
const root = path.resolve(here, '..', '..');
const shared = path.resolve(root, '..', 'shared');
const PYTHON = process.env.ADVEXP_BENCH_PYTHON ?? '/usr/bin/python3';

// script: the pair of per-side scripts (bench/<ts>.ts compiled, bench/<py>.py) that run the workload.
// args: the side scripts' arguments when not the usual --iters/--warmup; once: a single round (long workloads);
// median: at least 3 alternating rounds, each side's median round kept instead of its best. pyWorkload: what PyTorch
// runs for it when not the same name (the finite-difference step is set beside PyTorch's double-backprop step: the
// ratio is then the step-cost comparison the penalty is for). advexpOnly: no PyTorch side; notQuick: not in --quick.
interface Workload {
  name: string; iters: number; quickIters: number; ts?: string; py?: string; pyWorkload?: string; args?: (side: 'advexp' | 'pytorch') => string[];
  once?: boolean; median?: boolean; advexpOnly?: boolean; notQuick?: boolean;
}
const WORKLOADS: Workload[] = [
  { name: 'plain', iters: 10, quickIters: 3 },
  { name: 'lipschitz', iters: 6, quickIters: 2 },
  { name: 'lipschitz-fd', iters: 6, quickIters: 2, pyWorkload: 'lipschitz' },
  { name: 'infer', iters: 10, quickIters: 4 },
  { name: 'attack', iters: 10, quickIters: 4 },
  // The published robust ResNet-44 exported with torch.jit.script (test/fixtures/torchscript/robust_script.pt), run by
  // libtorch's TorchScript interpreter on both sides: inference batch 256, one attack step (input gradient) batch 128.
  // bench/script_bench.ts runs the same pair alone, median of >= 3 alternating rounds.
  { name: 'script-infer', iters: 10, quickIters: 4, ts: 'ts_script.js', py: 'torch_script.py', args: () => scriptArgs('infer', 10, 4) },
  { name: 'script-attack', iters: 10, quickIters: 4, ts: 'ts_script.js', py: 'torch_script.py', args: () => scriptArgs('attack', 10, 4) },
  // torchvision's ResNet-50 at 224×224, full width, random weights (issue 12): inference batch 32, attack step
  // (input gradient of the summed cross-entropy) batch 16.
  { name: 'r50-infer', iters: 3, quickIters: 1, median: true },
  { name: 'r50-attack', iters: 3, quickIters: 1, median: true },
  // One image, 12 adversarial explanations (true, second, all 10) × 35 steps on the published robust ResNet-44.
  { name: 'ae', iters: 3, quickIters: 1, ts: 'ts_ae.js', py: 'torch_ae.py' },
  // Attack and BTR ARA (METHOD.md §4, §6) of --ara-images validation records × --ara-steps on the published robust
  // ResNet-44, batch 128; img/s counts (image, type) pairs. The two sides' distances are compared record by record.
  {
    name: 'ara', iters: 1, quickIters: 1, ts: 'ts_ara.js', py: 'torch_ara.py', once: true,
    args: () => ['--n', String(araSize().images), '--steps', String(araSize().steps)],
  },
  // APGD-CE (L∞ 8/255, 100 iterations, seed 0) on 32 records in one batch, robust ResNet-44 (bench/torch_apgd.py
  // written from the paper); the per-image outcomes of the two sides are compared.
  {
    name: 'apgd', iters: 2, quickIters: 1, ts: 'ts_apgd.js', py: 'torch_apgd.py',
    args: (side) => ['--workload', 'apgd', '--iters', a.quick ? '1' : '2', '--warmup', '0', '--n', '32',
      ...(side === 'pytorch' ? ['--bench', '--model', path.join(shared, 'models', 'reference', 'resnet44-robust.safetensors'), '--data', path.join(shared, 'data', 'cifar10', 'data_batch_5.bin')] : [])],
  },
  // AutoAttack standard, L2 0.5, on 200 records of the robust ResNet-44 (advexp only; hours on 2 cores).
  { name: 'autoattack', iters: 1, quickIters: 1, ts: 'ts_apgd.js', once: true, advexpOnly: true, notQuick: true, args: () => ['--workload', 'autoattack', '--n', '200', '--norm', 'l2'] },
  // One epoch of Lipschitz training through the trainer (data files, shuffling, augmentation, ψ, checkpoint) on
  // --epoch-images training records, ResNet-20 (the default model's shape), beside the bare step on that shape.
  {
    name: 'epoch', iters: 1, quickIters: 1, ts: 'ts_epoch.js', py: 'torch_epoch.py', once: true,
    args: () => ['--images', a['epoch-images'] ?? (a.quick ? '1280' : '45000'), '--depth', '20'],
  },
];

const { values: a } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false }, threads: { type: 'string', default: '1,2' },
    workloads: { type: 'string' }, rounds: { type: 'string' }, out: { type: 'string' },
    // tuned: advexp's default (the addon raises glibc's mmap/trim thresholds) and PyTorch given the same
    // thresholds (--tune-malloc); default: glibc untouched on both sides.
    malloc: { type: 'string', default: 'tuned' },
    'ara-images': { type: 'string' }, 'ara-steps': { type: 'string' }, 'epoch-images': { type: 'string' },
  },
});
const threads = a.threads!.split(',').map(Number);
/** The side scripts' arguments for a TorchScript row (run.ts adds --threads). */
const scriptArgs = (workload: string, iters: number, quickIters: number): string[] =>
  ['--workload', workload, '--iters', String(a.quick ? quickIters : iters), '--warmup', a.quick ? '1' : '2'];
/** The ARA row's size: the paper's 1,000 images × 450 steps, 16 × 40 with --quick, or as given. */
const araSize = (): { images: number; steps: number } => ({
  images: Number(a['ara-images'] ?? (a.quick ? 16 : 1000)), steps: Number(a['ara-steps'] ?? (a.quick ? 40 : 450)),
});
const chosen = a.workloads ? WORKLOADS.filter((w) => a.workloads!.split(',').includes(w.name)) : WORKLOADS.filter((w) => !(a.quick && w.notQuick));
const rounds = Number(a.rounds ?? (a.quick ? 1 : 2));

interface SideResult { img_per_s: number; seconds?: number; distances?: Record<string, number[]>; loop_overhead?: number; step_overhead?: number }

function runSide(side: 'advexp' | 'pytorch', w: Workload, t: number): SideResult {
  const iters = String(a.quick ? w.quickIters : w.iters);
  const args = w.args ? ['--threads', String(t), ...w.args(side)]
    : ['--workload', side === 'pytorch' ? w.pyWorkload ?? w.name : w.name, '--threads', String(t), '--iters', iters, '--warmup', a.quick ? '1' : '2'];
  const tuned = a.malloc === 'tuned';
  const r = side === 'advexp'
    ? spawnSync(process.execPath, [path.join(here, w.ts ?? 'ts_bench.js'), ...args],
      { encoding: 'utf8', cwd: root, env: { ...process.env, ADVEXP_MALLOC_TUNE: tuned ? '1' : '0' } })
    : spawnSync(PYTHON, [path.join(root, 'bench', w.py ?? 'torch_bench.py'), ...args, ...(tuned ? ['--tune-malloc'] : [])],
      { encoding: 'utf8', cwd: root });
  if (r.status !== 0) throw new Error(`${side} ${w.name} failed (${r.status}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
  const line = r.stdout.trim().split('\n').pop()!;
  return JSON.parse(line) as SideResult;
}

/** Largest relative difference between the two sides' per-record distances (0: bit-identical on this machine). */
function maxRelDiff(x: Record<string, number[]>, y: Record<string, number[]>): number {
  let m = 0;
  for (const k of Object.keys(x)) {
    const u = x[k]!, v = y[k] ?? [];
    if (u.length !== v.length) return Infinity;
    for (let i = 0; i < u.length; i++) {
      const d = Math.abs(u[i]! - v[i]!);
      if (d > 0) m = Math.max(m, d / Math.max(Math.abs(u[i]!), Math.abs(v[i]!)));
    }
  }
  return m;
}

interface Row { workload: string; threads: number; advexp: number; pytorch: number; ratio: number; advexp_s?: number; pytorch_s?: number; distances_max_rel_diff?: number; advexp_loop_overhead?: number; pytorch_loop_overhead?: number; advexp_step_overhead?: number; pytorch_step_overhead?: number; advexp_rounds?: number[]; pytorch_rounds?: number[] }
const rows: Row[] = [];
const pct = (v: number): string => `${v >= 0 ? '+' : ''}${(v * 100).toFixed(1)}%`;
if (a.malloc !== 'tuned' && a.malloc !== 'default') throw new Error('--malloc must be tuned or default');
console.log(`CPU: ${cpuSummary()}`);
console.log(`advexp vs PyTorch (${PYTHON}), ${rounds} round(s) per side, best kept (r50 rows: ≥ 3 rounds, median kept), malloc ${a.malloc}${a.quick ? ', quick' : ''}`);
console.log('workload     threads   advexp img/s   pytorch img/s   ratio');
for (const t of threads) {
  for (const w of chosen) {
    const all: Record<'advexp' | 'pytorch', SideResult[]> = { advexp: [], pytorch: [] };
    for (let r = 0; r < (w.once ? 1 : w.median ? Math.max(3, rounds) : rounds); r++) {
      // Alternate which side goes first each round.
      const order: ('advexp' | 'pytorch')[] = r % 2 === 0 ? ['pytorch', 'advexp'] : ['advexp', 'pytorch'];
      for (const side of order) if (!(side === 'pytorch' && w.advexpOnly)) all[side].push(runSide(side, w, t));
    }
    const pick = (rs: SideResult[]): SideResult => {
      const sorted = [...rs].sort((x, y) => x.img_per_s - y.img_per_s);
      return w.median ? sorted[(sorted.length - 1) >> 1]! : sorted[sorted.length - 1]!;
    };
    const best = { advexp: pick(all.advexp), pytorch: all.pytorch.length > 0 ? pick(all.pytorch) : { img_per_s: NaN } as SideResult };
    const row: Row = {
      workload: w.name, threads: t, advexp: +best.advexp.img_per_s.toFixed(2), pytorch: +best.pytorch.img_per_s.toFixed(2),
      ratio: +(best.advexp.img_per_s / best.pytorch.img_per_s).toFixed(3),
    };
    if (w.median) {
      row.advexp_rounds = all.advexp.map((r) => +r.img_per_s.toFixed(2));
      row.pytorch_rounds = all.pytorch.map((r) => +r.img_per_s.toFixed(2));
    }
    if (best.advexp.seconds !== undefined && best.pytorch.seconds !== undefined) {
      row.advexp_s = +best.advexp.seconds.toFixed(1);
      row.pytorch_s = +best.pytorch.seconds.toFixed(1);
    }
    if (best.advexp.loop_overhead !== undefined && best.pytorch.loop_overhead !== undefined) {
      row.advexp_loop_overhead = +best.advexp.loop_overhead.toFixed(3);
      row.pytorch_loop_overhead = +best.pytorch.loop_overhead.toFixed(3);
      row.advexp_step_overhead = +(best.advexp.step_overhead ?? NaN).toFixed(3);
      row.pytorch_step_overhead = +(best.pytorch.step_overhead ?? NaN).toFixed(3);
    }
    if (best.advexp.distances && best.pytorch.distances) row.distances_max_rel_diff = maxRelDiff(best.advexp.distances, best.pytorch.distances);
    rows.push(row);
    const extra = row.advexp_loop_overhead !== undefined
      ? `   (${row.advexp_s} s vs ${row.pytorch_s} s; loop vs median bare step, whole epoch / median step: ` +
        `advexp ${pct(row.advexp_loop_overhead)} / ${pct(row.advexp_step_overhead!)}, PyTorch ${pct(row.pytorch_loop_overhead!)} / ${pct(row.pytorch_step_overhead!)})`
      : row.distances_max_rel_diff === undefined ? '' : `   (${row.advexp_s} s vs ${row.pytorch_s} s; distances ${row.distances_max_rel_diff === 0 ? 'bit-identical' : `differ by up to ${(row.distances_max_rel_diff * 100).toPrecision(2)}%`})`;
    console.log(`${w.name.padEnd(12)} ${String(t).padStart(7)} ${row.advexp.toFixed(1).padStart(14)} ${row.pytorch.toFixed(1).padStart(15)} ${row.ratio.toFixed(3).padStart(7)}${extra}`);
  }
}
// The ARA goal (issue: "≤ 0.5× PyTorch's time"): advexp on all threads measured against PyTorch's 1-thread routine.
const ara1 = rows.find((r) => r.workload === 'ara' && r.threads === 1);
const araMax = rows.filter((r) => r.workload === 'ara').sort((x, y) => y.threads - x.threads)[0];
const araGoal = ara1 && araMax && araMax.threads > 1
  ? { advexp_threads: araMax.threads, pytorch_threads: 1, time_ratio: +(ara1.pytorch / araMax.advexp).toFixed(3) } : undefined;
if (araGoal) console.log(`ara: advexp at ${araGoal.advexp_threads} threads takes ${araGoal.time_ratio}× the time of PyTorch at 1 thread`);
const out = a.out ?? path.join(root, 'bench', 'results.json');
writeJsonAtomic(out, {
  machine: { cpus: (await import('node:os')).cpus().length, cpu: cpuInfo(), node: process.version }, quick: a.quick, malloc: a.malloc,
  ...(chosen.some((w) => w.name === 'ara') ? { ara: { ...araSize(), goal: araGoal } } : {}),
  rows,
});
console.log(`wrote ${out}`);
