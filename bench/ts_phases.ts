// node dist/bench/ts_phases.js [--threads N] [--batch B] [--iters I] [--warmup W]
// Where advexp's Lipschitz training step spends its time (issue 17, profile first), phase by phase, on the same
// shape as bench/torch_phases.py: pre-activation ResNet-44 with half-Huber, batch 64, train mode, ψ 220.
//   forward       z = f(x), L_cls, the smoothed outputs s (METHOD.md §3 steps 1–2)
//   grad-graph    G = ∂Σs/∂x with create_graph (the first backward, building the graph of the gradient)
//   second        L = L_cls + ψ·mean(G²) and its backward to the weights (double backprop)
//   sgd           the optimizer step
// Median milliseconds per phase over --iters steps; then --profile-steps steps under libtorch's autograd profiler
// (engine withProfiler, a Chrome trace): self time per op grouped as bench/torch_phases.py groups PyTorch's, and the
// inclusive time of the autograd nodes. Prints one JSON line.
import { parseArgs } from 'node:util';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tidy, gradOf, backward, rand, randint, manualSeed, setNumThreads, getNumThreads, crossEntropy, cpuSummary, withProfiler } from '../src/engine/index.js';
import { PreActResNet } from '../src/nn/index.js';
import { sampleChoices, smoothedOutputs } from '../src/train/lipschitz.js';
import { Sgd } from '../src/train/sgd.js';
import { median } from '../src/metrics/stats.js';

const { values: a } = parseArgs({
  options: {
    threads: { type: 'string', default: '1' }, batch: { type: 'string', default: '64' },
    iters: { type: 'string', default: '6' }, warmup: { type: 'string', default: '2' }, 'profile-steps': { type: 'string', default: '2' },
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

// The same groups as bench/torch_phases.py, first match wins.
const GROUPS: [string, string[]][] = [
  ['batch norm double backward', ['NativeBatchNormBackwardBackward', 'batch_norm_backward_backward']],
  ['batch norm', ['batch_norm', 'BatchNorm']],
  ['convolution', ['conv', 'Conv', 'mkldnn']],
  ['activation (half-Huber: clamp, where, compare)', ['clamp', 'where', 'ge', 'le', 'gt', 'lt', 'Clamp', 'Where']],
  ['other elementwise', ['mul', 'add', 'sub', 'div', 'pow', 'neg', 'Mul', 'Add', 'Sub', 'Div', 'Pow', 'Neg', 'copy_', 'fill_', 'zero_']],
  ['reductions', ['sum', 'mean', 'max', 'Sum', 'Mean', 'Max', 'softmax', 'log_softmax', 'nll']],
  ['allocation', ['empty', 'zeros', 'ones', 'resize_', 'as_strided']],
];
const groupOf = (name: string): string => GROUPS.find(([, keys]) => keys.some((k) => name.includes(k)))?.[0] ?? 'other';
const steps = Number(a['profile-steps']);
const trace = path.join(os.tmpdir(), `advexp-phases-${process.pid}.json`);
withProfiler(trace, () => { for (let i = 0; i < steps; i++) step(false); });
interface TraceEvent { name: string; ts: number; dur: number; tid: number }
const events = (JSON.parse(fs.readFileSync(trace, 'utf8')) as TraceEvent[]).sort((p, q) => p.tid - q.tid || p.ts - q.ts || q.dur - p.dur);
fs.rmSync(trace, { force: true });
// Self time: an event's duration less its direct children's (nesting by time on one thread).
const self = new Map<string, { us: number; calls: number }>();
const nodes = new Map<string, number>();
let total = 0;
const stack: { e: TraceEvent; child: number }[] = [];
const close = (upTo: number, tid: number): void => {
  while (stack.length > 0 && (stack[stack.length - 1]!.e.tid !== tid || stack[stack.length - 1]!.e.ts + stack[stack.length - 1]!.e.dur <= upTo)) {
    const { e, child } = stack.pop()!;
    const us = Math.max(0, e.dur - child);
    const cur = self.get(e.name) ?? { us: 0, calls: 0 };
    self.set(e.name, { us: cur.us + us, calls: cur.calls + 1 });
    total += us;
    if (e.name.endsWith('Backward0') && !e.name.startsWith('autograd::')) nodes.set(e.name, (nodes.get(e.name) ?? 0) + e.dur);
    if (stack.length > 0) stack[stack.length - 1]!.child += e.dur;
  }
};
for (const e of events) { close(e.ts, e.tid); stack.push({ e, child: 0 }); }
close(Infinity, -1);
const groups = new Map<string, number>();
for (const [name, v] of self) groups.set(groupOf(name), (groups.get(groupOf(name)) ?? 0) + v.us);
const share = (us: number): number => +(us / total).toFixed(3);
console.log(JSON.stringify({
  side: 'advexp', threads: getNumThreads(), batch, cpu: cpuSummary(), median_ms: ms,
  op_groups_share: Object.fromEntries([...groups].sort((p, q) => q[1] - p[1]).map(([g, us]) => [g, share(us)])),
  autograd_nodes_inclusive_share: Object.fromEntries([...nodes].sort((p, q) => q[1] - p[1]).slice(0, 8).map(([n, us]) => [n, share(us)])),
  top_ops: [...self].sort((p, q) => q[1].us - p[1].us).slice(0, 15).map(([op, v]) => ({ op, share: share(v.us), calls_per_step: Math.round(v.calls / steps) })),
}));
