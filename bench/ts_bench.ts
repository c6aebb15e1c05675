// advexp side of the benchmark: the same workloads as bench/torch_bench.py, same CLI, same JSON line.
//   node dist/bench/ts_bench.js --workload {plain,lipschitz,lipschitz-fd,infer,attack,r50-infer,r50-attack} --threads N [--batch B] [--iters I] [--warmup W]
// r50-*: torchvision's ResNet-50 (full width, random weights, ImageNet normalisation inside) on 224×224 images.
// lipschitz-fd: the Lipschitz step with the finite-difference penalty (no PyTorch counterpart: run.ts sets it beside
// PyTorch's double-backprop step). ADVEXP_FUSED=0 runs the composite batch norm and half-Huber.
import { parseArgs } from 'node:util';
import { tidy, noGrad, gradOf, backward, rand, randint, manualSeed, setNumThreads, getNumThreads, crossEntropy } from '../src/engine/index.js';
import { PreActResNet, TorchvisionResNet } from '../src/nn/index.js';
import { lipschitzLoss } from '../src/train/lipschitz.js';
import { Sgd } from '../src/train/sgd.js';

const DEFAULT_BATCH: Record<string, number> = { plain: 128, lipschitz: 128, 'lipschitz-fd': 128, infer: 256, attack: 128, 'r50-infer': 32, 'r50-attack': 16 };
const PSI = 220;

function build(workload: string, batch: number, seed: number): () => void {
  manualSeed(seed);
  if (workload.startsWith('r50-')) {
    const model = new TorchvisionResNet({ depth: 50, classes: 1000 }).eval().requiresGrad_(false);
    const x = rand([batch, 3, 224, 224]);
    const y = randint(0, 1000, [batch]);
    if (workload === 'r50-infer') return () => tidy(() => noGrad(() => { model.call(x); }));
    return () => tidy(() => {
      const xa = x.detach().requiresGrad_(true);
      gradOf(crossEntropy(model.call(xa), y, 'sum'), [xa]);
    });
  }
  const halfHuber = workload.startsWith('lipschitz') || workload === 'attack';
  const model = new PreActResNet({ depth: 44, activation: halfHuber ? 'half-huber' : 'relu' });
  const x = rand([batch, 3, 32, 32]);
  const y = randint(0, 10, [batch]);
  if (workload === 'plain' || workload.startsWith('lipschitz')) {
    model.train();
    const opt = new Sgd(model.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
    return () => tidy(() => {
      const loss = workload === 'plain' ? crossEntropy(model.call(x), y)
        : lipschitzLoss(model, x, y, PSI, undefined, null, { penalty: workload === 'lipschitz-fd' ? 'finite-difference' : 'double-backprop' }).loss;
      opt.zeroGrad();
      backward(loss);
      opt.step();
    });
  }
  if (workload === 'infer') {
    model.eval();
    return () => tidy(() => noGrad(() => { model.call(x); }));
  }
  if (workload === 'attack') {
    model.eval().requiresGrad_(false);
    return () => tidy(() => {
      const xa = x.detach().requiresGrad_(true);
      gradOf(crossEntropy(model.call(xa), y, 'sum'), [xa]);
    });
  }
  throw new Error(`unknown workload ${workload}`);
}

const { values: a } = parseArgs({
  options: {
    workload: { type: 'string' }, threads: { type: 'string', default: '1' }, batch: { type: 'string' },
    iters: { type: 'string', default: '10' }, warmup: { type: 'string', default: '2' }, seed: { type: 'string', default: '0' },
  },
});
const workload = a.workload ?? '';
if (!(workload in DEFAULT_BATCH)) throw new Error(`--workload must be one of ${Object.keys(DEFAULT_BATCH).join(', ')}`);
setNumThreads(Number(a.threads));
const batch = a.batch ? Number(a.batch) : DEFAULT_BATCH[workload]!;
const step = build(workload, batch, Number(a.seed));
for (let i = 0; i < Number(a.warmup); i++) step();
const iters = Math.max(1, Number(a.iters));
const t0 = performance.now();
for (let i = 0; i < iters; i++) step();
const dt = (performance.now() - t0) / 1000 / iters;
console.log(JSON.stringify({ workload, threads: getNumThreads(), batch, img_per_s: batch / dt, sec_per_iter: dt }));
