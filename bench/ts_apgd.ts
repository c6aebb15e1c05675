// advexp side of the APGD benchmark, and the AutoAttack timing (advexp only).
//   node dist/bench/ts_apgd.js [--workload apgd|autoattack] [--threads N] [--iters I] [--warmup W] [--n 32] [--norm linf|l2]
// apgd: APGD-CE (100 iterations, seed 0) on records 5000… of data_batch_5.bin against the published robust ResNet-44
// in one batch, the same work as bench/torch_apgd.py --bench; img_per_s counts attacked images; `distances.success`
// carries the per-image outcome so the driver compares the two sides record by record.
// autoattack: AutoAttack standard (APGD-CE, APGD-T, FAB-T, Square) at L2 0.5 (or L∞ 8/255) on --n records, once.
import { parseArgs } from 'node:util';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setNumThreads, getNumThreads, tensor, tidy } from '../src/engine/index.js';
import { loadModel } from '../src/io/model-file.js';
import { readCifarBatch } from '../src/data/cifar.js';
import { APGD, Misclassification } from '../src/attack/index.js';
import { autoAttackAccuracy } from '../src/metrics/autoattack.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const shared = path.resolve(here, '..', '..', '..', 'shared');
const { values: a } = parseArgs({
  options: {
    workload: { type: 'string', default: 'apgd' }, threads: { type: 'string', default: '1' }, iters: { type: 'string', default: '1' },
    warmup: { type: 'string', default: '0' }, n: { type: 'string' }, norm: { type: 'string' },
  },
});
setNumThreads(Number(a.threads));
const { model } = loadModel(path.join(shared, 'models', 'reference', 'resnet44-robust.safetensors'));
model.eval();
const n = Number(a.n ?? (a.workload === 'apgd' ? 32 : 200));
const set = readCifarBatch(path.join(shared, 'data', 'cifar10', 'data_batch_5.bin'), { offset: 5000, limit: n });
if (a.workload === 'autoattack') {
  const norm = (a.norm ?? 'l2') as 'linf' | 'l2';
  const r = autoAttackAccuracy(model, set, set.labels, norm, norm === 'linf' ? 8 / 255 : 0.5);
  console.log(JSON.stringify({ workload: 'autoattack', threads: getNumThreads(), n, img_per_s: n / r.seconds, seconds: r.seconds, clean_acc: r.clean_acc, autoattack_acc: r.autoattack_acc, broken: r.broken }));
} else {
  const norm = (a.norm ?? 'linf') as 'linf' | 'l2';
  const eps = norm === 'linf' ? 8 / 255 : 0.5;
  let success: number[] = [];
  const once = (): void => tidy(() => {
    const r = new APGD({ norm }).attackBatch(model, tensor(set.floats(), [n, 3, 32, 32]), new Misclassification(set.labels), eps);
    success = Array.from(r.success!.cast('uint8').data());
  });
  for (let i = 0; i < Number(a.warmup); i++) once();
  const iters = Math.max(1, Number(a.iters));
  const t0 = performance.now();
  for (let i = 0; i < iters; i++) once();
  const dt = (performance.now() - t0) / 1000 / iters;
  console.log(JSON.stringify({ workload: 'apgd', threads: getNumThreads(), n, img_per_s: n / dt, seconds: dt, distances: { success } }));
}
