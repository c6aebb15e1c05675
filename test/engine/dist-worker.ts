// One rank of the distributed engine tests (test/engine/distributed.test.ts starts two of these with torchrun's
// variables). Writes what it measured as JSON to stdout; errors go to stderr with exit code 1.
//   grad:   the mean cross-entropy gradient of its half of a fixed batch, averaged over ranks (two nets: a float64
//           conv net, a float32 PreActResNet in eval mode); also a broadcast and an allgather.
//   kill:   rank 1 dies by SIGKILL after one allreduce; rank 0 keeps reducing and reports the error it gets.
//   flight: an async allreduce whose input handles are disposed before it completes.
import {
  ProcessGroup, distributedFromEnv, tidy, tensor, crossEntropy, backward, manualSeed, rand, randint, setNumThreads,
  type Tensor,
} from '../../src/engine/index.js';
import { PreActResNet, type Module } from '../../src/nn/index.js';
import { DataParallel } from '../../src/train/distributed.js';
import { Tiny64 } from '../explain/tiny-nets.js';

/** The whole batch, the same on every rank and in the test's own process. */
export function fixedBatch(dtype: 'float32' | 'float64', n = 8): { x: Tensor; y: Tensor } {
  manualSeed(123);
  return { x: rand([n, 3, 8, 8], { dtype }), y: randint(0, 4, [n]) };
}
export function makeNets(): { name: string; net: Module; dtype: 'float32' | 'float64' }[] {
  manualSeed(7);
  const res = new PreActResNet({ depth: 8, widths: [4, 4, 8], activation: 'relu', classes: 4, inputChannels: 3 });
  res.eval();
  return [{ name: 'tiny64', net: new Tiny64(1, 4), dtype: 'float64' }, { name: 'preact-eval', net: res, dtype: 'float32' }];
}
/** A train-mode PreActResNet (batch norm on batch statistics), the same weights everywhere. */
export function trainModeNet(): PreActResNet {
  manualSeed(7);
  const res = new PreActResNet({ depth: 8, widths: [4, 4, 8], activation: 'half-huber', classes: 4, inputChannels: 3 });
  res.train();
  return res;
}

/** The gradient of the mean cross-entropy over samples [from, to) of the fixed batch, flattened per parameter. */
export function gradOfSlice(net: Module, dtype: 'float32' | 'float64', from: number, to: number): Tensor[] {
  const { x, y } = fixedBatch(dtype);
  for (const p of net.parameters()) p.grad = null;
  backward(crossEntropy(net.call(x.slice(0, from, to)), y.slice(0, from, to)));
  return net.parameters().map((p) => p.grad!);
}

async function main(): Promise<void> {
  setNumThreads(1);
  const mode = process.argv[2];
  const o = distributedFromEnv();
  if (o === null) throw new Error('dist-worker: WORLD_SIZE is not set');
  const pg = await ProcessGroup.init({ ...o, timeoutMs: Number(process.env.TEST_TIMEOUT_MS ?? 20000) });
  const out: Record<string, unknown> = { rank: pg.rank };
  if (mode === 'grad') {
    for (const { name, net, dtype } of makeNets()) {
      const half = 8 / pg.world;
      out[name] = tidy(() => {
        const grads = gradOfSlice(net, dtype, pg.rank * half, (pg.rank + 1) * half);
        pg.allreduceSync(grads, 'avg');
        return grads.map((g) => Array.from(g.data<Float64Array | Float32Array>()));
      });
    }
    // Synchronised batch norm: each rank's half in train mode, statistics over both halves; the share-weighted sum
    // of the gradients is the one-process gradient of the whole batch in train mode; so are the running statistics.
    const dp = new DataParallel(pg, { syncBatchNorm: true });
    dp.install();
    const net = trainModeNet();
    out['sync-bn'] = tidy(() => {
      const grads = gradOfSlice(net, 'float32', pg.rank * 4, (pg.rank + 1) * 4);
      for (const g of grads) g.mul_(0.5);
      pg.allreduceSync(grads, 'sum');
      return grads.map((g) => Array.from(g.data()));
    });
    out['sync-bn-running'] = net.namedBuffers().filter(([n]) => /running_(mean|var)$/.test(n)).map(([, b]) => Array.from(b.data()));
    dp.uninstall();
    out.broadcast = tidy(() => {
      const t = tensor([pg.rank + 1, 10 * (pg.rank + 1)], [2]);
      pg.broadcastSync([t], 1);
      return t.toArray();
    });
    const gathered = await pg.allgather(tidy(() => tensor([pg.rank, pg.rank * 2], [2])));
    out.allgather = gathered.map((t) => t.toArray());
    gathered.forEach((t) => t.dispose());
    out.json = pg.broadcastJson(pg.isRoot ? { hello: 'from 0' } : undefined);
    await pg.barrier();
  } else if (mode === 'flight') {
    // The handles are disposed right after the call: the collective holds its own references.
    const big = tensor(new Float32Array(300_000).fill(pg.rank + 1), [300_000]);
    const small = tensor([1, 2, 3], [3]);
    const p = pg.allreduce([big, small], 'sum');
    big.dispose();
    small.dispose();
    await p;
    out.flight = 'ok';
    await pg.barrier();
  } else if (mode === 'kill') {
    const t = tensor(new Float32Array(1000).fill(1), [1000]);
    await pg.allreduce([t]);
    if (pg.rank === 1) process.kill(process.pid, 'SIGKILL');
    const t0 = Date.now();
    try {
      for (let i = 0; i < 1000; i++) await pg.allreduce([t]);
      out.error = null;
    } catch (e) {
      out.error = (e as Error).message;
      out.seconds = (Date.now() - t0) / 1000;
    }
  } else {
    throw new Error(`dist-worker: unknown mode ${mode}`);
  }
  pg.destroy();
  process.stdout.write(JSON.stringify(out) + '\n');
}

// Run as a rank only when launched with a mode; `node --test dist/test/` also loads every file under test/, and then
// this file has nothing to do.
if (process.argv[1]?.endsWith('dist-worker.js') && process.argv[2] !== undefined) {
  main().catch((e: Error) => {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  });
}
