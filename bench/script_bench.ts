// The TorchScript rows of issue 12 side by side with PyTorch: the published robust ResNet-44 exported with
// torch.jit.script, inference (batch 256) and one attack step (forward + input gradient, batch 128), advexp
// (bench/ts_script.ts) against PyTorch running the same file (bench/torch_script.py). Each side runs in its own
// process, the sides alternate, and the median of the rounds is kept (the machine's load drifts).
//   node dist/bench/script_bench.js [--threads 1,2] [--rounds 3] [--iters 8] [--workloads infer,attack] [--out FILE]
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeJsonAtomic } from '../src/io/atomic.js';
import { cpuSummary } from '../src/engine/index.js';
import { median } from '../src/metrics/stats.js';

const here = path.dirname(fileURLToPath(import.meta.url));  // dist/bench
const root = path.resolve(here, '..', '..');
const PYTHON = process.env.ADVEXP_BENCH_PYTHON ?? '/usr/bin/python3';
const { values: a } = parseArgs({
  options: {
    threads: { type: 'string', default: '1' }, rounds: { type: 'string', default: '3' }, iters: { type: 'string', default: '8' },
    workloads: { type: 'string', default: 'infer,attack' }, out: { type: 'string' },
  },
});
const rounds = Math.max(3, Number(a.rounds));

interface Side { img_per_s: number; cpu_per_iter: number }
function side(which: 'advexp' | 'pytorch', workload: string, threads: number): Side {
  const args = ['--workload', workload, '--threads', String(threads), '--iters', a.iters!, '--warmup', '2'];
  const r = which === 'advexp'
    ? spawnSync(process.execPath, [path.join(here, 'ts_script.js'), ...args], { encoding: 'utf8', cwd: root, env: { ...process.env, ADVEXP_MALLOC_TUNE: '1' } })
    : spawnSync(PYTHON, [path.join(root, 'bench', 'torch_script.py'), ...args, '--tune-malloc'], { encoding: 'utf8', cwd: root });
  if (r.status !== 0) throw new Error(`${which} ${workload} failed (${r.status}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Side;
}

console.log(`CPU: ${cpuSummary()}; median of ${rounds} alternating rounds per side`);
console.log('workload        threads   advexp img/s   pytorch img/s   ratio   CPU-time ratio   (rounds advexp | pytorch)');
const rows: unknown[] = [];
for (const t of a.threads!.split(',').map(Number)) {
  for (const w of a.workloads!.split(',')) {
    const got: Record<'advexp' | 'pytorch', number[]> = { advexp: [], pytorch: [] };
    const cpu: Record<'advexp' | 'pytorch', number[]> = { advexp: [], pytorch: [] };
    for (let r = 0; r < rounds; r++) {
      for (const s of (r % 2 === 0 ? ['pytorch', 'advexp'] : ['advexp', 'pytorch']) as ('advexp' | 'pytorch')[]) { const r = side(s, w, t); got[s].push(r.img_per_s); cpu[s].push(r.cpu_per_iter); }
    }
    const ma = median(got.advexp), mp = median(got.pytorch);
    // PyTorch's CPU seconds per step over advexp's (> 1: advexp is faster): steadier than wall time on a shared machine.
    const cpuRatio = median(cpu.pytorch) / median(cpu.advexp);
    rows.push({ workload: `script-${w}`, threads: t, advexp: +ma.toFixed(2), pytorch: +mp.toFixed(2), ratio: +(ma / mp).toFixed(3), cpu_ratio: +cpuRatio.toFixed(3), rounds: got, cpu_per_iter: cpu });
    console.log(`script-${w}`.padEnd(15) + String(t).padStart(8) + ma.toFixed(1).padStart(15) + mp.toFixed(1).padStart(16)
      + (ma / mp).toFixed(3).padStart(8) + cpuRatio.toFixed(3).padStart(17) + `   (${got.advexp.map((v) => v.toFixed(1)).join(' ')} | ${got.pytorch.map((v) => v.toFixed(1)).join(' ')})`);
  }
}
if (a.out) writeJsonAtomic(a.out, { machine: { cpu: cpuSummary() }, rows });
