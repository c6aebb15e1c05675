// The README's AutoAttack / ensemble-ARA table, resumable: for each (net, measure) a JSON file under
// bench/aa-table/ that grows by chunks of images, so a run stopped at any point keeps what it finished and a
// rerun continues. Measures: aa-linf (AutoAttack standard, L∞ 8/255), aa-l2 (L2 0.5), ensemble (Attack ARA of
// the paper's routine, 450 steps, eps 20, momentum 0.9, vs the per-image minimum with DDN and FMN).
// The published nets are scored on records 5000… of data_batch_5.bin (their training data: they were trained on
// all 50,000 images); the default model on its held-out split.
//   node dist/bench/aa_table.js --plan standard:aa-linf,robust:aa-l2,… [--n 200] [--chunk 8] [--min-steps 200]
import fs from 'node:fs';
import path from 'node:path';
import { setNumThreads } from '../src/engine/index.js';
import { loadModel } from '../src/io/model-file.js';
import { readCifarBatch } from '../src/data/cifar.js';
import { heldOutImages } from '../src/data/select.js';
import { autoAttackAccuracy } from '../src/metrics/autoattack.js';
import { ensembleAra } from '../src/metrics/ara-ensemble.js';
import { writeJsonAtomic } from '../src/io/atomic.js';
import type { ImageDataset } from '../src/data/dataset.js';
import { modelFile, fileSha256 } from './aa_table_model.js';

const arg = (k: string, d: string): string => { const i = process.argv.indexOf(`--${k}`); return i > 0 ? process.argv[i + 1]! : d; };
const shared = path.resolve(arg('shared', '../shared'));
const N = Number(arg('n', '200')), CHUNK = Number(arg('chunk', '8')), MIN_STEPS = Number(arg('min-steps', '200'));
const plan = arg('plan', 'standard:aa-linf,standard:aa-l2,robust:aa-linf,robust:aa-l2').split(',').map((p) => p.split(':') as [string, string]);
const outDir = path.resolve(arg('out', 'bench/aa-table'));
setNumThreads(Number(arg('threads', '1')));
fs.mkdirSync(outDir, { recursive: true });

function images(net: string, from: number, n: number): ImageDataset {
  if (net === 'default') return heldOutImages('models/default.split.json', path.join(shared, 'data', 'cifar10'), from + n).set.subset(Array.from({ length: n }, (_, i) => from + i));
  return readCifarBatch(path.join(shared, 'data', 'cifar10', 'data_batch_5.bin'), { offset: 5000 + from, limit: n });
}

type Row = Record<string, unknown> & { done: number };
// Round robin over the plan, one chunk each, until every entry has N images.
for (;;) {
  let worked = false;
  for (const [net, what] of plan) {
    const file = path.join(outDir, `${net}-${what}.json`);
    const row: Row = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) as Row : { net, what, done: 0, images: net === 'default' ? 'held-out split (models/default.split.json), first images' : 'data_batch_5.bin records 5000… (training data)' };
    const sha = fileSha256(modelFile(net, shared));
    if (row.model_sha256 === undefined && row.done === 0) row.model_sha256 = sha;
    if (row.model_sha256 !== sha) {
      console.error(`${file}: measured on another ${modelFile(net, shared)} (sha256 ${typeof row.model_sha256 === 'string' ? `${row.model_sha256.slice(0, 12)}…` : 'not recorded'}, now ${sha.slice(0, 12)}…): move it aside to measure this one`);
      process.exit(2);
    }
    if (row.done >= N) continue;
    worked = true;
    const n = Math.min(CHUNK, N - row.done);
    const set = images(net, row.done, n);
    const { model } = loadModel(modelFile(net, shared));
    const t0 = performance.now();
    if (what === 'ensemble') {
      const e = ensembleAra(model, set, set.labels, { steps: 450, eps: 20, momentum: 0.9, minSteps: MIN_STEPS, batch: 128, guard: false });
      const d = (row.distances ?? { paper: [], ddn: [], fmn: [], ensemble: [] }) as Record<string, (number | null)[]>;
      for (const k of Object.keys(e.distances)) d[k]!.push(...Array.from(e.distances[k as keyof typeof e.distances], (v) => (Number.isFinite(v) ? v : null)));
      Object.assign(row, { distances: d, min_steps: MIN_STEPS });
    } else {
      const norm = what === 'aa-linf' ? 'linf' : 'l2';
      const r = autoAttackAccuracy(model, set, set.labels, norm, norm === 'linf' ? 8 / 255 : 0.5, { batch: 128 });
      const prev = row as Row & { clean?: number[]; robust?: number[]; broken?: Record<string, number> };
      const broken = prev.broken ?? {};
      for (const [k, v] of Object.entries(r.broken)) broken[k] = (broken[k] ?? 0) + v;
      Object.assign(row, { norm, eps: r.eps, clean: [...(prev.clean ?? []), ...r.clean], robust: [...(prev.robust ?? []), ...r.robust], broken });
    }
    model.dispose();
    row.done += n;
    row.seconds = ((row.seconds as number | undefined) ?? 0) + (performance.now() - t0) / 1000;
    writeJsonAtomic(file, row);
    console.log(`${new Date().toISOString()} ${net} ${what}: ${row.done}/${N} images, ${(row.seconds as number).toFixed(0)} s`);
  }
  if (!worked) break;
}
