// advexp side of the adversarial-explanation benchmark: the same work as bench/torch_ae.py, same CLI, same JSON line.
//   node dist/bench/ts_ae.js [--workload ae|lime] [--threads N] [--iters I] [--warmup W] [--model FILE] [--record 5000]
// ae: one image, 12 explanations in one batch (true class, most confident wrong class, all 10 classes), ρ 0.1,
// 35 steps, overshoot 5, on a published ResNet-44 in eval mode, through the library's explainer (probabilities
// before/after, |δ| map included); img_per_s counts explanations.
// lime (advexp only, no PyTorch side): LIME of the predicted class of the same image, 1,000 samples, 64 superpixels.
import { parseArgs } from 'node:util';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setNumThreads, getNumThreads, tensor, tidy } from '../src/engine/index.js';
import { loadModel } from '../src/io/model-file.js';
import { readCifarBatch } from '../src/data/cifar.js';
import { AdversarialExplanation, Lime, expandTargets, probabilities, argmaxExcept } from '../src/explain/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));                 // dist/bench
const shared = path.resolve(here, '..', '..', '..', 'shared');
const { values: a } = parseArgs({
  options: {
    workload: { type: 'string', default: 'ae' }, threads: { type: 'string', default: '1' }, iters: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' }, model: { type: 'string' }, record: { type: 'string', default: '5000' },
  },
});
if (a.workload !== 'ae' && a.workload !== 'lime') throw new Error('--workload must be ae or lime');
setNumThreads(Number(a.threads));
const { model } = loadModel(a.model ?? path.join(shared, 'models', 'reference', 'resnet44-robust.safetensors'));
const set = readCifarBatch(path.join(shared, 'data', 'cifar10', 'data_batch_5.bin'), { offset: Number(a.record), limit: 1 });
const x = tensor(set.floats(), [1, 3, 32, 32]);
const explainer = new AdversarialExplanation({ rho: 0.1, steps: 35, overshoot: 5 });
const lime = new Lime({ samples: 1000 });
const perIter = a.workload === 'ae' ? 12 : 1;

function step(): void {
  tidy(() => {
    if (a.workload === 'lime') {
      lime.attribute(model, x, Int32Array.from([argmaxExcept(probabilities(model, x).data(), -1)]));
      return;
    }
    const probs = probabilities(model, x).data();
    const pairs = expandTargets(probs, 10, set.labels, ['true', 'second', 'all']);
    const xs = x.expand([pairs.length, 3, 32, 32]);
    explainer.attribute(model, xs, Int32Array.from(pairs, (p) => p.target));
  });
}

for (let i = 0; i < Number(a.warmup); i++) step();
const iters = Math.max(1, Number(a.iters));
const t0 = performance.now();
const c0 = process.cpuUsage();
for (let i = 0; i < iters; i++) step();
const wall = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(c0);
const util = (cpu.user + cpu.system) / 1e6 / (wall * getNumThreads());
console.error(`cpu/wall per thread = ${util.toFixed(2)}${util < 0.8 ? '  (WARNING: CPU contention likely)' : ''}`);
const dt = wall / iters;
console.log(JSON.stringify({ workload: a.workload, threads: getNumThreads(), batch: perIter, img_per_s: perIter / dt, sec_per_iter: dt, cpu_sec_per_iter: (cpu.user + cpu.system) / 1e6 / iters }));
