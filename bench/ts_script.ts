// advexp side of the TorchScript rows (issue 12): the published robust ResNet-44 exported with torch.jit.script
// (test/fixtures/torchscript/robust_script.pt, bench/make_script_fixtures.py), run through loadScriptModule.
//   node dist/bench/ts_script.js --workload {infer,attack} --threads N [--batch B] [--iters I] [--warmup W] [--model FILE]
// Same CLI and JSON line as bench/torch_script.py, which runs the same file with torch.jit.load.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { tidy, noGrad, gradOf, rand, randint, manualSeed, setNumThreads, getNumThreads, crossEntropy } from '../src/engine/index.js';
import { loadScriptModule } from '../src/io/torchscript.js';
import { fileURLToPath } from 'node:url';

const DEFAULT_BATCH: Record<string, number> = { infer: 256, attack: 128 };
const { values: a } = parseArgs({
  options: {
    workload: { type: 'string' }, threads: { type: 'string', default: '1' }, batch: { type: 'string' },
    iters: { type: 'string', default: '10' }, warmup: { type: 'string', default: '2' }, seed: { type: 'string', default: '0' },
    model: { type: 'string' },
  },
});
const workload = a.workload ?? '';
if (!(workload in DEFAULT_BATCH)) throw new Error(`--workload must be one of ${Object.keys(DEFAULT_BATCH).join(', ')}`);
setNumThreads(Number(a.threads));
const batch = a.batch ? Number(a.batch) : DEFAULT_BATCH[workload]!;
manualSeed(Number(a.seed));
const model = loadScriptModule(a.model ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'fixtures', 'torchscript', 'robust_script.pt'));
const x = rand([batch, 3, 32, 32]);
const y = randint(0, 10, [batch]);
model.eval();
if (workload === 'attack') model.requiresGrad_(false);
const step = workload === 'infer'
  ? (): void => tidy(() => noGrad(() => { model.call(x); }))
  : (): void => tidy(() => {
    const xa = x.detach().requiresGrad_(true);
    gradOf(crossEntropy(model.call(xa), y, 'sum'), [xa]);
  });
for (let i = 0; i < Number(a.warmup); i++) step();
const iters = Math.max(1, Number(a.iters));
const t0 = performance.now(), c0 = process.cpuUsage();
for (let i = 0; i < iters; i++) step();
const dt = (performance.now() - t0) / 1000 / iters;
const c = process.cpuUsage(c0);
// CPU seconds per iteration beside wall time: on a loaded machine the wall time also counts waiting for a core.
const cpu = (c.user + c.system) / 1e6 / iters;
console.log(JSON.stringify({ workload: `script-${workload}`, threads: getNumThreads(), batch, img_per_s: batch / dt, sec_per_iter: dt, cpu_per_iter: cpu }));
