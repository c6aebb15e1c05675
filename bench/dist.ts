// Data-parallel benchmark (issue 15): N one-thread processes against one N-thread process, advexp and PyTorch.
//   node dist/bench/dist.js [--ara-images 64] [--ara-steps 40] [--ara-batch 32] [--epoch-images 1280] [--out bench/dist-results.json]
// Rows:
//   ara    Attack + BTR ARA (robust ResNet-44, data_batch_5 from record 5000) through `advexp eval`: 1 process ×
//          1 thread, 1 × 2, 2 processes × 1 (--nproc 2); PyTorch's routine (bench/torch_ara.py) on 1 thread. Seconds
//          are the command's own (model loaded), distances compared record by record. Ranks take whole batches, so
//          the images are at least two batches (64 in batches of 32, every side batching the same).
//   train  one Lipschitz epoch (ResNet-20, batch 128) through `advexp train`: 1 × 2 against 2 × 1 (global img/s of
//          the epoch record); PyTorch DDP (gloo, bench/torch_ddp.py) 1 × 2 and 2 × 1.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { cpuInfo } from '../src/engine/index.js';
import { writeJsonAtomic } from '../src/io/atomic.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const shared = process.env.ADVEXP_SHARED ?? path.resolve(root, '..', 'shared');
const cli = path.join(root, 'dist', 'src', 'cli', 'main.js');
const PYTHON = process.env.ADVEXP_PYTHON ?? '/usr/bin/python3';
const { values: a } = parseArgs({ options: {
  'ara-images': { type: 'string', default: '64' }, 'ara-steps': { type: 'string', default: '40' }, 'ara-batch': { type: 'string', default: '32' },
  'epoch-images': { type: 'string', default: '1280' }, out: { type: 'string' }, only: { type: 'string' },
} });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'advexp-bench-dist-'));
let port = 29650;

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd: root, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${path.basename(cmd)} ${args.slice(0, 3).join(' ')} failed (${r.status}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
  return r.stdout;
}
function maxRelDiff(x: Record<string, number[]>, y: Record<string, number[]>): number {
  let m = 0;
  for (const k of Object.keys(x)) {
    const u = x[k]!, v = y[k] ?? [];
    if (u.length !== v.length) return Infinity;
    for (let i = 0; i < u.length; i++) if (u[i] !== v[i]) m = Math.max(m, Math.abs(u[i]! - v[i]!) / Math.max(Math.abs(u[i]!), Math.abs(v[i]!)));
  }
  return m;
}

const results: Record<string, unknown> = { machine: { cpus: os.cpus().length, cpu: cpuInfo(), node: process.version } };
const only = a.only?.split(',');

if (!only || only.includes('ara')) {
  const n = a['ara-images']!, steps = a['ara-steps']!;
  const model = path.join(shared, 'models', 'reference', 'resnet44-robust.safetensors');
  const data = path.join(shared, 'data', 'cifar10', 'data_batch_5.bin');
  const advexp = (procs: number, threads: number): { seconds: number; distances: Record<string, number[]> } => {
    const json = path.join(tmp, `ara-${procs}x${threads}.json`);
    run(process.execPath, [cli, 'eval', '--model', model, '--data', data, '--offset', '5000', '--n', n, '--steps', steps, '--ara', 'attack,btr',
      '--pgd', 'none', '--batch', a['ara-batch']!, '--threads', String(threads), '--quiet', '--json', json, ...(procs > 1 ? ['--nproc', String(procs), '--master-port', String(port++)] : [])]);
    const v = JSON.parse(fs.readFileSync(json, 'utf8')) as { seconds: number; distances: Record<string, number[]> };
    return { seconds: v.seconds, distances: v.distances };
  };
  const torch = JSON.parse(run(PYTHON, [path.join(root, 'bench', 'torch_ara.py'), '--threads', '1', '--n', n, '--steps', steps, '--batch', a['ara-batch']!, '--tune-malloc']).trim().split('\n').pop()!) as { seconds: number; distances: Record<string, number[]> };
  const one = advexp(1, 1), two = advexp(1, 2), sharded = advexp(2, 1);
  const row = {
    images: Number(n), steps: Number(steps), batch: Number(a['ara-batch']),
    seconds: { advexp_1x1: one.seconds, advexp_1x2: two.seconds, advexp_2x1: sharded.seconds, pytorch_1x1: torch.seconds },
    ratio_2x1_vs_pytorch_1x1: sharded.seconds / torch.seconds, ratio_2x1_vs_advexp_1x2: sharded.seconds / two.seconds,
    distances_2x1_vs_1x1_max_rel_diff: maxRelDiff(sharded.distances, one.distances),
    distances_vs_pytorch_max_rel_diff: maxRelDiff(sharded.distances, torch.distances),
  };
  results.ara = row;
  console.log(`ara ${n} images × ${steps} steps: advexp 1×1 ${one.seconds.toFixed(1)} s, 1×2 ${two.seconds.toFixed(1)} s, 2×1 ${sharded.seconds.toFixed(1)} s; ` +
    `PyTorch 1×1 ${torch.seconds.toFixed(1)} s → 2×1 / PyTorch ${row.ratio_2x1_vs_pytorch_1x1.toFixed(3)}, 2×1 / 1×2 ${row.ratio_2x1_vs_advexp_1x2.toFixed(3)}; ` +
    `distances 2×1 vs 1×1 ${row.distances_2x1_vs_1x1_max_rel_diff === 0 ? 'bit-identical' : `differ ${row.distances_2x1_vs_1x1_max_rel_diff}`}, vs PyTorch ${row.distances_vs_pytorch_max_rel_diff === 0 ? 'bit-identical' : `differ ${row.distances_vs_pytorch_max_rel_diff}`}`);
}

if (!only || only.includes('train')) {
  const images = Number(a['epoch-images']);
  const advexp = (procs: number, threads: number): number => {
    const out = path.join(tmp, `train-${procs}x${threads}`);
    run(process.execPath, [cli, 'train', '--data', path.join(shared, 'data', 'cifar10'), '--limit', String(images + 8), '--val', '8', '--depth', '20',
      '--epochs', '1', '--batch', '128', '--threads', String(threads), '--quiet', '--checkpoint-minutes', '0', '--out', out,
      ...(procs > 1 ? ['--nproc', String(procs), '--master-port', String(port++)] : [])]);
    const s = JSON.parse(fs.readFileSync(path.join(out, 'state.json'), 'utf8')) as { history: { imgPerSec: number }[] };
    return s.history[0]!.imgPerSec;
  };
  const torch = (world: number, threads: number): number => (JSON.parse(run(PYTHON, [path.join(root, 'bench', 'torch_ddp.py'), '--world', String(world), '--threads', String(threads),
    '--images', String(images), '--depth', '20', '--port', String(port++)]).trim().split('\n').pop()!) as { img_per_s: number }).img_per_s;
  const row = { images, img_per_s: { advexp_1x2: advexp(1, 2), advexp_2x1: advexp(2, 1), pytorch_1x2: torch(1, 2), pytorch_2x1: torch(2, 1) } };
  results.train = row;
  const r = row.img_per_s;
  console.log(`train epoch ${images} images (img/s): advexp 1×2 ${r.advexp_1x2.toFixed(1)}, 2×1 ${r.advexp_2x1.toFixed(1)}; PyTorch 1×2 ${r.pytorch_1x2.toFixed(1)}, DDP 2×1 ${r.pytorch_2x1.toFixed(1)}`);
}
fs.rmSync(tmp, { recursive: true, force: true });
writeJsonAtomic(a.out ?? path.join(root, 'bench', 'dist-results.json'), results);
