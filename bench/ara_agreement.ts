// Agreement of advexp's attack routine and ARA with the PyTorch version (bench/torch_attack.py, written from
// METHOD.md) on the published networks, on the same records.
//
//   node dist/bench/ara_agreement.js [--nets standard,adv-train,robust,all] [--types attack,btr]
//        [--offset 5000] [--n 100] [--steps 450] [--eps 20] [--momentum 0.9] [--batch 128] [--threads 1]
//        [--pool reference|adaptive] [--out bench/ara_agreement.json] [--force]
//
// Each (net, type) pair runs the TypeScript routine in this process and, concurrently, the PyTorch one as a child
// process (their times are therefore not a benchmark), then
// records per-image distances, both ARA values, the median relative difference of the distances and the relative
// difference of the ARAs. Pairs already in --out are skipped (unless --force), so a long comparison can be run in
// pieces; the file is rewritten atomically after each pair. --pool is passed to torch_attack.py: `reference` (default)
// pools like the reference model code (AvgPool2d(8)), which makes both forwards bit-identical; `adaptive` keeps
// torch_model.py's AdaptiveAvgPool2d(1) (last-bit differences), to measure how much the routine amplifies them.
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { setNumThreads, cpuSummary } from '../src/engine/index.js';
import { loadModel } from '../src/io/model-file.js';
import { readCifarBatch } from '../src/data/cifar.js';
import { araDistances, araOf, type AraType } from '../src/metrics/ara.js';
import { predict, accuracy } from '../src/metrics/predict.js';
import { quantile } from '../src/metrics/stats.js';
import { writeJsonAtomic } from '../src/io/atomic.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = (() => {
  let d = here;
  while (!fs.existsSync(path.join(d, 'package.json'))) d = path.dirname(d);
  return d;
})();
const shared = process.env.ADVEXP_SHARED ?? path.join(root, '..', 'shared');

const { values: a } = parseArgs({
  options: {
    nets: { type: 'string', default: 'standard,adv-train,robust,all' }, types: { type: 'string', default: 'attack,btr' },
    offset: { type: 'string', default: '5000' }, n: { type: 'string', default: '100' }, steps: { type: 'string', default: '450' },
    eps: { type: 'string', default: '20' }, momentum: { type: 'string', default: '0.9' }, batch: { type: 'string', default: '128' },
    threads: { type: 'string', default: '1' }, out: { type: 'string', default: path.join(root, 'bench', 'ara_agreement.json') },
    data: { type: 'string', default: path.join(shared, 'data', 'cifar10', 'data_batch_5.bin') },
    force: { type: 'boolean', default: false }, pool: { type: 'string', default: 'reference' },
  },
});

const num = (k: string, v: string): number => {
  const x = Number(v);
  if (!Number.isFinite(x)) { console.error(`ara_agreement: --${k} must be a number`); process.exit(2); }
  return x;
};
const cfg = {
  offset: num('offset', a.offset!), n: num('n', a.n!), steps: num('steps', a.steps!), eps: num('eps', a.eps!),
  momentum: num('momentum', a.momentum!), batch: num('batch', a.batch!), threads: num('threads', a.threads!),
};
setNumThreads(cfg.threads);

interface PairResult {
  /** The CPU both sides ran on (one machine: same kernels, so distances can be bit-identical). Older entries lack it. */
  cpu?: string;
  net: string; type: AraType; pool: string; n: number; offset: number; steps: number; eps: number; momentum: number;
  accuracy: number;
  ts: { distances: number[]; exact: number; histogram: number; seconds: number };
  torch: { distances: number[]; exact: number; histogram: number; seconds: number; accuracy: number };
  median_rel_diff: number; p90_rel_diff: number; max_rel_diff: number;
  zero_mismatch: number; ara_exact_rel_diff: number; ara_histogram_rel_diff: number;
  ts_histogram_of_torch_distances: number;
}

type Store = { config: typeof cfg & { data: string }; pairs: Record<string, PairResult> };
const store: Store = fs.existsSync(a.out!) ? JSON.parse(fs.readFileSync(a.out!, 'utf8')) as Store : { config: { ...cfg, data: a.data! }, pairs: {} };

const set = readCifarBatch(a.data!, { offset: cfg.offset, limit: cfg.n });
for (const net of a.nets!.split(',')) {
  const file = path.join(shared, 'models', 'reference', `resnet44-${net}.safetensors`);
  for (const type of a.types!.split(',') as AraType[]) {
    const key = `${net}/${type}${a.pool === 'reference' ? '' : `/${a.pool}`}`;
    const prev = store.pairs[key];
    if (prev && !a.force && prev.n === cfg.n && prev.steps === cfg.steps && prev.offset === cfg.offset) {
      console.log(`${key}: already in ${a.out}, skipped`);
      continue;
    }
    // The PyTorch side runs as a child process at the same time as the TypeScript side (one thread each).
    const t0 = performance.now();
    const child = spawn('/usr/bin/python3', [path.join(root, 'bench', 'torch_attack.py'), '--model', file, '--data', a.data!,
      '--offset', String(cfg.offset), '--n', String(cfg.n), '--type', type, '--steps', String(cfg.steps), '--eps', String(cfg.eps),
      '--momentum', String(cfg.momentum), '--batch', String(cfg.batch), '--threads', String(cfg.threads), '--pool', a.pool!],
    { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const done = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
    const { model } = loadModel(file);
    const acc = accuracy(predict(model, set).classes, set.labels);
    const mine = araDistances(model, set, set.labels, type, { steps: cfg.steps, eps: cfg.eps, momentum: cfg.momentum, batch: cfg.batch });
    const tsSec = (performance.now() - t0) / 1000;
    model.dispose();
    const status = await done;
    if (status !== 0) { console.error(`torch_attack.py failed (${status}): ${err.trim().split('\n').pop()}`); process.exit(1); }
    const ref = JSON.parse(out) as { distances: number[]; ara_exact: number; ara_histogram: number; seconds: number; accuracy: number };
    const tsD = Array.from(mine.distances);
    const rel: number[] = [];
    let zeroMismatch = 0;
    tsD.forEach((d, i) => {
      const r = ref.distances[i]!;
      if (d === 0 && r === 0) { rel.push(0); return; }
      if (d === 0 || r === 0) { zeroMismatch++; rel.push(1); return; }
      rel.push(Math.abs(d - r) / Math.max(d, r));
    });
    const ara = araOf(tsD, 10);
    const res: PairResult = {
      cpu: cpuSummary(), net, type, pool: a.pool!, n: cfg.n, offset: cfg.offset, steps: cfg.steps, eps: cfg.eps, momentum: cfg.momentum, accuracy: acc,
      ts: { distances: tsD, exact: ara.exact, histogram: ara.histogram, seconds: tsSec },
      torch: { distances: ref.distances, exact: ref.ara_exact, histogram: ref.ara_histogram, seconds: ref.seconds, accuracy: ref.accuracy },
      median_rel_diff: quantile(rel, 0.5), p90_rel_diff: quantile(rel, 0.9), max_rel_diff: Math.max(...rel),
      zero_mismatch: zeroMismatch,
      ara_exact_rel_diff: Math.abs(ara.exact - ref.ara_exact) / ref.ara_exact,
      ara_histogram_rel_diff: Math.abs(ara.histogram - ref.ara_histogram) / ref.ara_histogram,
      ts_histogram_of_torch_distances: araOf(ref.distances, 10).histogram,
    };
    store.pairs[key] = res;
    writeJsonAtomic(a.out!, store);
    console.log(`${key}: acc ${acc.toFixed(3)} | ARA exact ts ${ara.exact.toFixed(5)} torch ${ref.ara_exact.toFixed(5)} (Δ ${(100 * res.ara_exact_rel_diff).toFixed(2)}%)`
      + ` | hist ts ${ara.histogram.toFixed(5)} torch ${ref.ara_histogram.toFixed(5)} | per-image median rel ${(100 * res.median_rel_diff).toFixed(3)}%`
      + ` p90 ${(100 * res.p90_rel_diff).toFixed(2)}% zero-mismatch ${zeroMismatch} | ${tsSec.toFixed(0)} s vs ${ref.seconds.toFixed(0)} s`);
  }
}

// Summary table of what the store holds.
const rows = Object.values(store.pairs);
if (rows.length > 0) {
  console.log('\nnet        type    n   acc    ARA exact ts / torch     ΔARA    hist ts / torch         median Δd  p90 Δd');
  for (const r of rows) {
    console.log(`${(r.net + (r.pool === 'reference' ? '' : `/${r.pool}`)).padEnd(10)} ${r.type.padEnd(6)} ${String(r.n).padStart(4)} ${r.accuracy.toFixed(3)}  ${r.ts.exact.toFixed(5)} / ${r.torch.exact.toFixed(5)}  `
      + `${(100 * r.ara_exact_rel_diff).toFixed(2).padStart(5)}%  ${r.ts.histogram.toFixed(5)} / ${r.torch.histogram.toFixed(5)}  `
      + `${(100 * r.median_rel_diff).toFixed(3).padStart(6)}%  ${(100 * r.p90_rel_diff).toFixed(2).padStart(5)}%  ${r.ts.seconds.toFixed(0)} s / ${r.torch.seconds.toFixed(0)} s`);
  }
}
