// 1,000 training steps of the Lipschitz loss (double backprop + in-place SGD) must not grow memory:
// neither JS tensor handles nor native memory (resident set size).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tidy, noGrad, gradOf, rand, randint, manualSeed, liveTensors, setNumThreads } from '../../src/engine/index.js';
import { PreActResNet } from '../../src/nn/index.js';
import { lipschitzLoss } from '../../src/train/lipschitz.js';

test('1,000 Lipschitz steps keep resident memory flat', () => {
  setNumThreads(1);
  manualSeed(0);
  const model = new PreActResNet({ depth: 8, widths: [4, 8, 8], activation: 'half-huber' }).train();
  const params = model.parameters();
  const step = (): void => tidy(() => {
    const x = rand([8, 3, 16, 16]);
    const y = randint(0, 10, [8]);
    const { loss } = lipschitzLoss(model, x, y, 220);
    const grads = gradOf(loss, params);
    noGrad(() => params.forEach((p, i) => p.add_(grads[i]!, -1e-3)));
  });
  for (let i = 0; i < 100; i++) step(); // warm up allocator caches
  if (global.gc) global.gc();
  const handles = liveTensors();
  const rss0 = process.memoryUsage().rss;
  for (let i = 0; i < 1000; i++) step();
  if (global.gc) global.gc();
  const grown = (process.memoryUsage().rss - rss0) / 2 ** 20;
  assert.equal(liveTensors(), handles, 'live tensor handles changed');
  assert.ok(grown < 16, `resident memory grew by ${grown.toFixed(1)} MiB over 1,000 steps`);
  model.dispose();
});
