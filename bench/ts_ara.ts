// advexp side of the ARA benchmark: the same work as bench/torch_ara.py, same CLI, same JSON line.
//   node dist/bench/ts_ara.js [--threads N] [--n 1000] [--steps 450] [--types attack,btr] [--batch 128]
//        [--model FILE] [--offset 5000]
// Attack and BTR distances (METHOD.md §4, §6) of n validation records (data_batch_5 from --offset, file order) on a
// published ResNet-44 (default: the robust net), through the library's evaluateAra. img_per_s counts
// (image, type) pairs; the per-image distances are printed so the driver can check both sides agree.
import { parseArgs } from 'node:util';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setNumThreads, getNumThreads } from '../src/engine/index.js';
import { loadModel } from '../src/io/model-file.js';
import { readCifarBatch } from '../src/data/cifar.js';
import { evaluateAra, type AraType } from '../src/metrics/ara.js';

const here = path.dirname(fileURLToPath(import.meta.url));                 // dist/bench
const shared = process.env.ADVEXP_SHARED ?? path.resolve(here, '..', '..', '..', 'shared');
const { values: a } = parseArgs({
  options: {
    threads: { type: 'string', default: '1' }, n: { type: 'string', default: '1000' }, steps: { type: 'string', default: '450' },
    types: { type: 'string', default: 'attack,btr' }, batch: { type: 'string', default: '128' },
    model: { type: 'string' }, offset: { type: 'string', default: '5000' },
  },
});
setNumThreads(Number(a.threads));
const { model } = loadModel(a.model ?? path.join(shared, 'models', 'reference', 'resnet44-robust.safetensors'));
const set = readCifarBatch(path.join(shared, 'data', 'cifar10', 'data_batch_5.bin'), { offset: Number(a.offset), limit: Number(a.n) });
const types = a.types!.split(',') as AraType[];
const t0 = performance.now();
const r = evaluateAra(model, set, set.labels, { types, steps: Number(a.steps), batch: Number(a.batch) });
const seconds = (performance.now() - t0) / 1000;
const distances: Record<string, number[]> = {};
const ara: Record<string, number> = {};
for (const t of types) { distances[t] = Array.from(r[t]!.distances); ara[t] = r[t]!.exact; }
console.log(JSON.stringify({ workload: 'ara', threads: getNumThreads(), n: set.n, steps: Number(a.steps), types, seconds, img_per_s: set.n * types.length / seconds, ara, distances }));
