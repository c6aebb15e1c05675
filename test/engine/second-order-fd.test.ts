// The second-order gradient that the Lipschitz loss needs, checked against central finite
// differences in float64 on a tiny conv → batch-norm → half-Huber → conv net (the ops of the ResNet).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor, tidy, gradOf, noGrad, manualSeed, randn, rand, conv2d, batchNorm, type Tensor } from '../../src/engine/index.js';
import { halfHuber } from '../../src/nn/index.js';

function net(x: Tensor, w1: Tensor, w2: Tensor): Tensor {
  const h = halfHuber(batchNorm(conv2d(x, w1, null, { padding: 1 }), {}, true), 0.5);
  return conv2d(h, w2, null, { stride: 2, padding: 1 }).mean([2, 3]); // [B, K]
}

/** L(w) = mean(G²), G = ∂(Σ_b z_b[k_b])/∂x: the paper's penalty with a fixed class per sample. */
function penalty(x: Tensor, w1: Tensor, w2: Tensor, k: Tensor): Tensor {
  const xg = x.detach().requiresGrad_(true);
  const s = net(xg, w1, w2).gather(1, k.unsqueeze(1)).sum();
  const [g] = gradOf(s, [xg], { createGraph: true });
  return g!.square().mean();
}

test('double backprop matches finite differences (float64)', () => tidy(() => {
  manualSeed(3);
  const x = rand([3, 2, 6, 6], { dtype: 'float64' });
  const k = tensor([0, 2, 1], [3], { dtype: 'int64' });
  const w1 = randn([4, 2, 3, 3], { dtype: 'float64' }).mul(0.5).requiresGrad_(true);
  const w2 = randn([3, 4, 3, 3], { dtype: 'float64' }).mul(0.5).requiresGrad_(true);
  const [g1, g2] = gradOf(penalty(x, w1, w2, k), [w1, w2]);
  assert.ok(g2!.abs().sum().item() > 0, 'second-order gradient must not vanish');
  const eps = 1e-6;
  for (const [w, g] of [[w1, g1!], [w2, g2!]] as const) {
    const analytic = g.data<Float64Array>();
    const flat = noGrad(() => w.detach().clone());
    const n = flat.size;
    for (const i of [0, 5, Math.floor(n / 2), n - 1]) {
      const at = (delta: number): number => tidy(() => {
        const v = flat.data<Float64Array>();
        v[i]! += delta;
        const wp = tensor(v, w.shape);
        return w === w1 ? penalty(x, wp, w2.detach(), k).item() : penalty(x, w1.detach(), wp, k).item();
      });
      const fd = (at(eps) - at(-eps)) / (2 * eps);
      const err = Math.abs(fd - analytic[i]!) / Math.max(Math.abs(fd), 1e-8);
      assert.ok(err < 1e-5, `weight ${i}: finite difference ${fd} vs autograd ${analytic[i]} (rel ${err})`);
    }
  }
}));
