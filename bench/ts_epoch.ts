// advexp side of the training-loop benchmark: the same work as bench/torch_epoch.py, same CLI, same JSON line.
//   node dist/bench/ts_epoch.js [--threads N] [--images 45000] [--depth 20] [--bare-iters 4]
// One epoch of Lipschitz training (half-Huber, adaptive ψ, pad-crop-flip augmentation, batch 128, SGD) through the
// library's trainer (runTraining: data read from the CIFAR-10 files, shuffling, augmentation, steps, ψ integrator,
// JSONL log, the end-of-epoch checkpoint and model file) on the first --images training records, no validation
// split. Then, in the same process, the bare Lipschitz step (one fixed batch, no data, no bookkeeping) on the same
// shape: loop_overhead = bare img/s ÷ loop img/s − 1 is what the loop costs beyond the step.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { setNumThreads, getNumThreads, tidy, rand, randint, manualSeed, backward } from '../src/engine/index.js';
import { PreActResNet } from '../src/nn/index.js';
import { lipschitzLoss } from '../src/train/lipschitz.js';
import { Sgd } from '../src/train/sgd.js';
import { runTraining } from '../src/train/trainer.js';
import { defaultTrainOptions } from '../src/train/options.js';

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
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'advexp-epoch-'));
try {
  const options = defaultTrainOptions({
    data: path.join(shared, 'data', 'cifar10'), limit: Number(a.images), val: 0, mode: 'lipschitz', depth, epochs: 1, milestones: [],
  });
  const t0 = performance.now();
  const { state } = await runTraining({ dir, options, threads: getNumThreads(), checkpointSeconds: 0, logEvery: 0 });
  const seconds = (performance.now() - t0) / 1000;
  const loopImgPerS = Number(a.images) / seconds;

  // The bare step on the same shape, ψ 220 as in the `lipschitz` workload.
  manualSeed(0);
  const model = new PreActResNet({ depth, activation: 'half-huber' }).train();
  const opt = new Sgd(model.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
  const x = rand([128, 3, 32, 32]);
  const y = randint(0, 10, [128]);
  const step = (): void => tidy(() => { const { loss } = lipschitzLoss(model, x, y, 220); opt.zeroGrad(); backward(loss); opt.step(); });
  step();
  const t1 = performance.now();
  const iters = Number(a['bare-iters']);
  for (let i = 0; i < iters; i++) step();
  const bare = 128 * iters / ((performance.now() - t1) / 1000);
  console.log(JSON.stringify({
    workload: 'epoch', threads: getNumThreads(), depth, images: Number(a.images), steps: state.step, seconds,
    img_per_s: loopImgPerS, bare_img_per_s: bare, loop_overhead: bare / loopImgPerS - 1,
  }));
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
