// The fused batch norm and half-Huber (native/src/fused.cc) against the composite ATen ops they replace, at every
// level the Lipschitz loss uses (forward, backward, double backward), in float64; the fused double backprop also
// against central finite differences, independently of either implementation. golden.json's second-order gradients
// go through the fused layers in test/nn/parity.test.ts (the default path).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  tensor, tidy, grad, gradOf, noGrad, manualSeed, randn, rand, conv2d, batchNorm, fusedBatchNorm, fusedHalfHuber, zeros, ones,
  setFusedOps, type Tensor,
} from '../../src/engine/index.js';
import { halfHuber, halfHuberComposite } from '../../src/nn/index.js';
import { assertAllClose } from '../helpers/close.js';

const F64 = { dtype: 'float64' } as const;
const TIGHT = { rtol: 1e-12, atol: 1e-14 };

interface BnParams { weight: Tensor; bias: Tensor; runningMean: Tensor; runningVar: Tensor }
function bnParams(c: number): BnParams {
  return {
    weight: randn([c], F64).mul(0.5).add(1).requiresGrad_(true), bias: randn([c], F64).mul(0.3).requiresGrad_(true),
    runningMean: randn([c], F64).mul(0.2), runningVar: rand([c], F64).add(0.5),
  };
}
const bnCopy = (p: BnParams): BnParams => noGrad(() => ({
  weight: p.weight.detach().clone().requiresGrad_(true), bias: p.bias.detach().clone().requiresGrad_(true),
  runningMean: p.runningMean.clone(), runningVar: p.runningVar.clone(),
}));

/** Every gradient the double backprop can produce through one batch norm: the first backward's (gx, gw, gb) given
 * an upstream r, then a scalar of them (random weights, all three used) differentiated w.r.t. x, w, b and r. */
function bnSecondOrder(bn: typeof batchNorm | typeof fusedBatchNorm, x0: Tensor, p: BnParams, training: boolean,
  r0: Tensor, q: [Tensor, Tensor, Tensor]): Tensor[] {
  const x = x0.detach().clone().requiresGrad_(true);
  const r = r0.detach().clone().requiresGrad_(true);
  const y = bn(x, p as Required<BnParams>, training, 0.1, 1e-5);
  const [gx, gw, gb] = gradOf(y.mul(r).sum(), [x, p.weight, p.bias], { createGraph: true });
  const l = gx!.mul(q[0]).sum().add(gx!.square().sum()).add(gw!.mul(q[1]).sum()).add(gb!.mul(q[2]).sum());
  const out = grad(l, [x, p.weight, p.bias, r], { allowUnused: true });
  return [y, gx!, gw!, gb!, ...out.map((g) => g ?? zeros([1], F64))];
}

for (const training of [true, false]) {
  test(`fused batch norm (${training ? 'train' : 'eval'} mode) equals the composite at every order (float64)`, () => tidy(() => {
    manualSeed(11);
    const x = randn([4, 3, 5, 6], F64).mul(2).add(0.7);
    const r = randn([4, 3, 5, 6], F64);
    const q: [Tensor, Tensor, Tensor] = [randn([4, 3, 5, 6], F64), randn([3], F64), randn([3], F64)];
    const p = bnParams(3), p2 = bnCopy(p);
    const want = bnSecondOrder(batchNorm, x, p, training, r, q);
    const got = bnSecondOrder(fusedBatchNorm, x, p2, training, r, q);
    const names = ['y', 'gx', 'gw', 'gb', 'd/dx', 'd/dw', 'd/db', 'd/dr'];
    got.forEach((g, i) => assertAllClose(g.data(), want[i]!.data(), TIGHT, `${names[i]}`));
    assertAllClose(p2.runningMean.data(), p.runningMean.data(), TIGHT, 'running mean');
    assertAllClose(p2.runningVar.data(), p.runningVar.data(), TIGHT, 'running var');
    assert.ok(want[4]!.abs().sum().item() > 0 && want[5]!.abs().sum().item() > 0, 'second-order gradients must not vanish');
  }));
}

test('fused batch norm without running statistics (training, as statisticsFrozen runs it) equals the composite', () => tidy(() => {
  manualSeed(12);
  const x = randn([3, 2, 4, 5], F64), r = randn([3, 2, 4, 5], F64);
  const q: [Tensor, Tensor, Tensor] = [randn([3, 2, 4, 5], F64), randn([2], F64), randn([2], F64)];
  const p = bnParams(2), p2 = bnCopy(p);
  const none = (b: BnParams): BnParams => ({ ...b, runningMean: null as unknown as Tensor, runningVar: null as unknown as Tensor });
  const want = bnSecondOrder(batchNorm, x, none(p), true, r, q), got = bnSecondOrder(fusedBatchNorm, x, none(p2), true, r, q);
  got.forEach((g, i) => assertAllClose(g.data(), want[i]!.data(), TIGHT, `output ${i}`));
  assert.throws(() => fusedBatchNorm(x, none(p2), false), /eval mode needs the running statistics/);
}));

test('fused half-Huber equals the composite: values bit for bit (float32), derivatives of every order (float64)', () => tidy(() => {
  const golden = [-1, -0.1, 0, 0.1, 0.25, 0.5, 0.75, 1, 2];
  assert.deepEqual([...fusedHalfHuber(tensor(golden, [9]), 0.5).data()].map((v) => Math.round(v * 1e6) / 1e6), [0, 0, 0, 0.01, 0.0625, 0.25, 0.5, 0.75, 1.75]);
  manualSeed(5);
  const x32 = randn([1000]).mul(0.6).add(0.2);
  assert.deepEqual([...fusedHalfHuber(x32, 0.5).data()], [...halfHuberComposite(x32, 0.5).data()]);
  // Points at the kinks (0 and d) included: both paths treat them alike.
  const x = tensor([...golden, ...randn([200], F64).mul(0.6).add(0.2).data()], [209], F64);
  const r = randn([209], F64), q = randn([209], F64);
  const orders = (f: (t: Tensor) => Tensor): Tensor[] => {
    const xg = x.clone().requiresGrad_(true), rg = r.clone().requiresGrad_(true);
    const y = f(xg);
    const [gx] = gradOf(y.mul(rg).sum(), [xg], { createGraph: true });
    const l = gx!.mul(q).sum().add(gx!.square().sum());
    const [dx, dr] = gradOf(l, [xg, rg], { createGraph: true });
    const [ddx] = gradOf(dx!.square().sum().add(dr!.square().sum()), [xg]); // third order: the ATen fallback
    return [y, gx!, dx!, dr!, ddx!];
  };
  const want = orders((t) => halfHuberComposite(t, 0.5)), got = orders((t) => fusedHalfHuber(t, 0.5));
  ['f', "f'", 'd/dx', 'd/dr', 'third order'].forEach((n, i) => assertAllClose(got[i]!.data(), want[i]!.data(), TIGHT, n));
}));

test('fused batch norm (training mode) refuses a graph of its second-order gradients (third order) with a clear message', () => tidy(() => {
  const x = randn([2, 2, 3, 3], F64).requiresGrad_(true);
  const p = bnParams(2);
  const [gx] = gradOf(fusedBatchNorm(x, p, true).square().sum(), [x], { createGraph: true });
  assert.throws(() => gradOf(gx!.square().sum(), [x], { createGraph: true }), /third-order gradients are not supported/);
  assert.ok(gradOf(gx!.square().sum(), [x])[0]!.abs().sum().item() > 0, 'second order without a graph of its own works');
}));

function net(x: Tensor, w1: Tensor, w2: Tensor, p: BnParams): Tensor {
  const h = halfHuber(fusedBatchNorm(conv2d(x, w1, null, { padding: 1 }), p, true), 0.5);
  return conv2d(h, w2, null, { stride: 2, padding: 1 }).mean([2, 3]);
}

test('fused double backprop matches finite differences (float64, conv → BN → half-Huber → conv)', () => tidy(() => {
  const prev = setFusedOps(true);
  try {
    manualSeed(3);
    const x = rand([3, 2, 6, 6], F64);
    const k = tensor([0, 2, 1], [3], { dtype: 'int64' });
    const w1 = randn([4, 2, 3, 3], F64).mul(0.5).requiresGrad_(true);
    const w2 = randn([3, 4, 3, 3], F64).mul(0.5).requiresGrad_(true);
    const p: BnParams = { weight: randn([4], F64).mul(0.3).add(1).requiresGrad_(true), bias: randn([4], F64).mul(0.2).add(0.3).requiresGrad_(true), runningMean: zeros([4], F64), runningVar: ones([4], F64) };
    const penalty = (a: Tensor, b: Tensor, bw: Tensor, bb: Tensor): Tensor => {
      const xg = x.detach().requiresGrad_(true);
      const s = net(xg, a, b, { ...p, weight: bw, bias: bb }).gather(1, k.unsqueeze(1)).sum();
      const [g] = gradOf(s, [xg], { createGraph: true });
      return g!.square().mean();
    };
    const params = [w1, w2, p.weight, p.bias];
    const analytic = gradOf(penalty(w1, w2, p.weight, p.bias), params);
    const eps = 1e-6;
    params.forEach((w, j) => {
      const a = analytic[j]!.data<Float64Array>();
      assert.ok(analytic[j]!.abs().sum().item() > 0, `gradient ${j} must not vanish`);
      const n = w.size;
      for (const i of new Set([0, 1, Math.floor(n / 2), n - 1])) {
        const at = (delta: number): number => tidy(() => {
          const v = noGrad(() => w.detach().clone()).data<Float64Array>();
          v[i]! += delta;
          const args = params.map((t) => t.detach());
          args[j] = tensor(v, w.shape);
          return penalty(args[0]!, args[1]!, args[2]!, args[3]!).item();
        });
        const fd = (at(eps) - at(-eps)) / (2 * eps);
        const err = Math.abs(fd - a[i]!) / Math.max(Math.abs(fd), 1e-8);
        assert.ok(err < 1e-5, `parameter ${j} element ${i}: finite difference ${fd} vs fused autograd ${a[i]} (rel ${err})`);
      }
    });
  } finally {
    setFusedOps(prev);
  }
}));
