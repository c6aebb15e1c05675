// node dist/bench/ts_phases.js [--threads N] [--batch B] [--iters I] [--warmup W]
// Where advexp's Lipschitz training step spends its time (issue 17, profile first), phase by phase, on the same
// shape as bench/torch_phases.py: pre-activation ResNet-44 with half-Huber, batch 64, train mode, ψ 220.
//   forward       z = f(x), L_cls, the smoothed outputs s (METHOD.md §3 steps 1–2)
//   grad-graph    G = ∂Σs/∂x with create_graph (the first backward, building the graph of the gradient)
//   second        L = L_cls + ψ·mean(G²) and its backward to the weights (double backprop)
//   sgd           the optimizer step
// Median milliseconds per phase over --iters steps; prints one JSON line.
import { parseArgs } from 'node:util';
import { tidy, gradOf, backward, rand, randint, manualSeed, setNumThreads, getNumThreads, crossEntropy, cpuSummary } from '../src/engine/index.js';
import { PreActResNet } from '../src/nn/index.js';
import { sampleChoices, smoothedOutputs } from '../src/train/lipschitz.js';
import { Sgd } from '../src/train/sgd.js';
import { median } from '../src/metrics/stats.js';

const { values: a } = parseArgs({
  options: {
    threads: { type: 'string', default: '1' }, batch: { type: 'string', default: '64' },
    iters: { type: 'string', default: '6' }, warmup: { type: 'string', default: '2' },
  },
});
setNumThreads(Number(a.threads));
manualSeed(0);
const batch = Number(a.batch);
const model = new PreActResNet({ depth: 44, activation: 'half-huber' }).train();
const x = rand([batch, 3, 32, 32]);
const y = randint(0, 10, [batch]);
const opt = new Sgd(model.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
const PHASES = ['forward', 'grad-graph', 'second', 'sgd'] as const;
const times: Record<(typeof PHASES)[number], number[]> = { forward: [], 'grad-graph': [], second: [], sgd: [] };

function step(record: boolean): void {
  tidy(() => {
    const t = [performance.now()];
    const xg = x.detach().requiresGrad_(true);
    const z = model.call(xg);
    const lossCls = crossEntropy(z, y);
    const s = smoothedOutputs(z, y, sampleChoices(batch, 10)).sum();
    t.push(performance.now());
    const [g] = gradOf(s, [xg], { createGraph: true });
    t.push(performance.now());
    const loss = lossCls.add(g!.square().mean().mul(220));
    opt.zeroGrad();
    backward(loss);
    t.push(performance.now());
    opt.step();
    t.push(performance.now());
    if (record) PHASES.forEach((p, i) => times[p].push(t[i + 1]! - t[i]!));
  });
}
for (let i = 0; i < Number(a.warmup); i++) step(false);
for (let i = 0; i < Number(a.iters); i++) step(true);
const ms = Object.fromEntries(PHASES.map((p) => [p, +median(times[p]).toFixed(1)]));
console.log(JSON.stringify({ side: 'advexp', threads: getNumThreads(), batch, cpu: cpuSummary(), median_ms: ms }));
