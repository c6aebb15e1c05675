// advexp side of the training-loop benchmark: the same work as bench/torch_epoch.py, same CLI, same JSON line.
//   node dist/bench/ts_epoch.js [--threads N] [--images 45000] [--depth 20] [--bare-iters 4]
// One epoch of Lipschitz training (half-Huber, adaptive ψ, pad-crop-flip augmentation, batch 128, SGD) through the
// library's trainer (runTraining: data read from the CIFAR-10 files, shuffling, augmentation, steps, ψ integrator,
// JSONL log, the end-of-epoch checkpoint and model file) on the first --images training records, no validation
// split. In the same process, the bare Lipschitz step (one fixed batch, no data, no bookkeeping) on the same shape
// runs --bare-iters times before and again after the epoch (so a drift in machine load hits both), timed per step.
// loop_overhead = (epoch seconds ÷ steps) ÷ median bare step − 1 is what the whole loop costs beyond the step, data
// loading and checkpoint included; step_overhead compares the loop's median step with the bare one (per-batch
// gather, augmentation, ψ, bookkeeping). Medians, because single steps on a shared machine jump by 20% and more.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { setNumThreads, getNumThreads, tidy, keep, rand, randint, manualSeed, backward } from '../src/engine/index.js';
import { PreActResNet } from '../src/nn/index.js';
import { lipschitzLoss } from '../src/train/lipschitz.js';
import { Sgd } from '../src/train/sgd.js';
import { runTraining } from '../src/train/trainer.js';
import { defaultTrainOptions } from '../src/train/options.js';
import { median } from '../src/metrics/stats.js';

const here = path.dirname(fileURLToPath(import.meta.url));                 // dist/bench
const shared = process.env.ADVEXP_SHARED ?? path.resolve(here, '..', '..', '..', 'shared');
const { values: a } = parseArgs({
  options: {
    threads: { type: 'string', default: '1' }, images: { type: 'string', default: '45000' }, depth: { type: 'string', default: '20' },
    'bare-iters': { type: 'string', default: '4' },
  },
});
setNumThreads(Number(a.threads));
const depth = Number(a.depth);

// The bare step, ψ 220 as in the `lipschitz` workload; its first call (warm-up) is not timed.
manualSeed(0);
const bareModel = new PreActResNet({ depth, activation: 'half-huber' }).train();
const bareOpt = new Sgd(bareModel.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
const bx = keep(rand([128, 3, 32, 32]));
const by = keep(randint(0, 10, [128]));
const bareMs: number[] = [];
const bareSteps = (n: number): void => {
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    tidy(() => { const { loss } = lipschitzLoss(bareModel, bx, by, 220); bareOpt.zeroGrad(); backward(loss); bareOpt.step(); });
    bareMs.push(performance.now() - t);
  }
};
bareSteps(1);
bareMs.length = 0;
const iters = Number(a['bare-iters']);
bareSteps(iters);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'advexp-epoch-'));
try {
  const options = defaultTrainOptions({
    data: path.join(shared, 'data', 'cifar10'), limit: Number(a.images), val: 0, mode: 'lipschitz', depth, epochs: 1, milestones: [],
  });
  const loopMs: number[] = [];
  let last = performance.now();
  const t0 = last;
  const { state } = await runTraining({
    dir, options, threads: getNumThreads(), checkpointSeconds: 0, logEvery: 0,
    onBatch: () => { const t = performance.now(); loopMs.push(t - last); last = t; },
  });
  const seconds = (performance.now() - t0) / 1000;
  bareSteps(iters);
  const bareStep = median(bareMs);
  const loopStep = median(loopMs);
  console.log(JSON.stringify({
    workload: 'epoch', threads: getNumThreads(), depth, images: Number(a.images), steps: state.step, seconds,
    img_per_s: Number(a.images) / seconds, bare_img_per_s: 128_000 / bareStep,
    loop_overhead: seconds * 1000 / state.step / bareStep - 1, step_overhead: loopStep / bareStep - 1,
    bare_ms: bareMs.map(Math.round), loop_ms_median: Math.round(loopStep),
  }));
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
